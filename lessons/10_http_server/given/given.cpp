// Lesson 10, given: the server's routes and serve(), around your listener
// (declared in lesson.hpp). Compiled once, beside your exercise.cpp, so
// that saving it recompiles only your code.
#include "lesson.hpp"

#include <memory>
#include <utility>
#include <vector>

namespace lesson10 {

namespace {

// The routes: GET / (the first endpoint of lesson 11's web app) and yours.
std::vector<web::route> routes() {
  return {
      {"GET", "/",
       [](web::request_context&) -> asio::awaitable<http::response> {
         co_return http::json(200, R"({"hello": "Asyncio"})");
       }},
      {"GET", "/sleep",
       [](web::request_context& ctx) { return handle_sleep(ctx.request()); }},
  };
}

}  // namespace

asio::awaitable<void> serve(web::config cfg, web::server_stats& stats) {
  auto srv = std::make_shared<server>(co_await asio::this_coro::executor,
                                      std::move(cfg), stats, routes());
  co_await web::serve_until_cancelled(*srv, listener);
}

}  // namespace lesson10
