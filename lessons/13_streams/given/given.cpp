// Lesson 13, given: the streaming server's routes, serve(), and
// client_gone (declared in lesson.hpp). Compiled once, beside your
// exercise.cpp, so that saving it recompiles only your code. The server is
// lesson 10's, as lessons/common has it (serve.hpp, server.hpp).
#include "lesson.hpp"

#include "common/serve.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <memory>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace lesson13 {

awaitable<void> client_gone(web::request_context& ctx) {
  auto& socket = ctx.socket();
  asio::error_code ignored;
  socket.non_blocking(true, ignored);  // the peek below must never wait
  for (;;) {
    // Readable: bytes have come, or the end of the stream (the client
    // closed), or an error (it reset the connection).
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read,
                                           as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) throw asio::system_error(ec);
    if (ec) co_return;
    char byte;
    asio::error_code peeked;
    auto n = socket.receive(asio::buffer(&byte, 1),
                            tcp::socket::message_peek, peeked);
    if (peeked == asio::error::would_block) continue;
    if (peeked || n == 0) co_return;  // reset, or closed
    // The client sent something (its next request, pipelined): it is still
    // there, and this cannot tell when it leaves. Wait to be cancelled.
    tut::timer never(socket.get_executor(), tut::clock::time_point::max());
    co_await never.async_wait(use_awaitable);
  }
}

namespace {

std::vector<web::route> routes(upstream::fake_api& api) {
  using ctx_t = web::request_context;
  return {
      {"GET", "/",
       [](ctx_t&) -> awaitable<http::response> {
         co_return http::json(200, R"({"hello": "Asyncio"})");
       }},
      {"GET", "/items",
       [&api](ctx_t& ctx) -> awaitable<http::response> {
         if (ctx.request().method == "HEAD") {  // the head alone: no fetch
           auto head = upstream::event_stream_head();
           head.chunked = true;
           co_return head;
         }
         auto ex = co_await asio::this_coro::executor;
         co_return co_await handle_items(ctx, paginated(ex, api));
       }},
  };
}

}  // namespace

awaitable<void> serve(upstream::feed_config cfg, upstream::feed_stats& stats) {
  auto ex = co_await asio::this_coro::executor;
  upstream::fake_api api(ex, cfg.api, &stats.api);
  auto srv = std::make_shared<web::server>(ex, std::move(cfg.server), stats,
                                           routes(api));
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  // Whichever comes first, the other is cancelled: a signal ends the
  // server, which closes its connections and waits for them to end.
  co_await (web::serve_until_cancelled(*srv, web::listener) ||
            signals.async_wait(as_tuple(use_awaitable)));
  auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none)
    throw asio::system_error(asio::error::operation_aborted, "serve");
}

}  // namespace lesson13
