// Lesson 10: an async web server. One loop serves every client: an accept
// loop takes connections in, each gets a coroutine of its own that reads a
// request, answers it and waits for the next one on the same connection.
// What can wait (timers, calls to other services) waits on the loop, all
// at once; what would hold the loop (writing files, computing) goes to a
// thread pool. It is the FastAPI program of the README, endpoint for
// endpoint.
//
// The server's state and the parts that are not the tasks (reading and
// writing, the router, the blocking work, taking connections in) are
// given: given/server.hpp says what each one does. Fill in
// the TODOs, task by task; `scripts/tutor` grades each one as you save,
// and `scripts/tutor run 10` starts your server and talks to it.
#include "given/server.hpp"

#include <asio/signal_set.hpp>

#include <algorithm>
#include <csignal>
#include <string>
#include <string_view>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace lesson10 {

// ---- Task 1: one connection, many requests --------------------------------

// Answers the requests of one connection in order, until the client closes
// it, asks to ("Connection: close"), or sends something malformed.
awaitable<void> handle_requests(server& srv, connection& c) {
  // TODO: a loop around `auto parsed = http::parse_request(c.buffer,
  // srv.cfg.limits);` that looks at parsed.status:
  //   incomplete: `co_await read_more(srv, c)`, then parse again (false:
  //     the client has gone, co_return);
  //   error: `co_await write_reply(srv, c, http::json_error(
  //     parsed.error_status, parsed.reason), false)`, then co_return;
  //   complete: `auto res = co_await dispatch(srv, c, parsed.req);`, then
  //     `co_await write_reply(srv, c, res, parsed.req.keep_alive)` says
  //     whether the connection goes on. `c.buffer.erase(0,
  //     parsed.consumed)`: what follows may be the next request already.
  co_return;
}

// ---- Task 2: the idle timeout ---------------------------------------------

// Returns once c.deadline has passed. The deadline moves: read_more and
// write_reply set it, dispatch lifts it (time_point::max()) while a
// request is handled. So look again at least every idle_timeout.
awaitable<void> watchdog(server& srv, connection& c) {
  // TODO: a `tut::timer timer(co_await asio::this_coro::executor);` and a
  // loop: while c.deadline is still ahead of tut::now(), set the timer
  // with `timer.expires_at(...)` to the deadline, but no later than
  // now + srv.cfg.idle_timeout, and `co_await timer.async_wait(
  // use_awaitable)`.
  co_return;
}

// The requests race the watchdog: a client too slow to send a request, or
// idle too long between two, loses the connection.
awaitable<void> serve_connection(server& srv, connection& c) {
  // TODO: race the two with the || operator: `co_await (handle_requests(
  // srv, c) || watchdog(srv, c));`. Whichever ends first, the other is
  // cancelled. As it is, a client that never finishes its request keeps
  // its connection (and its memory) forever.
  co_await handle_requests(srv, c);
}

// Takes connections in until the acceptor is closed or this is cancelled.
awaitable<void> accept_loop(server& srv) {
  for (;;) {
    auto [ec, socket] = co_await srv.acceptor.async_accept(
        as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || srv.stopping) co_return;
    if (ec) {  // out of file descriptors, say: wait a little
      co_await tut::sleep(20ms);
      continue;
    }
    do {
      if (srv.connections.size() >= srv.cfg.max_connections) {
        turn_away(srv, socket);
        continue;
      }
      auto& c = open_connection(srv, std::move(socket));
      // TODO (task 1): give each connection a coroutine of its own and go
      // back to accepting at once: `co_spawn(srv.executor,
      // serve_connection(srv, c), when_closed(srv, c));`. Awaiting it, as
      // here, serves one client at a time.
      co_await serve_connection(srv, c);
      close_connection(srv, c);
    } while (take_waiting(srv, socket));
  }
}

// ---- Task 3: the dashboard ------------------------------------------------

// GET /dashboard/{user_id}: three upstream calls, at once.
awaitable<http::response> handle_dashboard(server& srv, int user_id) {
  // TODO: call_upstream(srv, "/users/<id>"), "/orders/<id>" and
  // "/recommendations/<id>" at once: `auto [user, orders, recommendations]
  // = co_await (a && b && c);`. Answer http::json(200, ...) with
  // {"user": <user>, "orders": <orders>, "recommendations": <...>} (the
  // bodies are JSON already; fmt::format puts them in). If a call throws,
  // the && rethrows it: catch it and answer http::json_error(502, ...).
  co_return http::json_error(501, "the dashboard is not written yet");
}

// ---- Task 4: uploads ------------------------------------------------------

// A file name that stays inside the data directory.
bool safe_name(std::string_view name) {
  // TODO: false for a name that could leave the data directory or hide in
  // it: empty, longer than 255, starting with '.', holding "..", '/', '\\'
  // or a NUL (std::string_view("/\\\0", 3) has all three).
  return !name.empty();
}

// POST /upload?name=<file>: saves the body as data/<file>.
awaitable<http::response> handle_upload(server& srv,
                                        const http::request& req) {
  // TODO: `auto name = http::query_value(req.query, "name");`; no name, or
  // not safe_name(*name): http::json_error(400, ...). Then save req.body as
  // srv.cfg.data_dir / *name with save_file(path, body,
  // srv.cfg.disk_latency), which blocks: run it on the pool, `co_await
  // to_thread(srv.pool, [&] { save_file(...); });`. Answer
  // http::json(201, {"saved": "<name>", "bytes": <size>}), the name
  // through http::json_escape.
  co_return http::json_error(501, "uploads are not written yet");
}

// ---- Task 5: CPU-bound work -----------------------------------------------

// GET /cpu-heavy: a computation, on the pool.
awaitable<http::response> handle_cpu_heavy(server& srv) {
  auto n = srv.cfg.cpu_work;
  // TODO: this computes on the loop's thread: while it runs, no other
  // client gets an answer. Compute on the pool: `auto sum = co_await
  // to_thread(srv.pool, [n] { return web::sum_primes_below(n); });`.
  auto sum = web::sum_primes_below(n);
  co_return http::json(200, fmt::format(R"({{"result": {}}})", sum));
}

// ---- Task 6: background jobs ----------------------------------------------

// POST /log: queue the job, answer at once; the worker runs it later.
awaitable<http::response> handle_log(server& srv, const http::request& req) {
  // TODO: queue the job and answer at once, without waiting for it:
  // `srv.jobs.try_send(asio::error_code{}, std::string(req.body))` is
  // false when the queue is full (answer 503 then). Count it in
  // ++srv.stats.jobs_queued and answer http::json(202, {"queued": true}).
  co_return http::json_error(501, "the log is not written yet");
}

// Runs the queued jobs one after another, until told to stop.
awaitable<void> background_worker(server& srv) {
  // TODO: a loop: `auto [ec, message] = co_await srv.jobs.async_receive(
  // as_tuple(use_awaitable));` waits for the next job. An error code (the
  // eof that shutdown sends) means stop: co_return. Otherwise `co_await
  // write_log(srv, std::move(message));`, one job after the other.
  co_return;
}

// ---- Task 7: graceful shutdown --------------------------------------------

// The work left when shutdown begins: the connections' requests, then the
// jobs they queued (an eof after the last job stops the worker).
awaitable<void> finish_work(server& srv) {
  // TODO: `co_await connections_closed(srv);` (no new job can come after
  // that), then tell the worker to stop after the jobs already queued:
  // `co_await srv.jobs.async_send(asio::error_code(asio::error::eof),
  // std::string(), use_awaitable);`, then `co_await worker_stopped(srv);`.
  co_return;
}

awaitable<void> shut_down(server& srv) {
  // TODO: srv.stopping = true; close the acceptor (`srv.acceptor.close(
  // ignored)` with an asio::error_code ignored); close_idle_connections;
  // then race finish_work(srv) against tut::sleep(srv.cfg.
  // shutdown_deadline) with ||. If the sleep wins (index 1), what is left
  // must stop: cancel_everything(srv), then wait for it to end
  // (connections_closed, worker_stopped). Return only when nothing of
  // the server runs any more.
  co_return;
}

asio::awaitable<void> serve(web::config cfg, web::server_stats& stats) {
  auto srv = std::make_shared<server>(co_await asio::this_coro::executor,
                                      std::move(cfg), stats);
  start_worker(*srv);
  // TODO: serve until SIGINT or SIGTERM, then shut down: make an
  // `asio::signal_set signals(srv->executor, SIGINT, SIGTERM);`, race
  // `accept_loop(*srv) || signals.async_wait(use_awaitable)`, then
  // `co_await shut_down(*srv);`. As it is, a signal kills the process
  // in the middle of everything.
  co_await accept_loop(*srv);
}

}  // namespace lesson10
