// Lesson 10's server (serve.hpp), as its reference solution writes it.
#include "common/serve.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <string>

namespace common::web {

using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

awaitable<http::response> handle_sleep(const http::request& req) {
  long ms = 100;
  if (auto text = http::query_value(req.query, "ms")) {
    auto n = http::to_number(*text);
    if (!n || *n > 10'000)
      co_return http::json_error(400, "ms must be from 0 to 10000");
    ms = *n;
  }
  co_await tut::sleep(std::chrono::milliseconds(ms));
  co_return http::json(200, R"({"slept_ms": )" + std::to_string(ms) + "}");
}

awaitable<void> handle_requests(server& srv, connection& c) {
  for (;;) {
    auto parsed = http::parse_request(c.buffer, srv.cfg.limits);
    if (parsed.status == http::parse_status::incomplete) {
      if (!co_await read_more(srv, c)) co_return;
      continue;
    }
    if (!co_await respond(srv, c, parsed)) co_return;
    c.buffer.erase(0, parsed.consumed);  // a pipelined request may follow
  }
}

awaitable<void> watchdog(server& srv, connection& c) {
  for (auto now = tut::now(); c.deadline > now; now = tut::now()) {
    c.timer.expires_at(std::min(c.deadline, now + srv.cfg.idle_timeout));
    co_await c.timer.async_wait(as_tuple(use_awaitable));
  }
}

awaitable<void> serve_connection(server& srv, tcp::socket socket) {
  connection c(srv, std::move(socket));
  co_await (handle_requests(srv, c) || watchdog(srv, c));
}

awaitable<void> listener(server& srv) {
  for (;;) {
    auto socket = co_await srv.acceptor.async_accept(use_awaitable);
    if (srv.connections.size() >= srv.cfg.max_connections) {
      turn_away(srv, socket);
      continue;
    }
    co_spawn(srv.executor, serve_connection(srv, std::move(socket)), detached);
  }
}

}  // namespace common::web
