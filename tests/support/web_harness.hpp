// The web lessons' test harness (lessons 10 and 11). The server under test
// runs on a thread and a loop of its own, as it would in production; the
// tests are its clients, over real sockets on 127.0.0.1, on the real clock.
// Everything a client does has a time limit, so a server that hangs fails
// the test instead of hanging it, and a server that never stops is left
// behind, not waited for.
//
// What is graded is what a client or the server's own counters observe:
// statuses, heads, bodies, the order replies come in, connections closed or
// refused, peaks of requests in flight. The lag monitor on the server's
// loop explains what went wrong when the loop was held. The bad-input
// suite (run_cases) sends each case on a connection of its own and checks
// the reply and whether the connection was closed after it.
#pragma once

#include "grading.hpp"

#include "common/http.hpp"

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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
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
namespace http = common::http;

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
        (fs::temp_directory_path() / "asynclings-web-XXXXXX").string();
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

  // Every file below the directory, relative names, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(path_, ec))
      if (e.is_regular_file())
        out.push_back(fs::relative(e.path(), path_).string());
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

// Runs `serve(stats)` on a thread and a loop of its own. `Stats` has the
// counters of common::web::server_stats (port, in_flight, ...).
template <typename Stats>
class server_run {
  struct state {
    asio::io_context ctx{1};
    Stats stats;
    std::atomic<bool> finished{false};     // serve() returned or threw
    std::atomic<bool> loop_ended{false};   // ctx.run() returned
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
  using serve_fn = std::function<awaitable<void>(Stats&)>;

  explicit server_run(serve_fn serve) : s_(std::make_shared<state>()) {
    auto* s = s_.get();
    asio::co_spawn(s->ctx, serve(s->stats), [s](std::exception_ptr e) {
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
    if (!s_->loop_ended) s_->ctx.stop();
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
  Stats& stats() const { return s_->stats; }

  bool finished() const { return s_->finished; }
  // serve()'s exception, described; empty when it returned normally.
  std::string error() const { return s_->finished ? s_->error : ""; }

  // The longest the server's loop was held since the last reset.
  duration worst_lag() const { return duration{s_->worst_lag.load()}; }

private:
  std::shared_ptr<state> s_;
};

// ---- Clients --------------------------------------------------------------

inline awaitable<void> sleep_until(tut::clock::time_point t) {
  tut::timer timer(co_await asio::this_coro::executor, t);
  co_await timer.async_wait(use_awaitable);
}

struct reply {
  int status = 0;
  http::received raw;
  std::string body;
  bool keep_alive = true;  // the connection can carry another request
  std::string header(const std::string& name) const { return raw.header(name); }
};

// How a wait for the server ended.
enum class ending { reply, closed, reset, refused, timed_out, malformed };

inline const char* to_string(ending e) {
  switch (e) {
    case ending::reply: return "a reply";
    case ending::closed: return "the connection closed";
    case ending::reset: return "the connection reset";
    case ending::refused: return "the connection refused";
    case ending::timed_out: return "nothing (time limit)";
    case ending::malformed: return "a malformed reply";
  }
  return "?";
}

class client {
public:
  explicit client(asio::any_io_executor ex) : socket_(ex) {}

  // Connects to the server: ending::reply when it accepted, refused when
  // nothing listens, timed_out when it did not accept within `limit`.
  awaitable<ending> open(unsigned short port, duration limit = 1s) {
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    auto r = co_await (socket_.async_connect(at, as_tuple(use_awaitable)) ||
                       tut::sleep(limit));
    if (r.index() == 1) co_return ending::timed_out;
    auto [ec] = std::get<0>(r);
    if (ec == asio::error::connection_refused) co_return ending::refused;
    co_return ec ? ending::reset : ending::reply;
  }
  awaitable<bool> connect(unsigned short port, duration limit = 1s) {
    co_return co_await open(port, limit) == ending::reply;
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

  // The next reply (an interim 100 Continue counts as one), or how the wait
  // ended instead. `to_head`: the reply is to a HEAD request (no body).
  awaitable<ending> receive(reply& out, duration limit = 2s,
                            bool to_head = false) {
    auto until = tut::now() + limit;
    for (;;) {
      if (eof_ && buffer_.empty()) co_return end_;
      auto r = http::parse_response(buffer_, eof_, to_head);
      if (r.status == http::parse_status::complete) {
        out.status = r.res.status;
        out.body = r.res.body;
        out.raw = std::move(r.res);
        out.keep_alive = r.reusable;
        buffer_.erase(0, r.consumed);
        co_return ending::reply;
      }
      if (r.status == http::parse_status::error) co_return ending::malformed;
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

  // Whatever has come and not been taken as a reply.
  const std::string& unread() const { return buffer_; }

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

// A client of the server at `port`, connected (or, if it could not be,
// its send and receive say so).
inline awaitable<client> connected(unsigned short port) {
  client c(co_await asio::this_coro::executor);
  co_await c.connect(port);
  co_return c;
}

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
  if (auto opened = co_await c.open(port); opened != ending::reply) {
    out.end = opened;
    co_return out;
  }
  co_await c.send(bytes);
  out.end = co_await c.receive(out.answer, limit, bytes.starts_with("HEAD "));
  if (out.end == ending::reply && watch_close)
    out.after = co_await c.closed(500ms);
  co_return out;
}

inline std::string get(std::string_view target, std::string_view extra = {}) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: test\r\n{}\r\n", target, extra);
}

inline std::string head(std::string_view target) {
  return fmt::format("HEAD {} HTTP/1.1\r\nHost: test\r\n\r\n", target);
}

inline std::string post(std::string_view target, std::string_view body,
                        std::string_view extra = {}) {
  return fmt::format(
      "POST {} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n{}\r\n{}",
      target, body.size(), extra, body);
}

inline std::string with_length(std::string_view length, std::string_view body = "") {
  return fmt::format("POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: {}"
                     "\r\n\r\n{}",
                     length, body);
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


inline std::string describe(const exchange_result& r) {
  if (r.end != ending::reply) return to_string(r.end);
  return fmt::format("{} {}", r.answer.status, r.answer.body);
}

// After a bad request, the server still answers a good one.
inline awaitable<bool> still_serving(unsigned short port) {
  auto r = co_await exchange(port, get("/"), 1s);
  co_return r.end == ending::reply && r.answer.status == 200;
}

// ---- The bad-input suite --------------------------------------------------

struct bad_case {
  std::string what;
  std::string bytes;
  int status;            // the expected reply; 0: no reply, just a close
  bool closes = true;    // the server closes the connection after it
  bool half_close = false;  // the client sends EOF after its bytes
  // More to check of the reply: what is wrong with it, or "".
  std::function<std::string(const reply&)> also = nullptr;
};

inline std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 120)) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (text.size() > 120) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

// Sends each case on a connection of its own, checks the reply and whether
// the connection was closed after it (or, for a case that keeps it, that a
// second request on it is answered), closes it, then checks that the server
// still serves. Returns one line per case that went wrong.
inline std::vector<std::string> run_cases(unsigned short port,
                                          const std::vector<bad_case>& cases) {
  auto out = grade::run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    for (const auto& c : cases) {
      std::string wrong;
      {
        client conn(co_await asio::this_coro::executor);
        if (!co_await conn.connect(port)) {
          problems.push_back(c.what + ": could not connect");
          continue;
        }
        co_await conn.send(c.bytes);
        if (c.half_close) conn.shutdown_send();
        exchange_result r;
        r.end = co_await conn.receive(r.answer, 1500ms,
                                      c.bytes.starts_with("HEAD "));
        if (r.end == ending::reply && c.closes)
          r.after = co_await conn.closed(800ms);
        if (c.status == 0) {
          if (r.end == ending::reply)
            wrong = fmt::format("got {} {}; expected the connection closed "
                                "without a reply",
                                r.answer.status, r.answer.body);
          else if (r.end == ending::timed_out)
            wrong = "the connection stayed open; expected it closed";
        } else if (r.end != ending::reply) {
          wrong = fmt::format("got {}; expected {} {}", to_string(r.end),
                              c.status, http::reason_phrase(c.status));
        } else if (r.answer.status != c.status) {
          wrong = fmt::format("got {} {}; expected {} {}", r.answer.status,
                              r.answer.body, c.status,
                              http::reason_phrase(c.status));
        } else if (c.closes && r.after == ending::timed_out) {
          wrong = fmt::format("got {} but the connection stayed open; after "
                              "this reply it should be closed",
                              r.answer.status);
        } else if (c.also) {
          wrong = c.also(r.answer);
        }
        if (wrong.empty() && !c.closes && c.status != 0) {
          // Kept: it carries the next request, its framing intact.
          co_await conn.send(get("/"));
          reply next;
          auto end = co_await conn.receive(next, 1s);
          if (end != ending::reply || next.status != 200)
            wrong = fmt::format("got {} as it should, but then GET / on the "
                                "same connection got {}",
                                r.answer.status,
                                end == ending::reply
                                    ? fmt::to_string(next.status)
                                    : to_string(end));
        }
      }
      if (!wrong.empty())
        problems.push_back(fmt::format("{} (\"{}\"): {}", c.what,
                                       printable(c.bytes), wrong));
      if (!co_await still_serving(port)) {
        problems.push_back(fmt::format(
            "after {} (\"{}\") the server no longer answers GET /", c.what,
            printable(c.bytes)));
        break;
      }
    }
    co_return problems;
  });
  if (out.exception) return {"the test's clients failed: " + out.error};
  return *out.value;
}

// How a run cancelled on the real clock ended, without its loop time (the
// real clock counts from the machine's boot).
template <typename T>
std::string ended_as(const grade::cancelled_run<T>& r) {
  if (r.ended() && r.aborted) return "ended with operation_aborted";
  return grade::how_it_ended(r);
}

// ---- serve() cancelled ----------------------------------------------------

// Stops the loop `ex` runs on: a scenario that gives up on a task that does
// not end leaves it behind this way, and the test goes on.
inline void stop_loop(const asio::any_io_executor& ex) {
  static_cast<asio::io_context&>(asio::query(ex, asio::execution::context))
      .stop();
}

// serve(cfg, stats) on the test's loop, traced as "serve", cancelled
// through a bound signal after `after` (grade::cancel_after). A serve()
// that has not ended `limit` after it started is given up on: the run comes
// back as never ended, and the scenario stops the loop (stop_loop).
template <typename Serve, typename Config, typename Stats>
awaitable<grade::cancelled_run<grade::nothing>> cancel_serve(
    Serve serve, Config cfg, Stats& stats, duration after, duration limit) {
  auto r = co_await (
      grade::cancel_after(
          tut::traced("serve", serve(std::move(cfg), stats)),
          after) ||
      tut::sleep(limit));
  if (r.index() == 1) co_return grade::cancelled_run<grade::nothing>{};
  co_return std::get<0>(std::move(r));
}

// Fails the test with one line per problem, then `advice`.
inline void report(const std::vector<std::string>& problems, std::size_t total,
                   std::string_view advice) {
  if (problems.empty()) return;
  FAIL(fmt::format("{} of {} requests were not handled as they should:\n"
                   "  - {}\n{}",
                   problems.size(), total, fmt::join(problems, "\n  - "),
                   advice));
}

// Runs `clients(problems)` on the test's loop: a coroutine that talks to
// the server and notes each request not handled as it should. Then fails
// the test with them (report), `total` requests in all.
template <typename F>
void report_clients(F clients, std::size_t total, std::string_view advice) {
  auto out = grade::run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    co_await clients(problems);
    co_return problems;
  });
  if (!out.value) FAIL("the test's clients failed: " + out.error);
  report(*out.value, total, advice);
}

}  // namespace harness
