// Lesson 10, given: what the web server is told (config), what it tells
// back (server_stats), the small HTTP client its dashboard uses to call the
// upstream services, and a fake of those services for the demo and tests.
#pragma once

#include "http.hpp"
#include "work.hpp"
#include "tut/tut.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace web {

using namespace std::chrono_literals;

struct config {
  std::string address = "127.0.0.1";
  unsigned short port = 0;                // 0: any free port
  std::filesystem::path data_dir = "data";  // where uploads go
  std::size_t max_connections = 16'384;   // more are answered 503
  tut::clock::duration idle_timeout = 5s;  // to send a whole request
  tut::clock::duration shutdown_deadline = 5s;
  http::limits limits{};
  // The dashboard's services: GET /users/{id}, /orders/{id} and
  // /recommendations/{id} on this address. None: the dashboard answers 503.
  std::optional<asio::ip::tcp::endpoint> upstream;
  tut::clock::duration upstream_timeout = 2s;
  std::uint64_t cpu_work = 200'000;       // /cpu-heavy sums primes below it
  tut::clock::duration disk_latency = 0s;  // a slow disk, for the tests
  tut::clock::duration job_latency = 50ms;  // one background job's wait
  std::size_t threads = 2;                // the pool for blocking work
};

// A completion handler for co_spawn that calls `done`: lesson 10's
// connections end through one (when_closed), a type that does not depend
// on the lesson's namespace, so that the precompiled header holds the
// co_spawn it takes.
struct on_done {
  std::function<void(std::exception_ptr)> done;
  void operator()(std::exception_ptr e) const { done(e); }
};

// What the server reports while it runs. Atomics: whoever runs the server
// (a test, say) reads them from another thread.
struct server_stats {
  std::atomic<unsigned short> port{0};  // set once it listens
  std::atomic<int> connections{0};      // open now
  std::atomic<int> peak_connections{0};
  std::atomic<int> in_flight{0};        // requests being handled now
  std::atomic<int> peak_in_flight{0};
  std::atomic<long> requests{0};        // handled so far
  std::atomic<int> refused{0};          // turned away at max_connections
  std::atomic<int> jobs_queued{0};      // background jobs accepted
  std::atomic<int> jobs_done{0};        // background jobs finished
};

inline void raise_peak(std::atomic<int>& peak, int now) {
  int seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}

// ---- The client: one GET on a connection of its own -----------------------

namespace detail {

// The body, or what went wrong. get() never throws: `a || b` waits for the
// first of the two to *succeed*, so an exception here would be held until
// the timer ran out.
struct got {
  std::string body;
  std::exception_ptr error;
};

inline asio::awaitable<got> get(asio::ip::tcp::socket& socket,
                                asio::ip::tcp::endpoint upstream,
                                std::string target) {
  using asio::use_awaitable;
  try {
    co_await socket.async_connect(upstream, use_awaitable);
    auto request = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
        target, upstream.address().to_string(), upstream.port());
    co_await asio::async_write(socket, asio::buffer(request), use_awaitable);
    std::string in;
    char chunk[4096];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(
          asio::buffer(chunk), asio::experimental::as_tuple(use_awaitable));
      in.append(chunk, n);
      bool eof = ec == asio::error::eof;
      if (ec && !eof) throw asio::system_error(ec, "GET " + target);
      auto r = http::parse_response(in, eof);
      if (r.status == http::parse_status::error)
        throw std::runtime_error("GET " + target + ": a malformed response");
      if (r.status == http::parse_status::complete) {
        if (r.code != 200)
          throw std::runtime_error(
              fmt::format("GET {}: status {}", target, r.code));
        co_return got{std::string(r.body), nullptr};
      }
    }
  } catch (...) {
    co_return got{{}, std::current_exception()};
  }
}

}  // namespace detail

// The body of GET `target` from `upstream`, or an exception: the service
// failed, answered something other than 200, or took longer than `timeout`.
inline asio::awaitable<std::string> fetch(asio::ip::tcp::endpoint upstream,
                                          std::string target,
                                          tut::clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  auto result = co_await (detail::get(socket, upstream, target) ||
                          tut::sleep(timeout));
  if (result.index() == 1)
    throw asio::system_error(asio::error::timed_out, "GET " + target);
  auto answer = std::get<0>(std::move(result));
  if (answer.error) std::rethrow_exception(answer.error);
  co_return std::move(answer.body);
}

// ---- A fake of the upstream services --------------------------------------

// What the fake services saw. They run on one loop: no atomics needed.
struct upstream_counters {
  int in_flight = 0;
  int peak = 0;  // most calls in progress at once
  int calls = 0;
  std::vector<std::string> paths;  // in the order they came
  bool traced = true;  // each call a task on the timeline (tut::traced)
};

namespace detail {

// Counts a call as in flight while the fake service holds it. (Not a class
// local to the coroutine below: g++ 12 cannot mangle one.)
struct upstream_in_flight {
  upstream_counters& seen;
  explicit upstream_in_flight(upstream_counters& s) : seen(s) {
    seen.peak = std::max(seen.peak, ++seen.in_flight);
  }
  ~upstream_in_flight() { --seen.in_flight; }
};

// Never throws, for the || in upstream_connection (see get() above).
inline asio::awaitable<void> upstream_reply(asio::ip::tcp::socket& socket,
                                            tut::clock::duration delay,
                                            upstream_counters& seen) {
  using asio::use_awaitable;
  try {
    std::string in;
    char chunk[4096];
    http::parse_result r;
    do {
      auto n = co_await socket.async_read_some(asio::buffer(chunk),
                                               use_awaitable);
      in.append(chunk, n);
      r = http::parse_request(in);
    } while (r.status == http::parse_status::incomplete);
    if (r.status == http::parse_status::error) co_return;
    std::string path(r.req.path);
    seen.paths.push_back(path);
    ++seen.calls;
    {
      upstream_in_flight counted(seen);
      if (seen.traced)
        co_await tut::traced("upstream " + path, tut::sleep(delay));
      else
        co_await tut::sleep(delay);
    }
    // Orders of user 13 fail: a service that is down.
    auto res = path == "/orders/13"
                   ? http::json_error(500, "the orders service is down")
                   : http::json(200, web::upstream_body(path));
    std::string out;
    http::write_head(out, res, false);
    out += res.body;
    co_await asio::async_write(socket, asio::buffer(out), use_awaitable);
  } catch (const std::exception&) {
    // A caller that went away; nothing to do.
  }
}

inline asio::awaitable<void> upstream_connection(asio::ip::tcp::socket socket,
                                                 tut::clock::duration delay,
                                                 upstream_counters& seen) {
  using namespace asio::experimental::awaitable_operators;
  try {
    co_await (upstream_reply(socket, delay, seen) || tut::sleep(delay + 2s));
  } catch (const std::exception&) {
    // Cancelled.
  }
}

}  // namespace detail

// Serves GET /users/{id}, /orders/{id} and /recommendations/{id}, each
// after `delay`, until cancelled. Any other path gets {"path": ...}.
inline asio::awaitable<void> serve_upstream(asio::ip::tcp::acceptor& acceptor,
                                            tut::clock::duration delay,
                                            upstream_counters& seen) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(ex, detail::upstream_connection(std::move(socket), delay,
                                                   seen),
                   asio::detached);
  }
}

}  // namespace web
