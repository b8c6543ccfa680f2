// Taught in lesson 10 (an HTTP server): the accept loop, a coroutine per
// connection, request after request on it, the watchdog it races, and
// /sleep, the first endpoint that awaits. Written once, for the lessons
// that build on lesson 10's server (lesson 11's web app). The code is the
// reference solution's: read it after you have passed lesson 10.
//
//   auto srv = std::make_shared<web::server>(ex, cfg, stats, routes);
//   co_await web::keep_listening(*srv, web::listener);
#pragma once

#include "common/server.hpp"

namespace common::web {

// GET /sleep?ms=N (0 to 10000, 100 if absent): waits N ms on the loop, then
// answers {"slept_ms": N}.
awaitable<http::response> handle_sleep(const http::request& req);

// Answers the requests of one connection in order, until the client closes
// it, asks to, or sends something malformed.
awaitable<void> handle_requests(server& srv, connection& c);

// Returns once c.deadline has passed.
awaitable<void> watchdog(server& srv, connection& c);

// One connection's coroutine: its requests, raced against its watchdog.
awaitable<void> serve_connection(server& srv, tcp::socket socket);

// Takes connections in, a coroutine each, until the acceptor is closed or
// this is cancelled; one over the cap gets 503.
awaitable<void> listener(server& srv);

}  // namespace common::web
