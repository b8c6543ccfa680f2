// Lesson 12, given: a small app whose endpoints need a database
// connection, each behind your with_dependency (task 8), and serve(). It
// is FastAPI's
//
//     @app.get("/items/{item_id}")
//     async def read_item(item_id: int, conn = Depends(get_conn)): ...
//
// on lesson 10's server (lessons/common/serve.hpp). Compiled once, beside
// your exercise.cpp, so that saving it recompiles only your code.
#include "lesson.hpp"

#include "common/serve.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lesson12 {

namespace {

using asio::awaitable;

// GET /items/{id}: one row, read on the connection the dependency gave.
awaitable<http::response> read_item(web::request_context& ctx,
                                    connection& conn) {
  auto id = http::to_number(ctx.param());
  if (!id) co_return http::json_error(400, "an item is a number");
  auto row = co_await conn.query("SELECT name FROM items WHERE id = $1");
  co_return http::json(
      200, fmt::format(R"({{"item": {}, "row": "{}", "connection": {}}})", *id,
                       http::json_escape(row), conn.id()));
}

// GET /fail: a query the database refuses. The endpoint throws: the client
// gets 500, and the connection is fine.
awaitable<http::response> refused(web::request_context&, connection& conn) {
  co_await conn.query("FAIL: SELECT * FROM no_such_table");
  co_return http::json(200, R"({"unreachable": true})");
}

// GET /crash: the network drops the connection while its query runs. The
// endpoint throws (500), and the connection is broken.
awaitable<http::response> dropped(web::request_context&, connection& conn) {
  conn.sever();
  co_await conn.query("SELECT name FROM items");
  co_return http::json(200, R"({"unreachable": true})");
}

// GET /slow?ms=N (0 to 10000, 100 when absent): a query that takes N ms.
awaitable<http::response> slow(web::request_context& ctx, connection& conn) {
  long ms = 100;
  if (auto text = http::query_value(ctx.request().query, "ms")) {
    auto n = http::to_number(*text);
    if (!n || *n > 10'000)
      co_return http::json_error(400, "ms must be from 0 to 10000");
    ms = *n;
  }
  co_await conn.query("SELECT pg_sleep($1)", std::chrono::milliseconds(ms));
  co_return http::json(
      200, fmt::format(R"({{"slept_ms": {}, "connection": {}}})", ms,
                       conn.id()));
}

// GET /export?kb=N (1 to 65536, 2048 when absent): a report of N KiB made
// from the connection. The server keeps little of it in the kernel's send
// buffer, so the reply goes at the client's pace, as a large reply does to
// a slow client across a real network.
awaitable<http::response> export_report(web::request_context& ctx,
                                        connection& conn) {
  long kb = 2048;
  if (auto text = http::query_value(ctx.request().query, "kb")) {
    auto n = http::to_number(*text);
    if (!n || *n < 1 || *n > 65'536)
      co_return http::json_error(400, "kb must be from 1 to 65536");
    kb = *n;
  }
  auto row = co_await conn.query("SELECT * FROM report");
  asio::error_code ignored;
  ctx.socket().set_option(asio::socket_base::send_buffer_size(64 * 1024),
                          ignored);
  http::response res;
  res.content_type = "text/csv";
  res.body.reserve(kb * 1024);
  std::string line = row + "\n";
  while (res.body.size() + line.size() <= static_cast<std::size_t>(kb) * 1024)
    res.body += line;
  res.body.resize(kb * 1024, '\n');
  co_return res;
}

std::vector<web::route> routes(connection_pool& pool) {
  auto behind = [&pool](endpoint run) -> web::handler {
    return [&pool, run = std::move(run)](web::request_context& ctx) {
      return with_dependency(pool, run, ctx);
    };
  };
  return {
      {"GET", "/items/{id}", behind(read_item)},
      {"GET", "/fail", behind(refused)},
      {"GET", "/crash", behind(dropped)},
      {"GET", "/slow", behind(slow)},
      {"GET", "/export", behind(export_report)},
  };
}

}  // namespace

awaitable<void> serve(web::config cfg, connection_pool& pool,
                      web::server_stats& stats) {
  auto srv = std::make_shared<web::server>(co_await asio::this_coro::executor,
                                           std::move(cfg), stats, routes(pool));
  co_await web::serve_until_cancelled(*srv, web::listener);
}

}  // namespace lesson12
