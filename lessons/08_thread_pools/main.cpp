// Lesson 08's demo runs your exercise.cpp in real time. First your
// worst_lag watches a loop that a handler holds for 150 ms. Then a small
// server on 127.0.0.1 answers each request after 200 ms: three requests go
// to it with the blocking client called right on the loop, then through
// your fetch, then two through fetch_both, and tut::lag_monitor says how
// long the loop stalled each time.
// Run it with `scripts/tutor run 08`.
#include "lesson.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// GET /pages/<name> answers "page <name>" after 200 ms.
class slow_server {
public:
  slow_server() {
    server_.Get(R"(/pages/(\w+))", [](const httplib::Request& req,
                                      httplib::Response& res) {
      std::this_thread::sleep_for(200ms);
      res.set_content("page " + req.matches[1].str(), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ < 0) throw std::runtime_error("cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~slow_server() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A duration in milliseconds, and one run's figures with its timeline.
double ms(tut::clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void report(const char* what, tut::clock::duration lag) {
  auto trace = tut::current_trace();
  fmt::print("{}: {:.2f} s, the loop's worst lag {:.1f} ms\n{}\n", what,
             trace.elapsed.count(), ms(lag), tut::render_timeline(trace));
}

// Computes for 150 ms without giving the loop back.
awaitable<void> greedy_handler() {
  co_await tut::sleep(25ms);
  tut::block_for(150ms);
}

// The blocking client called right in the coroutine: the mistake.
awaitable<void> blocking_request(int port, int id) {
  lesson08::blocking_get(port, fmt::format("/pages/p{}", id));
  co_return;
}

// The same request through your fetch: the wait happens on the pool.
awaitable<void> pooled_request(asio::thread_pool& pool, int port, int id) {
  co_await lesson08::fetch(pool, port, fmt::format("/pages/p{}", id));
}

// Three requests at once, under the lag monitor (which prints a warning
// for each stall over 100 ms, like asyncio's debug mode).
template <typename Request>
awaitable<void> three_requests(Request request, tut::clock::duration& lag) {
  tut::lag_monitor monitor(co_await asio::this_coro::executor);
  co_await (tut::traced("request 1", request(1)) &&
            tut::traced("request 2", request(2)) &&
            tut::traced("request 3", request(3)));
  lag = monitor.max_lag();
}

// Two pages at once through fetch_both, under the lag monitor.
awaitable<void> two_pages(asio::thread_pool& pool, int port,
                          tut::clock::duration& lag) {
  tut::lag_monitor monitor(co_await asio::this_coro::executor);
  auto [a, b] = co_await tut::traced(
      "fetch_both", lesson08::fetch_both(pool, port, "/pages/a", "/pages/b"));
  lag = monitor.max_lag();
  fmt::print("fetch_both: \"{}\" and \"{}\"\n", a, b);
}

}  // namespace

// The lag first, on a loop of its own; then the three ways to call the
// server, each on a fresh loop, all sharing one pool of 4 threads.
int main() {
  try {
    auto lag = tut::run([]() -> awaitable<tut::clock::duration> {
      co_spawn(co_await asio::this_coro::executor,
               tut::traced("greedy handler", greedy_handler()), detached);
      co_return co_await tut::traced("worst_lag",
                                     lesson08::worst_lag(10ms, 25));
    }());
    fmt::print("a handler computes for 150 ms; your worst_lag saw the loop "
               "stall for {:.1f} ms\n\n",
               ms(lag));

    slow_server server;
    int port = server.port();
    asio::thread_pool pool(4);

    fmt::print("three requests, the blocking client called on the loop:\n");
    tut::run(three_requests(
        [port](int id) { return blocking_request(port, id); }, lag));
    report("blocking on the loop", lag);

    fmt::print("three requests through your fetch (the thread pool):\n");
    tut::run(three_requests(
        [&pool, port](int id) { return pooled_request(pool, port, id); },
        lag));
    report("through the pool", lag);

    fmt::print("two pages through your fetch_both:\n");
    tut::run(two_pages(pool, port, lag));
    report("fetch_both", lag);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
