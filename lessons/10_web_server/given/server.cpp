// Lesson 10, given: the parts of the server that are not the lesson's tasks
// (declared, with what each does, in server.hpp). Compiled once, beside
// your exercise.cpp, so that saving it recompiles only your code.
#include "server.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <system_error>
#include <thread>

using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace std::chrono_literals;

namespace lesson10 {

namespace fs = std::filesystem;

namespace {

// A crash can leave a temporary file behind (never half a real one); the
// next start removes them.
void remove_leftovers(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto name = entry.path().filename().string();
    if (name.starts_with('.') && name.find(".tmp-") != std::string::npos)
      fs::remove(entry.path(), ec);
  }
}

// Wakes whoever waits for a connection or the worker to end.
void wake(server& srv) { srv.changed.cancel(); }

}  // namespace

server::server(asio::any_io_executor ex, web::config c, web::server_stats& s)
    : cfg(std::move(c)),
      stats(s),
      executor(ex),
      acceptor(ex),
      pool(cfg.threads),
      jobs(ex, 1024),
      changed(ex, tut::clock::time_point::max()) {
  fs::create_directories(cfg.data_dir);
  remove_leftovers(cfg.data_dir);
  tcp::endpoint at(asio::ip::make_address(cfg.address), cfg.port);
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  acceptor.non_blocking(true);  // for take_waiting
  stats.port = acceptor.local_endpoint().port();
}

// ---- Reading requests and writing replies ---------------------------------

// Reads more bytes into c.buffer. False when the client has gone, the read
// failed, or the server is shutting down and nothing is in progress here.
// A new request's time starts with its first read: it must be complete by
// c.deadline.
awaitable<bool> read_more(server& srv, connection& c) {
  if (c.buffer.empty()) {
    if (srv.stopping) co_return false;
    if (c.buffer.capacity() > 64 * 1024) std::string().swap(c.buffer);
    c.deadline = tut::now() + srv.cfg.idle_timeout;
  }
  c.idle = c.buffer.empty();
  std::size_t had = c.buffer.size();
  std::size_t chunk = std::clamp<std::size_t>(had, 1024, 64 * 1024);
  c.buffer.resize(had + chunk);
  auto [ec, n] = co_await c.socket.async_read_some(
      asio::buffer(c.buffer.data() + had, chunk), as_tuple(use_awaitable));
  c.buffer.resize(had + n);
  c.idle = false;
  co_return !ec;
}

// Sends `res`. True when the connection can carry another request: it was
// sent, the client asked to keep the connection (`keep_alive`), and the
// server is not shutting down (then the reply says "Connection: close").
awaitable<bool> write_reply(server& srv, connection& c,
                            const http::response& res, bool keep_alive) {
  keep_alive = keep_alive && !srv.stopping;
  c.head.clear();
  http::write_head(c.head, res, keep_alive);
  c.deadline = tut::now() + srv.cfg.idle_timeout;  // to take the reply
  std::array<asio::const_buffer, 2> parts{asio::buffer(c.head),
                                          asio::buffer(res.body)};
  auto [ec, n] =
      co_await asio::async_write(c.socket, parts, as_tuple(use_awaitable));
  co_return !ec && keep_alive;
}

// ---- Blocking work and the endpoints' helpers -----------------------------

// Blocking. Saves `data` as `path` the safe way: into a temporary file
// beside it, flushed to the disk, then renamed over `path`. A rename is
// atomic, so a crash leaves the old file or the new one, never half of one.
// `disk_latency` plays a slow disk.
void save_file(const fs::path& path, std::string_view data,
               tut::clock::duration disk_latency) {
  static std::atomic<unsigned> count{0};
  auto tmp = path.parent_path() /
             fmt::format(".{}.tmp-{}-{}", path.filename().string(), getpid(),
                         count++);
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

// One call to an upstream service: the body of GET `path`, or an exception.
awaitable<std::string> call_upstream(server& srv, std::string path) {
  co_return co_await web::fetch(*srv.cfg.upstream, std::move(path),
                                srv.cfg.upstream_timeout);
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

// One background job: notes `message` in data/log.txt. It waits first, as
// a job that sends an e-mail or calls a webhook would.
awaitable<void> write_log(server& srv, std::string message) {
  try {
    co_await tut::sleep(srv.cfg.job_latency);
    auto file = srv.cfg.data_dir / "log.txt";
    co_await to_thread(srv.pool, [&] { append_line(file, message); });
    ++srv.stats.jobs_done;
  } catch (const std::exception&) {
    // A failed job is dropped; the worker goes on with the next.
  }
}

namespace {

// GET /sleep?ms=N: an I/O-bound handler, waiting on the loop.
awaitable<http::response> handle_sleep(const http::request& req) {
  long ms = 100;
  if (auto text = http::query_value(req.query, "ms")) {
    auto [end, ec] = std::from_chars(text->data(),
                                     text->data() + text->size(), ms);
    if (ec != std::errc() || end != text->data() + text->size() || ms < 0 ||
        ms > 10'000)
      co_return http::json_error(400, "ms must be from 0 to 10000");
  }
  co_await tut::sleep(std::chrono::milliseconds(ms));
  co_return http::json(200, R"({"slept_ms": )" + std::to_string(ms) + "}");
}

}  // namespace

// ---- The router -----------------------------------------------------------

namespace {

enum class endpoint { root, dashboard, upload, log, cpu_heavy, sleep };

constexpr http::route routes[] = {
    {"GET", "/", int(endpoint::root)},
    {"GET", "/dashboard/{user_id}", int(endpoint::dashboard)},
    {"POST", "/upload", int(endpoint::upload)},
    {"POST", "/log", int(endpoint::log)},
    {"GET", "/cpu-heavy", int(endpoint::cpu_heavy)},
    {"GET", "/sleep", int(endpoint::sleep)},
};

// Counts a request as in flight while it is handled (stats.in_flight).
struct in_flight {
  web::server_stats& stats;
  explicit in_flight(web::server_stats& s) : stats(s) {
    web::raise_peak(stats.peak_in_flight, ++stats.in_flight);
  }
  ~in_flight() {
    --stats.in_flight;
    ++stats.requests;
  }
};

}  // namespace

// Finds the endpoint for a request and runs it. An exception becomes a 500.
awaitable<http::response> dispatch(server& srv, connection& c,
                                   const http::request& req) {
  auto found = http::match_route(routes, req.method, req.path);
  if (found.id < 0 && !found.path_known)
    co_return http::json_error(404, "not found");
  if (found.id < 0) {
    auto res = http::json_error(405, "method not allowed");
    res.extra_headers = "Allow: " + found.allow + "\r\n";
    co_return res;
  }
  in_flight counted(srv.stats);
  c.deadline = tut::clock::time_point::max();  // no hurry while we work
  try {
    switch (endpoint(found.id)) {
      case endpoint::root:
        co_return http::json(200, R"({"hello": "Asyncio"})");
      case endpoint::dashboard: {
        int user_id = 0;
        auto p = found.param;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(),
                                         user_id);
        if (ec != std::errc() || end != p.data() + p.size() || user_id < 0)
          co_return http::json_error(422, "user_id must be a number");
        if (!srv.cfg.upstream)
          co_return http::json_error(503, "no upstream service configured");
        co_return co_await handle_dashboard(srv, user_id);
      }
      case endpoint::upload:
        co_return co_await handle_upload(srv, req);
      case endpoint::log:
        co_return co_await handle_log(srv, req);
      case endpoint::cpu_heavy:
        co_return co_await handle_cpu_heavy(srv);
      case endpoint::sleep:
        co_return co_await handle_sleep(req);
    }
  } catch (const std::exception&) {
    co_return http::json_error(500, "internal error");
  }
  co_return http::json_error(500, "internal error");
}

// ---- Taking connections in ------------------------------------------------

connection& open_connection(server& srv, tcp::socket socket) {
  asio::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto& c = srv.connections.emplace_front(std::move(socket));
  c.self = srv.connections.begin();
  web::raise_peak(srv.stats.peak_connections, ++srv.stats.connections);
  return c;
}

// Removes a connection whose coroutine is over, and lets shutdown know.
void close_connection(server& srv, connection& c) {
  srv.connections.erase(c.self);
  --srv.stats.connections;
  wake(srv);
}

asio::cancellation_slot_binder<web::on_done, asio::cancellation_slot>
when_closed(server& srv, connection& c) {
  auto close = [s = srv.shared_from_this(), &c](std::exception_ptr) {
    // Right after the coroutine, not in it: its last steps use c.cancel.
    asio::post(s->executor, [s, &c] { close_connection(*s, c); });
  };
  return asio::bind_cancellation_slot(c.cancel.slot(),
                                      web::on_done{std::move(close)});
}

// Answers 503 to a connection over the cap, and closes it.
void turn_away(server& srv, tcp::socket& socket) {
  static const std::string busy = [] {
    auto res = http::json_error(503, "too many connections");
    std::string out;
    http::write_head(out, res, false);
    return out + res.body;
  }();
  asio::error_code ignored;
  socket.write_some(asio::buffer(busy), ignored);  // a new socket has room
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  ++srv.stats.refused;
}

// Takes one more connection that is already waiting, if there is one, up
// to 16 in a row: after a wake-up, the accept loop takes a burst at a time,
// not one per turn of the loop (thousands of clients connecting together
// would otherwise wait in the kernel's queue, or overflow it), yet the
// connections already taken get to read their requests between bursts.
bool take_waiting(server& srv, tcp::socket& socket) {
  constexpr int burst = 16;
  if (++srv.taken_in_a_row >= burst) {
    srv.taken_in_a_row = 0;
    return false;
  }
  asio::error_code ec;
  socket = tcp::socket(srv.executor);
  srv.acceptor.accept(socket, ec);
  if (ec) srv.taken_in_a_row = 0;
  return !ec;
}

void start_worker(server& srv) {
  srv.worker_running = true;
  co_spawn(srv.executor, background_worker(srv),
           asio::bind_cancellation_slot(
               srv.worker_cancel.slot(),
               [s = srv.shared_from_this()](std::exception_ptr) {
                 asio::post(s->executor, [s] {
                   s->worker_running = false;
                   wake(*s);
                 });
               }));
}

// ---- What shutdown needs --------------------------------------------------

// Closes the connections that are waiting for a new request. The others
// finish the request they are on, then close (read_more and write_reply
// look at srv.stopping).
void close_idle_connections(server& srv) {
  asio::error_code ignored;
  for (auto& c : srv.connections)
    if (c.idle) c.socket.cancel(ignored);
}

namespace {

template <typename F>
awaitable<void> wait_until(server& srv, F done) {
  while (!done()) {
    srv.changed.expires_at(tut::clock::time_point::max());
    co_await srv.changed.async_wait(as_tuple(use_awaitable));
  }
}

}  // namespace

awaitable<void> connections_closed(server& srv) {
  co_await wait_until(srv, [&srv] { return srv.connections.empty(); });
}

awaitable<void> worker_stopped(server& srv) {
  co_await wait_until(srv, [&srv] { return !srv.worker_running; });
}

// Cancels every connection and the worker, wherever they are waiting.
void cancel_everything(server& srv) {
  for (auto& c : srv.connections)
    c.cancel.emit(asio::cancellation_type::terminal);
  srv.worker_cancel.emit(asio::cancellation_type::terminal);
}

}  // namespace lesson10
