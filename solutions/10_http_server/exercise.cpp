// Lesson 10: an HTTP server on one loop. An accept loop takes connections
// in and gives each a coroutine of its own; that coroutine answers request
// after request on its connection (keep-alive), and races a watchdog that
// cuts off a client too slow to send its request or idle too long. Endpoints
// that wait, wait on the loop: a thousand clients asking /sleep?ms=100 at
// once are a thousand sleeping coroutines.
//
// Given, in lessons/common/server.hpp: the server's state, reading
// (read_more), answering a request (respond: the routes, the handlers, the
// reply), turning a connection away (turn_away).
//
// Reference solution: a coroutine per connection, spawned, never awaited;
// every wait on the loop, and each connection raced against its watchdog.
#include "lesson.hpp"

#include <algorithm>
#include <string>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson10 {

// ---- Task 1: an endpoint that waits ---------------------------------------

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

// ---- Task 2: one connection, request after request -----------------------

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

// ---- Task 5: the watchdog -------------------------------------------------

awaitable<void> watchdog(server& srv, connection& c) {
  for (auto now = tut::now(); c.deadline > now; now = tut::now()) {
    c.timer.expires_at(std::min(c.deadline, now + srv.cfg.idle_timeout));
    co_await c.timer.async_wait(as_tuple(use_awaitable));
  }
}

// ---- Tasks 2 and 5: a connection's coroutine ------------------------------

awaitable<void> serve_connection(server& srv, tcp::socket socket) {
  connection c(srv, std::move(socket));  // counted in srv while it lives
  co_await (handle_requests(srv, c) || watchdog(srv, c));
}

// ---- Tasks 3 and 4: the accept loop ---------------------------------------

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

}  // namespace lesson10
