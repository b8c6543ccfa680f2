// Lesson 11, given: the parts of the web app that are not the lesson's tasks
// (declared, with what each does, in app.hpp). Compiled once, beside your
// exercise.cpp, so that saving it recompiles only your code.
#include "app.hpp"

#include "common/http_client.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace lesson11 {

namespace fs = std::filesystem;

namespace {

// A crash can leave a temporary file behind (never half a real one); the
// next start removes them. Uploads never start with '.' (safe_name), so no
// upload is taken for one.
void remove_leftovers(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto name = entry.path().filename().string();
    if (name.starts_with(".upload-") && name.ends_with(".tmp"))
      fs::remove(entry.path(), ec);
  }
}

// The routes: lesson 10's two endpoints, then the web app's, yours. Each
// holds the app weakly (the app holds the server, which holds the routes)
// and keeps it alive while it handles a request.
template <typename F>
web::handler with_app(std::weak_ptr<app> weak, F handle) {
  return [weak, handle](web::request_context& ctx)
             -> awaitable<http::response> {
    auto a = weak.lock();
    if (!a) co_return http::json_error(503, "shutting down");
    co_return co_await handle(*a, ctx);
  };
}

std::vector<web::route> routes(std::weak_ptr<app> owner) {
  using ctx_t = web::request_context;
  return {
      {"GET", "/",
       [](ctx_t&) -> awaitable<http::response> {
         co_return http::json(200, R"({"hello": "Asyncio"})");
       }},
      {"GET", "/sleep",
       [](ctx_t& ctx) { return web::handle_sleep(ctx.request()); }},
      {"GET", "/dashboard/{user_id}",
       with_app(owner, [](app& a, ctx_t& ctx) -> awaitable<http::response> {
         auto id = http::to_number(ctx.param());
         if (!id || *id > 1'000'000'000)
           co_return http::json_error(422, "user_id must be a number");
         if (!a.cfg.upstream)
           co_return http::json_error(503, "no upstream service configured");
         co_return co_await handle_dashboard(a, static_cast<int>(*id));
       })},
      {"POST", "/upload", with_app(owner, [](app& a, ctx_t& ctx) {
         return handle_upload(a, ctx);
       })},
      {"POST", "/log", with_app(owner, [](app& a, ctx_t& ctx) {
         return handle_log(a, ctx);
       })},
      {"GET", "/cpu-heavy", with_app(owner, [](app& a, ctx_t&) {
         return handle_cpu_heavy(a);
       })},
  };
}

}  // namespace

app::app(asio::any_io_executor ex, webapp::config c, webapp::stats& s)
    : cfg(std::move(c)),
      stats(s),
      uploads(cfg.data_dir / "uploads"),
      log_file(cfg.data_dir / "log.txt"),
      pool(cfg.threads),
      jobs(ex, cfg.max_jobs),
      worker_ended(ex, tut::clock::time_point::max()) {
  fs::create_directories(uploads);
  remove_leftovers(uploads);
}

std::shared_ptr<app> make_app(asio::any_io_executor ex, webapp::config cfg,
                              webapp::stats& stats) {
  auto a = std::make_shared<app>(ex, std::move(cfg), stats);
  a->srv = std::make_shared<web::server>(ex, a->cfg.server, stats, routes(a));
  return a;
}

// ---- Blocking work and the endpoints' helpers -----------------------------

void save_file(const fs::path& path, std::string_view data,
               tut::clock::duration disk_latency) {
  // A temporary name of its own: ".upload-<pid>-<n>.tmp", never longer
  // than 40 bytes, so any name up to the 255-byte limit fits.
  static std::atomic<unsigned long> count{0};
  auto tmp = path.parent_path() /
             fmt::format(".upload-{}-{}.tmp", getpid(), count++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open");
  auto fail = [&](const char* what) {
    int error = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw std::system_error(error, std::generic_category(), what);
  };
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) fail("fsync");
  ::close(fd);
  std::this_thread::sleep_for(disk_latency);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(error, std::generic_category(), "rename");
  }
}

namespace {

// One GET on a connection of its own (lesson 09's given exchange).
awaitable<http::received> get(http::url u) {
  auto c = co_await http::open_connection(u);
  co_return co_await http::exchange(*c, "GET", std::move(u), "");
}

}  // namespace

awaitable<std::string> call_upstream(app& a, std::string path) {
  auto ex = co_await asio::this_coro::executor;
  const auto& at = *a.cfg.upstream;
  http::url u{at.address().to_string(), std::to_string(at.port()), path};
  // Lesson 09's timeout: the call's error comes out at once, as itself.
  auto work = co_spawn(ex, get(std::move(u)), as_tuple(use_awaitable));
  auto winner = co_await (std::move(work) || tut::sleep(a.cfg.upstream_timeout));
  if (winner.index() == 1)
    throw asio::system_error(asio::error::timed_out, "GET " + path);
  auto [error, reply] = std::get<0>(std::move(winner));
  if (error) std::rethrow_exception(error);
  if (reply.status != 200)
    throw std::runtime_error(fmt::format("GET {}: status {}", path, reply.status));
  co_return std::move(reply.body);
}

namespace {

// Blocking: appends one line to a file.
void append_line(const fs::path& file, std::string line) {
  for (auto& ch : line)
    if (ch == '\n' || ch == '\r') ch = ' ';
  line += '\n';
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open");
  auto n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()))
    throw std::runtime_error("appending to " + file.string());
}

}  // namespace

awaitable<void> write_log(app& a, std::string message) {
  try {
    co_await tut::sleep(a.cfg.job_latency);
    co_await to_thread(a.pool, [&] { append_line(a.log_file, message); });
    ++a.stats.jobs_done;
  } catch (const std::exception&) {
    // A failed job is dropped; the worker goes on with the next.
  }
}

// ---- The background worker ------------------------------------------------

void start_worker(app& a) {
  a.worker_running = true;
  co_spawn(a.srv->executor, background_worker(a),
           asio::bind_cancellation_slot(
               a.worker_cancel.slot(),
               [keep = a.shared_from_this()](std::exception_ptr) {
                 keep->worker_running = false;
                 keep->worker_ended.cancel();
               }));
}

awaitable<void> worker_stopped(app& a) {
  while (a.worker_running) {
    a.worker_ended.expires_at(tut::clock::time_point::max());
    co_await a.worker_ended.async_wait(as_tuple(use_awaitable));
  }
}

void stop_worker(app& a) {
  a.worker_cancel.emit(asio::cancellation_type::terminal);
}

}  // namespace lesson11
