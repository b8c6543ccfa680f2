// Lesson 10, given: the server's state and the parts of it that are not
// the lesson's tasks: reading requests and writing replies, the router,
// the endpoints' blocking work, taking connections in and what shutdown
// needs. They are defined in server.cpp (read it too: it is the same kind
// of code as your tasks). Your exercise.cpp writes the rest.
//
// Like lesson.hpp, everything here is in namespace lesson10, which the
// reference solution's build renames to lesson10_reference.
#pragma once

#include "lesson.hpp"

#include "common/to_thread.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/thread_pool.hpp>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace lesson10 {

using asio::awaitable;
using asio::ip::tcp;

// ---- The server's state ---------------------------------------------------

// One client's connection. It sits in server::connections while its
// coroutine runs, so that shutdown can find it.
struct connection {
  explicit connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string buffer;  // bytes received and not answered yet
  std::string head;    // the reply's status line and headers
  // The request being read must be complete by then; the watchdog closes
  // the connection after it. time_point::max() while a request is handled.
  tut::clock::time_point deadline = tut::clock::time_point::max();
  bool idle = false;  // waiting for the first byte of a new request
  asio::cancellation_signal cancel;  // for the shutdown deadline
  std::list<connection>::iterator self;
};

// Background jobs, for the worker: a message each. An error code (eof)
// tells the worker to stop.
using job_queue =
    asio::experimental::channel<void(asio::error_code, std::string)>;

struct server : std::enable_shared_from_this<server> {
  // Listens on cfg.address:cfg.port (and says which port in stats.port).
  server(asio::any_io_executor ex, web::config c, web::server_stats& s);

  web::config cfg;
  web::server_stats& stats;
  asio::any_io_executor executor;  // the loop
  tcp::acceptor acceptor;
  asio::thread_pool pool;          // for blocking work
  job_queue jobs;
  std::list<connection> connections;
  bool stopping = false;           // shutting down: finish, take no more
  bool worker_running = false;
  int taken_in_a_row = 0;          // by take_waiting
  asio::cancellation_signal worker_cancel;
  tut::timer changed;  // rings when a connection or the worker ends
};

// ---- Reading requests and writing replies ---------------------------------

// Reads more bytes into c.buffer. False when the client has gone, the read
// failed, or the server is shutting down and nothing is in progress here.
// A new request's time starts with its first read: it must be complete by
// c.deadline.
awaitable<bool> read_more(server& srv, connection& c);

// Sends `res`. True when the connection can carry another request: it was
// sent, the client asked to keep the connection (`keep_alive`), and the
// server is not shutting down (then the reply says "Connection: close").
awaitable<bool> write_reply(server& srv, connection& c,
                            const http::response& res, bool keep_alive);

// Finds the endpoint for a request and runs it: your handle_dashboard,
// handle_upload, handle_cpu_heavy and handle_log, or a given one. An
// exception becomes a 500.
awaitable<http::response> dispatch(server& srv, connection& c,
                                   const http::request& req);

// ---- Blocking work and the endpoints' helpers -----------------------------

// Lesson 08's to_thread (lessons/common/to_thread.hpp): runs `work()` on a
// pool thread; the coroutine waits for its result without holding the loop.
using common::to_thread;

// Blocking. Saves `data` as `path` the safe way: into a temporary file
// beside it, flushed to the disk, then renamed over `path`. A rename is
// atomic, so a crash leaves the old file or the new one, never half of one.
// `disk_latency` plays a slow disk.
void save_file(const std::filesystem::path& path, std::string_view data,
               tut::clock::duration disk_latency);

// One call to an upstream service: the body of GET `path`, or an exception.
awaitable<std::string> call_upstream(server& srv, std::string path);

// One background job: notes `message` in data/log.txt, after a wait, as a
// job that sends an e-mail or calls a webhook would.
awaitable<void> write_log(server& srv, std::string message);

// ---- Taking connections in ------------------------------------------------

// A new connection, in srv.connections.
connection& open_connection(server& srv, tcp::socket socket);

// Removes a connection whose coroutine is over, and lets shutdown know.
void close_connection(server& srv, connection& c);

// The completion handler for a connection's coroutine: closes the
// connection once the coroutine is over. Bound to c.cancel, which stops
// the coroutine at the shutdown deadline.
asio::cancellation_slot_binder<web::on_done, asio::cancellation_slot>
when_closed(server& srv, connection& c);

// Answers 503 to a connection over the cap (cfg.max_connections), and
// closes it.
void turn_away(server& srv, tcp::socket& socket);

// Takes one more connection that is already waiting, if there is one, up
// to 16 in a row: after a wake-up, the accept loop takes a burst at a time,
// not one per turn of the loop (thousands of clients connecting together
// would otherwise wait in the kernel's queue, or overflow it), yet the
// connections already taken get to read their requests between bursts.
bool take_waiting(server& srv, tcp::socket& socket);

// Starts your background_worker beside the accept loop; shutdown can wait
// for it (worker_stopped) or stop it (worker_cancel).
void start_worker(server& srv);

// ---- What shutdown needs --------------------------------------------------

// Closes the connections that are waiting for a new request. The others
// finish the request they are on, then close (read_more and write_reply
// look at srv.stopping).
void close_idle_connections(server& srv);

// Return once every connection has closed; once the worker has stopped.
awaitable<void> connections_closed(server& srv);
awaitable<void> worker_stopped(server& srv);

// Cancels every connection and the worker, wherever they are waiting.
void cancel_everything(server& srv);

// ---- Yours, in exercise.cpp, called from the given code -------------------

awaitable<http::response> handle_dashboard(server& srv, int user_id);
awaitable<http::response> handle_upload(server& srv,
                                        const http::request& req);
awaitable<http::response> handle_cpu_heavy(server& srv);
awaitable<http::response> handle_log(server& srv, const http::request& req);
awaitable<void> background_worker(server& srv);

}  // namespace lesson10
