// Fake services for lesson 09's tests: real HTTP servers (cpp-httplib) on
// 127.0.0.1, on ports the system picks, whose answers the test controls,
// and a watched runner for scenarios on the real clock.
//
// Overlap is graded by what the services see, never by wall-clock
// thresholds: how many requests they held at once, in which order requests
// came in and replies went out, on how many connections.
#pragma once

#include "grading.hpp"
#include "httplib_start.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fake {

using ms = std::chrono::milliseconds;

// What every service of one scenario saw, together. Services answer on
// their own threads; everything here is behind one mutex.
class observer {
public:
  void arrived(const std::string& name, int client_port) {
    std::lock_guard lock(mutex_);
    ++in_flight_;
    peak_ = std::max(peak_, in_flight_);
    log_.push_back(name + " in");
    connections_.insert(client_port);
    cv_.notify_all();
  }
  void replied(const std::string& name) {
    std::lock_guard lock(mutex_);
    --in_flight_;
    log_.push_back(name + " out");
  }
  // Holds a request until `company` requests have been in flight at the
  // same time (at most `cap`), then `delay` more. release() ends every
  // hold at once, now and later: the watchdog's way to unstick a run.
  void hold(std::size_t company, ms cap, ms delay) {
    std::unique_lock lock(mutex_);
    if (company > 0)
      cv_.wait_for(lock, cap,
                   [&] { return peak_ >= company || released_; });
    if (delay > ms(0))
      cv_.wait_for(lock, delay, [&] { return released_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }

  std::size_t peak() const {
    std::lock_guard lock(mutex_);
    return peak_;
  }
  std::vector<std::string> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  std::size_t requests() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(log_.begin(), log_.end(), [](const std::string& e) {
          return e.ends_with(" in");
        }));
  }
  // Distinct client-side ports: one per TCP connection.
  std::size_t connections() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;
  std::size_t peak_ = 0;
  bool released_ = false;
  std::vector<std::string> log_;
  std::set<int> connections_;
};

// How one path answers.
struct route {
  std::string path;                // "/user"
  std::string body = "";           // the reply's body
  int status = 200;
  std::size_t company = 0;         // see observer::hold
  ms cap{200};
  ms delay{0};
  bool chunked = false;            // Transfer-Encoding: chunked, 3 chunks
  bool echo = false;               // POST: answer with the request's body
};

// One HTTP service on 127.0.0.1:<port>, answering on its own threads.
class service {
public:
  service(observer& seen, std::string name, std::vector<route> routes)
      : seen_(seen), name_(std::move(name)) {
    // The client may close a connection (a timeout) while we still write
    // to it: that must be EPIPE, not a SIGPIPE that kills the tests.
    std::signal(SIGPIPE, SIG_IGN);
    server_.set_keep_alive_max_count(1000);
    server_.set_keep_alive_timeout(1);
    // Headers and body go out in two writes: without TCP_NODELAY the
    // second waits for the client's delayed ACK (40 ms a reply).
    server_.set_tcp_nodelay(true);
    for (auto& r : routes) add(std::move(r));
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ < 0)
      throw std::runtime_error("the fake " + name_ +
                               " service cannot listen on 127.0.0.1");
    if (!grade::start_listening(server_, thread_, 12)) {
      server_.stop();
      thread_.join();
      throw std::runtime_error("the fake " + name_ +
                               " service did not start within 2 s");
    }
  }
  ~service() {
    seen_.release();
    server_.stop();
    thread_.join();
  }
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

private:
  void add(route r) {
    auto handler = [this, r](const httplib::Request& req,
                             httplib::Response& res) {
      const auto& who = r.path;
      seen_.arrived(who, req.remote_port);
      seen_.hold(r.company, r.cap, r.delay);
      res.status = r.status;
      auto body = r.echo ? req.body : r.body;
      if (r.echo)
        res.set_header("X-Received-Length",
                       req.get_header_value("Content-Length"));
      if (r.chunked) {
        res.set_chunked_content_provider(
            "text/plain", [body](std::size_t, httplib::DataSink& sink) {
              auto third = body.size() / 3;
              sink.write(body.data(), third);
              sink.write(body.data() + third, third);
              sink.write(body.data() + 2 * third, body.size() - 2 * third);
              sink.done();
              return true;
            });
      } else {
        res.set_content(body, "text/plain");
      }
      seen_.replied(who);
    };
    if (r.echo)
      server_.Post(r.path, handler);
    else
      server_.Get(r.path, handler);
  }

  observer& seen_;
  std::string name_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

// A port on 127.0.0.1 where nothing listens: connecting is refused.
inline int closed_port() {
  asio::io_context ctx;
  asio::ip::tcp::acceptor acceptor(
      ctx, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// A server that is not HTTP: accepts one connection on `acceptor`, reads
// the request's head, writes `answer` and hangs up. Gives up after 2 s.
inline asio::awaitable<void> answer_once(asio::ip::tcp::acceptor acceptor,
                                         std::string answer) {
  using namespace asio::experimental::awaitable_operators;
  auto serve = [](asio::ip::tcp::acceptor& a,
                  std::string text) -> asio::awaitable<void> {
    auto socket = co_await a.async_accept(asio::use_awaitable);
    std::string head;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(head),
                                    "\r\n\r\n", asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(text),
                               asio::use_awaitable);
    socket.shutdown(asio::ip::tcp::socket::shutdown_both);
  };
  co_await (serve(acceptor, std::move(answer)) ||
            tut::sleep(std::chrono::seconds(2)));
}

// A server that answers each request with `answer` and then closes the
// connection, as a server does with a connection it does not keep
// ("Connection: close", HTTP/1.0, a body that ends with the connection).
// Counts connections and requests; serves until cancelled.
struct closing_counts {
  int connections = 0;
  int requests = 0;
};

inline asio::awaitable<void> closing_server(asio::ip::tcp::acceptor& acceptor,
                                            std::string answer,
                                            closing_counts& counts) {
  using asio::use_awaitable;
  using asio::experimental::as_tuple;
  auto serve_one = [](asio::ip::tcp::socket socket, std::string text,
                      closing_counts& seen) -> asio::awaitable<void> {
    std::string head;
    auto [ec, n] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(head), "\r\n\r\n", as_tuple(use_awaitable));
    if (ec) co_return;
    ++seen.requests;
    co_await asio::async_write(socket, asio::buffer(text),
                               as_tuple(use_awaitable));
    asio::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  };
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec) co_return;
    ++counts.connections;
    asio::co_spawn(ex, serve_one(std::move(socket), answer, counts),
                   asio::detached);
  }
}

// How long a scenario may take before the watchdog steps in: then every
// service answers at once, and half a second later the loop is stopped.
inline constexpr auto patience = std::chrono::milliseconds(1500);

// One run of a scenario on the real clock (sockets don't follow virtual
// time), as a grade::outcome with the trace, and whether the watchdog had
// to step in.
template <typename T>
struct run_result {
  grade::outcome<T> run;
  bool stuck = false;  // still running after `patience`
};

template <typename T>
asio::awaitable<T> watched(asio::awaitable<T> main, observer& seen,
                           bool& stuck) {
  auto ex = co_await asio::this_coro::executor;
  auto dog = std::make_shared<tut::timer>(ex, patience);
  dog->async_wait([dog, &seen, &stuck, ex](asio::error_code error) {
    if (error) return;
    stuck = true;
    seen.release();
    dog->expires_after(std::chrono::milliseconds(500));
    dog->async_wait([ex](asio::error_code e) {
      if (!e)
        static_cast<asio::io_context&>(
            asio::query(ex, asio::execution::context))
            .stop();
    });
  });
  auto [error, value] = co_await asio::co_spawn(
      ex, std::move(main), asio::experimental::as_tuple(asio::use_awaitable));
  dog->cancel();
  if (error) std::rethrow_exception(error);
  co_return std::move(value);
}

template <typename F>
auto run_real(observer& seen, F make_main) {
  using value_t = typename std::invoke_result_t<F&>::value_type;
  run_result<value_t> out;
  out.run = grade::run_real(
      [&] { return watched(make_main(), seen, out.stuck); });
  return out;
}

}  // namespace fake
