// Lesson 11: a web app on one loop, on lesson 10's server. Its endpoints
// are those of a small FastAPI program: one computes (on the thread pool,
// so the loop stays free), one saves uploads (a safe name, the write on the
// pool), one calls three upstream services at once, one queues a job for
// later; and on SIGINT or SIGTERM the app stops taking work, lets what is
// started finish within a deadline, and returns.
//
// Given, in given/app.hpp: the app's state and the parts that are not the
// tasks (its routes, the blocking work, the upstream calls, the worker's
// start and stop).
//
// Reference solution: what waits, awaits on the loop; what holds a thread
// goes to the pool; jobs go through a bounded channel; a signal stops the
// intake first, then lets the rest finish, within a deadline.
#include "given/app.hpp"

#include <asio/signal_set.hpp>

#include <csignal>
#include <string>
#include <string_view>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson11 {

// ---- Task 1: CPU-bound work -----------------------------------------------

// GET /cpu-heavy: the sum of the primes below cfg.cpu_work.
awaitable<http::response> handle_cpu_heavy(app& a) {
  auto n = a.cfg.cpu_work;
  auto sum =
      co_await to_thread(a.pool, [n] { return webapp::sum_primes_below(n); });
  co_return http::json(200, fmt::format(R"({{"result": {}}})", sum));
}

// ---- Task 2: uploads ------------------------------------------------------

// A file name that stays inside the uploads directory.
bool safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.front() != '.' &&
         name.find_first_of(std::string_view("/\\\0", 3)) ==
             std::string_view::npos &&
         name.find("..") == std::string_view::npos;
}

// POST /upload?name=<file>: saves the body as uploads/<file>.
awaitable<http::response> handle_upload(app& a, web::request_context& ctx) {
  auto name = http::query_value(ctx.request().query, "name");
  if (!name || !safe_name(*name))
    co_return http::json_error(400, "a plain file name, please");
  auto body = co_await ctx.body();
  auto path = a.uploads / *name;
  co_await to_thread(a.pool, [&] {
    save_file(path, body, a.cfg.disk_latency);
  });
  co_return http::json(201, fmt::format(R"({{"saved": "{}", "bytes": {}}})",
                                        http::json_escape(*name),
                                        body.size()));
}

// ---- Task 3: the dashboard ------------------------------------------------

// GET /dashboard/{user_id}: three upstream calls, at once.
awaitable<http::response> handle_dashboard(app& a, int user_id) {
  try {
    auto [user, orders, recommendations] = co_await (
        call_upstream(a, fmt::format("/users/{}", user_id)) &&
        call_upstream(a, fmt::format("/orders/{}", user_id)) &&
        call_upstream(a, fmt::format("/recommendations/{}", user_id)));
    co_return http::json(
        200, fmt::format(
                 R"({{"user": {}, "orders": {}, "recommendations": {}}})",
                 user, orders, recommendations));
  } catch (const std::exception&) {
    co_return http::json_error(502, "an upstream service failed");
  }
}

// ---- Task 4: background jobs ----------------------------------------------

// POST /log: queue the job, answer at once; the worker runs it later.
awaitable<http::response> handle_log(app& a, web::request_context& ctx) {
  auto body = co_await ctx.body();
  if (!a.jobs.try_send(asio::error_code{}, std::string(body)))
    co_return http::json_error(503, "too many jobs waiting");
  ++a.stats.jobs_queued;
  co_return http::json(202, R"({"queued": true})");
}

// Runs the queued jobs one after another, until told to stop.
awaitable<void> background_worker(app& a) {
  for (;;) {
    auto [ec, message] = co_await a.jobs.async_receive(as_tuple(use_awaitable));
    if (ec) co_return;
    co_await write_log(a, std::move(message));
  }
}

// ---- Task 5: graceful shutdown --------------------------------------------

// The work left when shutdown begins: the requests under way, then the jobs
// they queued.
awaitable<void> finish_work(app& a) {
  co_await web::connections_closed(*a.srv);
  co_await a.jobs.async_send(asio::error_code(asio::error::eof), std::string(),
                             use_awaitable);
  co_await worker_stopped(a);
}

awaitable<void> shut_down(app& a) {
  a.srv->stopping = true;
  asio::error_code ignored;
  a.srv->acceptor.close(ignored);
  web::close_idle_connections(*a.srv);
  auto finished = co_await (finish_work(a) ||
                            tut::sleep(a.cfg.shutdown_deadline));
  if (finished.index() == 1) {  // out of time: end what is left
    web::close_connections(*a.srv);
    stop_worker(a);
    co_await web::connections_closed(*a.srv);
    co_await worker_stopped(a);
  }
}

awaitable<void> serve(webapp::config cfg, webapp::stats& stats) {
  auto a = make_app(co_await asio::this_coro::executor, std::move(cfg),
                    stats);
  start_worker(*a);
  asio::signal_set signals(a->srv->executor, SIGINT, SIGTERM);
  co_await (web::keep_listening(*a->srv, web::listener) ||
            signals.async_wait(as_tuple(use_awaitable)));
  // A signal, or serve() itself cancelled: shut down the same way.
  auto state = co_await asio::this_coro::cancellation_state;
  bool cancelled = state.cancelled() != asio::cancellation_type::none;
  co_await asio::this_coro::reset_cancellation_state();
  co_await shut_down(*a);
  if (cancelled) throw asio::system_error(asio::error::operation_aborted, "serve");
}

}  // namespace lesson11
