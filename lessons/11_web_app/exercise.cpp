// Lesson 11: a web app on one loop, on lesson 10's server. Its endpoints
// are those of a small FastAPI program: one computes (on the thread pool,
// so the loop stays free), one saves uploads (a safe name, the write on the
// pool), one calls three upstream services at once, one queues a job for
// later; and on SIGINT or SIGTERM the app stops taking work, lets what is
// started finish within a deadline, and returns.
//
// Given, in given/app.hpp: the app's state and the parts that are not the
// tasks (its routes, the blocking work, the upstream calls, the worker's
// start and stop). Fill in the TODOs, task by task; `scripts/tutor` grades
// each one as you save, and `scripts/tutor run 11` starts the app and talks
// to it.
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
  // TODO: this computes on the loop's thread: while it runs, no other
  // client gets an answer. Hand the computation to the app's thread pool
  // with to_thread (lesson 08), and await its result.
  auto sum = webapp::sum_primes_below(n);
  co_return http::json(200, fmt::format(R"({{"result": {}}})", sum));
}

// ---- Task 2: uploads ------------------------------------------------------

// A file name that stays inside the uploads directory.
bool safe_name(std::string_view name) {
  // TODO: false for a name that could leave the directory or hide in it:
  // empty, longer than 255 bytes (a file name's limit), starting with '.',
  // holding "..", '/', '\\' or a NUL (std::string_view("/\\\0", 3) holds
  // all three).
  return !name.empty();
}

// POST /upload?name=<file>: saves the body as uploads/<file>.
awaitable<http::response> handle_upload(app& a, web::request_context& ctx) {
  // TODO: the name is the query's "name" (http::query_value); no name, or
  // one safe_name refuses, gets 400, before the body is read (a client
  // that sent "Expect: 100-continue" then never sends it). Then await the
  // body (ctx.body()) and save it as a.uploads / name with save_file, which
  // blocks: on the pool, with to_thread. Answer 201 with {"saved":
  // "<name>", "bytes": <size>}, the name through http::json_escape.
  co_return http::json_error(501, "uploads are not written yet");
}

// ---- Task 3: the dashboard ------------------------------------------------

// GET /dashboard/{user_id}: three upstream calls, at once.
awaitable<http::response> handle_dashboard(app& a, int user_id) {
  // TODO: call_upstream "/users/<id>", "/orders/<id>" and
  // "/recommendations/<id>" all at once with the && operator: the page
  // takes as long as the slowest call, not the sum. Answer 200 with
  // {"user": <user>, "orders": <orders>, "recommendations": <...>} (each
  // body is JSON already). When a call fails, && rethrows its error: answer
  // 502 Bad Gateway then.
  co_return http::json_error(501, "the dashboard is not written yet");
}

// ---- Task 4: background jobs ----------------------------------------------

// POST /log: queue the job, answer at once; the worker runs it later.
awaitable<http::response> handle_log(app& a, web::request_context& ctx) {
  // TODO: await the body, queue it as a job for the worker without waiting
  // (the channel's try_send is false when a.jobs is full: answer 503 then),
  // count it in a.stats.jobs_queued, and answer 202 {"queued": true}.
  co_return http::json_error(501, "the log is not written yet");
}

// Runs the queued jobs one after another, until told to stop.
awaitable<void> background_worker(app& a) {
  // TODO: a loop that receives the next job from a.jobs (async_receive,
  // with as_tuple: the eof that shutdown sends comes as an error code,
  // which means stop) and runs it with write_log, one after the other.
  co_return;
}

// ---- Task 5: graceful shutdown --------------------------------------------

// The work left when shutdown begins: the requests under way, then the jobs
// they queued.
awaitable<void> finish_work(app& a) {
  // TODO: wait for the connections to close (web::connections_closed): no
  // new job can come after that. Then send the worker an eof (an error
  // code, after the jobs already queued: async_send, not close(), which
  // drops them) and wait for it to stop (worker_stopped).
  co_return;
}

awaitable<void> shut_down(app& a) {
  // TODO: take no more work: mark the server as stopping, close its
  // acceptor (a late client is then refused at once), and end the idle
  // connections (web::close_idle_connections). Then race finish_work
  // against cfg.shutdown_deadline with the || operator. If the deadline
  // wins, end what is left (web::close_connections, stop_worker) and wait
  // for it. Return only once nothing of the app runs.
  co_return;
}

awaitable<void> serve(webapp::config cfg, webapp::stats& stats) {
  auto a = make_app(co_await asio::this_coro::executor, std::move(cfg),
                    stats);
  start_worker(*a);
  // TODO: serve until SIGINT or SIGTERM, then shut down: an
  // asio::signal_set for the two signals, its async_wait raced against
  // the listener with the || operator, then shut_down. As it is, a signal
  // stops nothing. serve() itself cancelled (by a task group, say) shuts
  // down the same way, then throws operation_aborted: wait for the signal
  // with as_tuple, so that its cancellation is a value too, and
  // asio::this_coro::reset_cancellation_state() before awaiting again.
  co_await web::keep_listening(*a->srv, web::listener);
}

}  // namespace lesson11
