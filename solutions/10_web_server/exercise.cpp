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
// given: given/server.hpp says what each one does.
//
// Reference solution: one coroutine per connection, raced against its
// watchdog; blocking work on the pool; jobs through a channel; on a signal,
// stop taking work, let the rest finish in time, then return.
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
  for (;;) {
    auto parsed = http::parse_request(c.buffer, srv.cfg.limits);
    if (parsed.status == http::parse_status::incomplete) {
      if (!co_await read_more(srv, c)) co_return;
      continue;
    }
    if (parsed.status == http::parse_status::error) {
      auto res = http::json_error(parsed.error_status, parsed.reason);
      co_await write_reply(srv, c, res, false);
      co_return;
    }
    auto res = co_await dispatch(srv, c, parsed.req);
    bool again = co_await write_reply(srv, c, res, parsed.req.keep_alive);
    c.buffer.erase(0, parsed.consumed);  // a pipelined request may follow
    if (!again) co_return;
  }
}

// ---- Task 2: the idle timeout ---------------------------------------------

// Returns once c.deadline has passed. The deadline moves: read_more and
// write_reply set it, dispatch lifts it (time_point::max()) while a
// request is handled. So look again at least every idle_timeout.
awaitable<void> watchdog(server& srv, connection& c) {
  tut::timer timer(co_await asio::this_coro::executor);
  for (auto now = tut::now(); c.deadline > now; now = tut::now()) {
    timer.expires_at(std::min(c.deadline, now + srv.cfg.idle_timeout));
    co_await timer.async_wait(use_awaitable);
  }
}

// The requests race the watchdog: a client too slow to send a request, or
// idle too long between two, loses the connection.
awaitable<void> serve_connection(server& srv, connection& c) {
  co_await (handle_requests(srv, c) || watchdog(srv, c));
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
      co_spawn(srv.executor, serve_connection(srv, c), when_closed(srv, c));
    } while (take_waiting(srv, socket));
  }
}

// ---- Task 3: the dashboard ------------------------------------------------

// GET /dashboard/{user_id}: three upstream calls, at once.
awaitable<http::response> handle_dashboard(server& srv, int user_id) {
  try {
    auto [user, orders, recommendations] = co_await (
        call_upstream(srv, fmt::format("/users/{}", user_id)) &&
        call_upstream(srv, fmt::format("/orders/{}", user_id)) &&
        call_upstream(srv, fmt::format("/recommendations/{}", user_id)));
    co_return http::json(
        200, fmt::format(
                 R"({{"user": {}, "orders": {}, "recommendations": {}}})",
                 user, orders, recommendations));
  } catch (const std::exception&) {
    co_return http::json_error(502, "an upstream service failed");
  }
}

// ---- Task 4: uploads ------------------------------------------------------

// A file name that stays inside the data directory.
bool safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.front() != '.' &&
         name.find_first_of(std::string_view("/\\\0", 3)) ==
             std::string_view::npos &&
         name.find("..") == std::string_view::npos;
}

// POST /upload?name=<file>: saves the body as data/<file>.
awaitable<http::response> handle_upload(server& srv,
                                        const http::request& req) {
  auto name = http::query_value(req.query, "name");
  if (!name || !safe_name(*name))
    co_return http::json_error(400, "a plain file name, please");
  auto path = srv.cfg.data_dir / *name;
  std::string_view body = req.body;
  co_await to_thread(srv.pool, [&] {
    save_file(path, body, srv.cfg.disk_latency);
  });
  co_return http::json(201, fmt::format(R"({{"saved": "{}", "bytes": {}}})",
                                        http::json_escape(*name),
                                        body.size()));
}

// ---- Task 5: CPU-bound work -----------------------------------------------

// GET /cpu-heavy: a computation, on the pool.
awaitable<http::response> handle_cpu_heavy(server& srv) {
  auto n = srv.cfg.cpu_work;
  auto sum =
      co_await to_thread(srv.pool, [n] { return web::sum_primes_below(n); });
  co_return http::json(200, fmt::format(R"({{"result": {}}})", sum));
}

// ---- Task 6: background jobs ----------------------------------------------

// POST /log: queue the job, answer at once; the worker runs it later.
awaitable<http::response> handle_log(server& srv, const http::request& req) {
  if (!srv.jobs.try_send(asio::error_code{}, std::string(req.body)))
    co_return http::json_error(503, "too many jobs waiting");
  ++srv.stats.jobs_queued;
  co_return http::json(202, R"({"queued": true})");
}

// Runs the queued jobs one after another, until told to stop.
awaitable<void> background_worker(server& srv) {
  for (;;) {
    auto [ec, message] = co_await srv.jobs.async_receive(
        as_tuple(use_awaitable));
    if (ec) co_return;
    co_await write_log(srv, std::move(message));
  }
}

// ---- Task 7: graceful shutdown --------------------------------------------

// The work left when shutdown begins: the connections' requests, then the
// jobs they queued (an eof after the last job stops the worker).
awaitable<void> finish_work(server& srv) {
  co_await connections_closed(srv);
  co_await srv.jobs.async_send(asio::error_code(asio::error::eof),
                               std::string(), use_awaitable);
  co_await worker_stopped(srv);
}

awaitable<void> shut_down(server& srv) {
  srv.stopping = true;
  asio::error_code ignored;
  srv.acceptor.close(ignored);
  close_idle_connections(srv);
  auto finished = co_await (finish_work(srv) ||
                            tut::sleep(srv.cfg.shutdown_deadline));
  if (finished.index() == 1) {  // out of time: stop what is left
    cancel_everything(srv);
    co_await connections_closed(srv);
    co_await worker_stopped(srv);
  }
}

asio::awaitable<void> serve(web::config cfg, web::server_stats& stats) {
  auto srv = std::make_shared<server>(co_await asio::this_coro::executor,
                                      std::move(cfg), stats);
  start_worker(*srv);
  asio::signal_set signals(srv->executor, SIGINT, SIGTERM);
  co_await (accept_loop(*srv) || signals.async_wait(use_awaitable));
  co_await shut_down(*srv);
}

}  // namespace lesson10
