// Lesson 10's interface: what your exercise.cpp defines, and serve(), which
// the tests start (given, in given/given.cpp). The tests call handle_sleep
// directly, and talk to the server the way any client does: over sockets
// on 127.0.0.1.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson10) and once for the reference, renamed to
// lesson10_reference, so both can run side by side.
#include "common/server.hpp"
#include "tut/tut.hpp"

namespace lesson10 {

// The server's parts you use, given in lessons/common/server.hpp: its
// state (server, connection), read_more, respond, turn_away.
namespace http = common::http;
namespace web = common::web;
using web::connection;
using web::server;
using asio::ip::tcp;

// Task 1. GET /sleep?ms=N: waits N ms (0 to 10000; 100 when absent) on the
// loop, then answers 200 {"slept_ms": N}; a bad N gets 400.
asio::awaitable<http::response> handle_sleep(const http::request& req);

// Task 2. Answers the requests of one connection in order, until the
// client closes it, asks to ("Connection: close"), or sends something
// malformed.
asio::awaitable<void> handle_requests(server& srv, connection& c);

// Task 5. Returns once c.deadline has passed.
asio::awaitable<void> watchdog(server& srv, connection& c);

// Tasks 2 and 5. One connection's coroutine.
asio::awaitable<void> serve_connection(server& srv, tcp::socket socket);

// Tasks 3 and 4. Takes connections in until the acceptor is closed or this
// is cancelled.
asio::awaitable<void> listener(server& srv);

// Given. Serves HTTP on cfg.address:cfg.port (port 0: any free port,
// reported in stats.port once listening): GET / and GET /sleep, with your
// listener, until cancelled; then closes every connection, waits for them
// to end, and throws operation_aborted.
asio::awaitable<void> serve(web::config cfg, web::server_stats& stats);

}  // namespace lesson10
