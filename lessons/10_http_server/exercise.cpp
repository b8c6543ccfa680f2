// Lesson 10: an HTTP server on one loop. An accept loop takes connections
// in and gives each a coroutine of its own; that coroutine answers request
// after request on its connection (keep-alive), and races a watchdog that
// cuts off a client too slow to send its request or idle too long. Endpoints
// that wait, wait on the loop: a thousand clients asking /sleep?ms=100 at
// once are a thousand sleeping coroutines.
//
// Given, in lessons/common/server.hpp: the server's state, reading
// (read_more), answering a request (respond: the routes, the handlers, the
// reply), turning a connection away (turn_away). Fill in the TODOs, task by
// task; `scripts/tutor` grades each one as you save, and `scripts/tutor run
// 10` starts your server and talks to it.
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
  // TODO: wait `ms` milliseconds without holding the loop: the loop's own
  // sleep (tut::sleep, asyncio.sleep's twin) suspends only this coroutine,
  // so other clients are answered meanwhile. Then answer 200 with the JSON
  // {"slept_ms": N}; http::json makes a reply of a status and a body.
  co_return http::json_error(
      501, "/sleep?ms=" + std::to_string(ms) + " is not written yet");
}

// ---- Task 2: one connection, request after request -----------------------

awaitable<void> handle_requests(server& srv, connection& c) {
  // TODO: a loop, one turn per request. Parse what c.buffer holds
  // (http::parse_request, with srv.cfg.limits); while the request is
  // incomplete, read_more and parse again (read_more says false when the
  // client has gone: stop then). A parsed request (or the error
  // parse_request found) goes to respond, which answers it and says whether
  // the connection goes on. Before the next turn, take that request's bytes
  // off the front of c.buffer, and only those (parsed.consumed): the client
  // may have sent its next request already (pipelining).
  co_return;
}

// ---- Task 5: the watchdog -------------------------------------------------

awaitable<void> watchdog(server& srv, connection& c) {
  // TODO: wait on c.timer until c.deadline has passed, then return. The
  // deadline moves while you wait (read_more and respond set it; a handler
  // at work lifts it to time_point::max()), so wake at least every
  // srv.cfg.idle_timeout and look again. c.timer.cancel() wakes you too
  // (shutdown does that): await the timer with as_tuple, so that a wake-up
  // is a value to look at, not an exception.
  co_return;
}

// ---- Tasks 2 and 5: a connection's coroutine ------------------------------

awaitable<void> serve_connection(server& srv, tcp::socket socket) {
  connection c(srv, std::move(socket));  // counted in srv while it lives
  // TODO (task 5): a client that never finishes its request keeps this
  // connection, and its memory, forever. Race the requests against the
  // watchdog with the || operator: whichever ends first, the other is
  // cancelled.
  co_await handle_requests(srv, c);
}

// ---- Tasks 3 and 4: the accept loop ---------------------------------------

awaitable<void> listener(server& srv) {
  for (;;) {
    auto socket = co_await srv.acceptor.async_accept(use_awaitable);
    // TODO (task 4): when srv.connections already holds
    // srv.cfg.max_connections, turn this one away (turn_away answers 503)
    // and accept the next.
    //
    // TODO (task 3): awaiting the connection here serves one client at a
    // time: the next is accepted only once this one has gone. Give each
    // connection a coroutine of its own with co_spawn (on srv.executor,
    // detached) and go back to accepting at once.
    co_await serve_connection(srv, std::move(socket));
  }
}

}  // namespace lesson10
