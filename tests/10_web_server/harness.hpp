// Lesson 10's test harness. The server under test runs on a thread and a
// loop of its own, as it would in production; the tests are its clients,
// over real sockets on 127.0.0.1, on the real clock. Everything a client
// does has a time limit, so a server that hangs fails the test instead of
// hanging it, and a server that never stops is left behind, not waited for.
//
// What is graded is what a client or the server's own counters observe:
// statuses, bodies, the order replies come in, connections closed, peaks of
// requests in flight. The lag monitor on the server's loop explains what
// went wrong when the loop was held.
#pragma once

#include "grading.hpp"
#include "given/web.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace harness {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using duration = tut::clock::duration;
namespace fs = std::filesystem;

using serve_fn = awaitable<void> (*)(web::config, web::server_stats&);

inline double ms(duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// ---- Signals --------------------------------------------------------------

// The tests send SIGTERM to their own process, with a signal_set of their
// own waiting for it: the set installs Asio's handler, which hands the
// signal to every signal_set (the server's too, if it has one). A server
// that does not listen for the signal is simply not told, instead of the
// test program being killed.
inline void send_sigterm() {
  asio::io_context ctx;
  asio::signal_set guard(ctx, SIGTERM);
  // Catch2 installs a handler of its own for each test case: put back the
  // one Asio installs (a signal_set made earlier keeps Asio from doing it
  // again).
  struct sigaction asio_action {};
  asio_action.sa_handler = asio::detail::asio_signal_handler;
  sigfillset(&asio_action.sa_mask);
  ::sigaction(SIGTERM, &asio_action, nullptr);
  guard.async_wait([](asio::error_code, int) {});
  ::kill(::getpid(), SIGTERM);
  ctx.run_for(std::chrono::milliseconds(500));  // until it is delivered
}

// ---- A scratch data directory ---------------------------------------------

class temp_dir {
public:
  temp_dir() {
    std::string pattern =
        (fs::temp_directory_path() / "asynclings-10-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

  // Every file in the directory, names only, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(path_, ec))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

private:
  fs::path path_;
};

// ---- The server under test ------------------------------------------------

// A config that keeps tests short: small limits, short timeouts.
inline web::config test_config(const fs::path& data) {
  web::config cfg;
  cfg.data_dir = data;
  cfg.idle_timeout = 300ms;
  cfg.shutdown_deadline = 800ms;
  cfg.limits.max_head = 4096;
  cfg.limits.max_body = 64 * 1024;
  cfg.limits.max_headers = 32;
  cfg.max_connections = 64;
  cfg.upstream_timeout = 1s;
  cfg.job_latency = 100ms;
  cfg.threads = 2;
  return cfg;
}

class server_run {
  struct state {
    asio::io_context ctx{1};
    web::server_stats stats;
    std::atomic<bool> finished{false};     // serve() returned or threw
    std::atomic<bool> loop_ended{false};   // ctx.run() returned
    std::atomic<bool> stopped_by_us{false};
    std::string error;                     // set before `finished`
    std::atomic<long long> worst_lag{0};   // nanoseconds
    std::thread thread;
  };

  // Servers whose loop would not stop (stuck in a blocking call) are left
  // behind here, never destroyed.
  static std::vector<std::shared_ptr<state>>& abandoned() {
    static auto* kept = new std::vector<std::shared_ptr<state>>;
    return *kept;
  }

  static awaitable<void> watch_lag(state* s) {
    tut::lag_options o;
    o.threshold = 30ms;
    o.interval = 5ms;
    o.on_warning = [s](duration lag) {
      long long seen = s->worst_lag.load();
      while (lag.count() > seen &&
             !s->worst_lag.compare_exchange_weak(seen, lag.count())) {
      }
    };
    tut::lag_monitor monitor(co_await asio::this_coro::executor, o);
    while (!s->finished.load()) co_await tut::sleep(10ms);
  }

public:
  server_run(serve_fn run, web::config cfg)
      : serve_(run), s_(std::make_shared<state>()) {
    auto* s = s_.get();
    asio::co_spawn(s->ctx, run(std::move(cfg), s->stats),
                   [s](std::exception_ptr e) {
                     if (e) s->error = grade::describe_exception(e);
                     s->finished = true;
                   });
    asio::co_spawn(s->ctx, watch_lag(s), asio::detached);
    s->thread = std::thread([s] {
      try {
        s->ctx.run();
      } catch (const std::exception& e) {
        if (s->error.empty()) s->error = e.what();
      }
      s->loop_ended = true;
    });
  }

  ~server_run() {
    if (!s_->loop_ended) {
      s_->stopped_by_us = true;
      s_->ctx.stop();
    }
    for (int i = 0; i < 2000 && !s_->loop_ended; ++i)
      std::this_thread::sleep_for(1ms);
    if (s_->loop_ended) {
      s_->thread.join();
    } else {
      s_->thread.detach();  // its loop is stuck in a blocking call
      abandoned().push_back(s_);
    }
  }
  server_run(const server_run&) = delete;
  server_run& operator=(const server_run&) = delete;

  // Waits until the server listens; false if it did not within `limit`.
  bool listening(duration limit = 3s) const {
    auto until = std::chrono::steady_clock::now() + limit;
    while (s_->stats.port == 0 && !s_->finished &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    return s_->stats.port != 0;
  }
  unsigned short port() const { return s_->stats.port; }
  serve_fn serve() const { return serve_; }
  web::server_stats& stats() const { return s_->stats; }

  bool finished() const { return s_->finished; }
  // serve()'s exception, described; empty when it returned normally.
  std::string error() const { return s_->finished ? s_->error : ""; }

  // The longest the server's loop was held since the last reset.
  duration worst_lag() const { return duration{s_->worst_lag.load()}; }
  void reset_lag() { s_->worst_lag = 0; }

private:
  serve_fn serve_;
  std::shared_ptr<state> s_;
};

// ---- Clients --------------------------------------------------------------

inline awaitable<void> sleep_until(tut::clock::time_point t) {
  tut::timer timer(co_await asio::this_coro::executor, t);
  co_await timer.async_wait(use_awaitable);
}

struct reply {
  int status = 0;
  std::string headers;
  std::string body;
  bool keep_alive = true;
  std::string header(std::string_view name) const {
    return std::string(http::detail::find_header(headers, name));
  }
};

// How a wait for the server ended.
enum class ending { reply, closed, reset, timed_out, malformed };

inline const char* to_string(ending e) {
  switch (e) {
    case ending::reply: return "a reply";
    case ending::closed: return "the connection closed";
    case ending::reset: return "the connection reset";
    case ending::timed_out: return "nothing (time limit)";
    case ending::malformed: return "a malformed reply";
  }
  return "?";
}

class client {
public:
  explicit client(asio::any_io_executor ex) : socket_(ex) {}

  // Connects to the server; false if it did not accept within `limit`.
  awaitable<bool> connect(unsigned short port, duration limit = 1s) {
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    auto r = co_await (socket_.async_connect(at, as_tuple(use_awaitable)) ||
                       tut::sleep(limit));
    co_return r.index() == 0 && !std::get<0>(std::get<0>(r));
  }

  // Sends bytes; false once the server has closed the connection. (Asio
  // would wait forever for a second write after a failed one: the socket's
  // error does not wake its epoll again.)
  awaitable<bool> send(std::string_view bytes) {
    if (send_failed_) co_return false;
    auto [ec, n] = co_await asio::async_write(
        socket_, asio::buffer(bytes.data(), bytes.size()),
        as_tuple(use_awaitable));
    send_failed_ = bool(ec);
    co_return !ec;
  }

  // The next reply, or how the wait ended instead.
  awaitable<ending> receive(reply& out, duration limit = 2s) {
    auto until = tut::now() + limit;
    for (;;) {
      if (eof_ && buffer_.empty()) co_return end_;
      auto r = http::parse_response(buffer_, eof_);
      if (r.status == http::parse_status::complete) {
        out.status = r.code;
        out.headers = std::string(r.headers);
        out.body = std::string(r.body);
        out.keep_alive = r.keep_alive;
        buffer_.erase(0, r.consumed);
        co_return ending::reply;
      }
      if (r.status == http::parse_status::error) co_return ending::malformed;
      if (eof_) co_return buffer_.empty() ? end_ : ending::malformed;
      co_await read(until);
      if (timed_out_) {
        timed_out_ = false;
        co_return ending::timed_out;
      }
    }
  }

  // Waits for the server to close the connection (any bytes that come
  // first are kept for receive()). timed_out: it stayed open.
  awaitable<ending> closed(duration limit) {
    auto until = tut::now() + limit;
    while (!eof_) {
      co_await read(until);
      if (timed_out_) {
        timed_out_ = false;
        co_return ending::timed_out;
      }
    }
    co_return end_;
  }

  // Half-closes: the server reads EOF after what was sent.
  void shutdown_send() {
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  // An abrupt close: the server gets a TCP reset.
  void reset() {
    asio::error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
  }

  tcp::socket& socket() { return socket_; }

private:
  awaitable<void> read(tut::clock::time_point until) {
    char chunk[16 * 1024];
    auto r = co_await (socket_.async_read_some(asio::buffer(chunk),
                                               as_tuple(use_awaitable)) ||
                       sleep_until(until));
    if (r.index() == 1) {
      timed_out_ = true;
      co_return;
    }
    auto [ec, n] = std::get<0>(r);
    buffer_.append(chunk, n);
    if (ec) {
      eof_ = true;
      end_ = ec == asio::error::eof ? ending::closed : ending::reset;
    }
  }

  tcp::socket socket_;
  std::string buffer_;
  bool eof_ = false;
  bool timed_out_ = false;
  bool send_failed_ = false;
  ending end_ = ending::closed;
};

// One request on a connection of its own: the reply, or how it ended.
struct exchange_result {
  ending end = ending::timed_out;
  reply answer;
  // After the reply: did the server close the connection (it should after
  // an error), or keep it open for the next request?
  ending after = ending::timed_out;
};

inline awaitable<exchange_result> exchange(unsigned short port,
                                           std::string bytes,
                                           duration limit = 2s,
                                           bool watch_close = false) {
  exchange_result out;
  client c(co_await asio::this_coro::executor);
  if (!co_await c.connect(port)) {
    out.end = ending::reset;
    co_return out;
  }
  co_await c.send(bytes);
  out.end = co_await c.receive(out.answer, limit);
  if (out.end == ending::reply && watch_close)
    out.after = co_await c.closed(500ms);
  co_return out;
}

inline std::string get(std::string_view target,
                       std::string_view extra = {}) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: test\r\n{}\r\n", target, extra);
}

inline std::string post(std::string_view target, std::string_view body) {
  return fmt::format(
      "POST {} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{}",
      target, body.size(), body);
}

// Waits until `done()` holds, looking every 2 ms; false after `limit`.
inline awaitable<bool> eventually(std::function<bool()> done, duration limit) {
  auto end = tut::now() + limit;
  while (!done()) {
    if (tut::now() > end) co_return false;
    co_await tut::sleep(2ms);
  }
  co_return true;
}

}  // namespace harness
