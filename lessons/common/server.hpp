// Given in lesson 10, and the ground lesson 11's web app stands on: an
// HTTP/1.1 server's state, and the parts of it that are not lesson 10's
// tasks: reading a request, answering it (routes, HEAD, 404/405/501, the
// body when a handler asks for it, 100 Continue, the reply), turning away a
// connection over the cap, and what shutdown needs. What lesson 10 teaches
// (the accept loop, a coroutine per connection, request after request on
// it, its watchdog, /sleep) is in common/serve.hpp, written once.
//
// A route handler is a coroutine: it gets the request and returns the reply.
// The server is made with std::make_shared (its connections keep it alive).
//
//   web::route hello{"GET", "/", [](web::request_context&)
//       -> asio::awaitable<http::response> {
//     co_return http::json(200, R"({"hello": "Asyncio"})");
//   }};
//
// A route's pattern may hold one {name}, which stands for one non-empty
// path segment (ctx.param()). A GET route answers HEAD too: the same head,
// no body (RFC 9110, 9.3.2).
//
// Three doors for what a handler may need besides a reply in one piece
// (later lessons: streaming responses, WebSockets, resources released after
// the response):
//
//  1. Writing the reply itself, in pieces: co_await ctx.send_head(head)
//     sends the head of a chunked reply (Transfer-Encoding: chunked), then
//     co_await ctx.send(bytes) sends each piece as a chunk, and when the
//     handler returns the server ends the body, so the connection can carry
//     the next request (what the handler returns is ignored once the head
//     has gone). An HTTP/1.0 client gets the pieces as they are, and the
//     connection closes after them. A piece that cannot be written throws
//     (the client has gone); the connection then ends.
//
//  2. Taking the connection over after the head (an upgrade): co_await
//     ctx.take_over(head) sends `head` (a 101 Switching Protocols, say) and
//     hands over ctx.socket(); ctx.leftover() holds what the client sent
//     after the request (the new protocol's first bytes).
//     The connection is the handler's until it returns; then the server
//     closes it. Its watchdog no longer times it out, but shutdown still
//     ends it: at the shutdown deadline (close_connections) the handler is
//     cancelled where it waits.
//
//  3. Cleanup once the reply is written: ctx.on_finish(f) runs f(ending)
//     after the reply has gone out (ending::sent), after a handler threw
//     (ending::failed: a 500 went out, or the connection closed), or when
//     the client went away or the connection was cancelled first
//     (ending::gone). Each f runs once, the last registered first, on the
//     loop; it must not throw (an async release can be co_spawned from it).
//
// (g++ 12 mishandles a temporary made with braces inside a co_await
// expression, such as co_await ctx.send_head(http::response{...}): it is
// freed twice. Make the head a local variable first.)
//
// A request's body is read when its handler asks (co_await ctx.body()), as
// FastAPI's `await request.body()`: a client that sent "Expect:
// 100-continue" gets "100 Continue" then, and a handler that refuses the
// request first (400, 401, 413) answers without reading it (the connection
// then closes, since the body may still come).
#pragma once

#include "common/http.hpp"
#include "tut/tut.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace common::web {

namespace http = common::http;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct server;
using listener_fn = awaitable<void> (*)(server&);

struct config {
  std::string address = "127.0.0.1";
  unsigned short port = 0;                 // 0: any free port (stats.port)
  std::size_t max_connections = 16'384;    // more are answered 503
  tut::clock::duration idle_timeout = 5s;  // for a whole request to come,
                                           // and between two requests
  http::limits limits{};                   // 431 for heads, 413 for bodies
  // An accept loop of the benchmark's own, run by keep_listening in place
  // of the one it is given (scripts/peers/lesson_server.cpp says why);
  // none in the lessons.
  listener_fn accept_loop = nullptr;
};

// What the server reports while it runs. Atomics: whoever runs the server
// (a test, say) reads them from another thread.
struct server_stats {
  std::atomic<unsigned short> port{0};  // set once it listens
  std::atomic<int> connections{0};      // open now
  std::atomic<int> peak_connections{0};
  std::atomic<int> in_flight{0};        // requests being handled now
  std::atomic<int> peak_in_flight{0};
  std::atomic<long> requests{0};        // answered so far
  std::atomic<int> refused{0};          // turned away at max_connections
};

class request_context;
using handler = std::function<awaitable<http::response>(request_context&)>;

struct route {
  std::string method;   // "GET"
  std::string pattern;  // "/dashboard/{user_id}"
  handler run;
};

// One client's connection, alive while its coroutine runs: it is counted
// in the server (srv.connections, stats.connections) from the moment it is
// made until it is destroyed, which closes the socket.
struct connection {
  connection(server& srv, tcp::socket socket);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  std::shared_ptr<server> srv;  // the server outlives its connections
  tcp::socket socket;
  std::string buffer;  // bytes received and not answered yet
  std::string head;    // the head of the reply being written
  // The watchdog ends the connection once this has passed. read_more sets
  // it when a request begins (it must all come by then), a reply sets it
  // (the next request must come by then), and it is lifted
  // (time_point::max()) while a handler works. Shutdown moves it to now.
  tut::clock::time_point deadline = tut::clock::time_point::max();
  // The watchdog's timer. Its cancel() wakes the watchdog early, to look at
  // `deadline` again (shutdown does this).
  tut::timer timer;
  bool idle = false;  // waiting for the first byte of a new request
  std::list<connection*>::iterator self;
};

struct server : std::enable_shared_from_this<server> {
  // Listens on cfg.address:cfg.port (and says which port in stats.port).
  server(asio::any_io_executor ex, config cfg, server_stats& s,
         std::vector<route> routes);

  config cfg;
  server_stats& stats;
  asio::any_io_executor executor;  // the loop
  tcp::acceptor acceptor;
  std::vector<route> routes;
  std::list<connection*> connections;
  bool stopping = false;  // shutting down: finish what is under way, take
                          // no new request
  tut::timer changed;     // rings when a connection ends
};

// ---- Reading requests and answering them ----------------------------------

// Reads more bytes into c.buffer. False when the client has gone, the read
// failed, or the server is stopping and no request is under way here. A
// new request's time starts with its first read: it must be all there by
// c.deadline.
awaitable<bool> read_more(server& srv, connection& c);

// Answers one request whose head has come (parse_request said complete):
// finds its route and runs the handler, writes the reply (only its head for
// HEAD) and runs the handler's cleanups. For a request parse_request
// rejected (error), answers its error_status and returns false. True when
// the connection can carry another request: the reply went out, the client
// keeps the connection, and the server is not stopping; the request's
// bytes (parsed.consumed of them) are then all in c.buffer.
awaitable<bool> respond(server& srv, connection& c,
                        const http::parse_result& parsed);

// Answers 503 to a connection over the cap (cfg.max_connections) and
// closes it.
void turn_away(server& srv, tcp::socket& socket);

// ---- Running a listener ---------------------------------------------------

// Runs `listener(srv)` until it returns or is cancelled. The plain accept
// loop of Asio's examples ends at its first error; an accept can fail for a
// while (out of file descriptors), so it is started again 20 ms later.
// srv.cfg.accept_loop, when set (the benchmark), runs instead of listener.
awaitable<void> keep_listening(server& srv, listener_fn listener);

// keep_listening until cancelled; then closes every connection, waits for
// them to end, and throws operation_aborted (lesson 10's serve()).
awaitable<void> serve_until_cancelled(server& srv, listener_fn listener);

// ---- What shutdown needs --------------------------------------------------

// Ends the connections that wait for a new request, now. The others finish
// the request they are on, then close (read_more and respond look at
// srv.stopping).
void close_idle_connections(server& srv);

// Ends every connection now: each watchdog wakes and finds its deadline
// passed, and the handlers are cancelled where they wait.
void close_connections(server& srv);

// Returns once every connection has ended.
awaitable<void> connections_closed(server& srv);

// ---- What a handler sees --------------------------------------------------

// How a request ended, for its cleanups (door 3).
enum class ending { sent, failed, gone };

class request_context {
public:
  request_context(server& srv, connection& c, const http::parse_result& p,
                  std::string_view param);
  ~request_context();  // runs the cleanups left (ending::gone)
  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  server& srv;
  connection& conn;

  // The request's head; its body once body() has it. The views point into
  // conn.buffer: they live until the reply is written.
  const http::request& request() const { return req_; }
  // What the route's {name} matched.
  std::string_view param() const { return param_; }

  // The whole body (FastAPI's `await request.body()`). A client that asked
  // for "100 Continue" is told to send it now. It must come within the
  // request's time (the watchdog's deadline); a client that goes away first
  // makes this throw asio::system_error (eof).
  awaitable<std::string_view> body();

  // Door 1: the reply in pieces (see the top of this file).
  awaitable<void> send_head(const http::response& head);
  awaitable<void> send(std::string_view piece);

  // Door 2: the connection, taken over after `head`.
  awaitable<void> take_over(const http::response& head);
  tcp::socket& socket() { return conn.socket; }
  std::string& leftover() { return conn.buffer; }

  // Door 3: cleanup once the reply is written (or could not be).
  void on_finish(std::function<void(ending)> cleanup);

private:
  friend awaitable<bool> respond(server&, connection&,
                                 const http::parse_result&);
  void finish(ending how);
  awaitable<bool> write(std::string_view a, std::string_view b = {});

  http::request req_;
  std::string_view param_;
  std::size_t consumed_;
  tut::clock::time_point request_deadline_;
  bool continue_sent_ = false;
  bool head_sent_ = false;   // door 1 or 2 was used
  bool chunked_ = false;     // door 1 with a chunked head
  bool taken_ = false;       // door 2 was used
  bool gone_ = false;        // a write or read failed: the client is gone
  std::vector<std::function<void(ending)>> cleanups_;
};

}  // namespace common::web
