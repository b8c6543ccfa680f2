// Lesson 11, given: the web app's state, and the parts of it that are not
// the lesson's tasks: its routes, the endpoints' blocking work, the calls to
// the upstream services, the background worker's start and stop. Defined in
// app.cpp (read it too: it is the same kind of code as your tasks). The
// server underneath is lesson 10's, as lessons/common/ has it: serve.hpp
// (what lesson 10 taught) and server.hpp (what it gave).
//
// Like lesson.hpp, everything here is in namespace lesson11, which the
// reference solution's build renames to lesson11_reference.
#pragma once

#include "lesson.hpp"

#include "common/serve.hpp"
#include "common/to_thread.hpp"
#include "work.hpp"

#include <asio/cancellation_signal.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/thread_pool.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace lesson11 {

using asio::awaitable;

// Background jobs, for the worker: a message each. An error code (eof)
// tells the worker to stop.
using job_queue =
    asio::experimental::channel<void(asio::error_code, std::string)>;

struct app : std::enable_shared_from_this<app> {
  // Makes the data directories (and removes what a crash left there). The
  // server comes with make_app.
  app(asio::any_io_executor ex, webapp::config c, webapp::stats& s);

  webapp::config cfg;
  webapp::stats& stats;
  std::filesystem::path uploads;   // cfg.data_dir / "uploads"
  std::filesystem::path log_file;  // cfg.data_dir / "log.txt"
  asio::thread_pool pool;          // for blocking work
  job_queue jobs;                  // holds up to cfg.max_jobs
  std::shared_ptr<web::server> srv;
  bool worker_running = false;
  asio::cancellation_signal worker_cancel;
  tut::timer worker_ended;
};

// The app, and its server listening on cfg.server's address and port with
// the routes of the web app. A request being handled keeps the app alive,
// and so does the worker while it runs.
std::shared_ptr<app> make_app(asio::any_io_executor ex, webapp::config cfg,
                              webapp::stats& stats);

// ---- Blocking work and the endpoints' helpers -----------------------------

// Lesson 08's to_thread (lessons/common/to_thread.hpp): runs `work()` on a
// pool thread; the coroutine waits for its result without holding the loop.
using common::to_thread;

// Blocking. Saves `data` as `path` the safe way: into a temporary file in
// the same directory (a name of its own, never a long one), flushed to the
// disk, then renamed over `path`. A rename is atomic, so a crash leaves the
// old file or the new one, never half of one. `disk_latency` plays a slow
// disk.
void save_file(const std::filesystem::path& path, std::string_view data,
               tut::clock::duration disk_latency);

// One call to an upstream service: the body of GET `path`, or an exception
// (the service failed, answered something other than 200, or took longer
// than cfg.upstream_timeout).
awaitable<std::string> call_upstream(app& a, std::string path);

// One background job: notes `message` in log.txt, after a wait, as a job
// that sends an e-mail or calls a webhook would.
awaitable<void> write_log(app& a, std::string message);

// ---- The background worker ------------------------------------------------

// Starts your background_worker beside the server.
void start_worker(app& a);
// Returns once the worker has stopped.
awaitable<void> worker_stopped(app& a);
// Cancels the worker wherever it waits.
void stop_worker(app& a);

// ---- Yours, in exercise.cpp, called from the routes -----------------------

awaitable<http::response> handle_cpu_heavy(app& a);
bool safe_name(std::string_view name);
awaitable<http::response> handle_upload(app& a, web::request_context& ctx);
awaitable<http::response> handle_dashboard(app& a, int user_id);
awaitable<http::response> handle_log(app& a, web::request_context& ctx);
awaitable<void> background_worker(app& a);
awaitable<void> finish_work(app& a);
awaitable<void> shut_down(app& a);

}  // namespace lesson11
