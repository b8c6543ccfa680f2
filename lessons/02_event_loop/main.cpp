// Lesson 02 demo: runs your exercise.cpp in real time. Three waits of 1, 2
// and 3 s in turn, then started together; two counters taking turns; and a
// heartbeat that shows whether request handlers block the loop.
// Run it with `scripts/tutor run 02`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace std::chrono_literals;

namespace {

std::vector<awaitable<void>> three_waits() {
  std::vector<awaitable<void>> jobs;
  for (int s : {1, 2, 3})
    jobs.push_back(tut::traced(fmt::format("wait {}s", s),
                               tut::sleep(std::chrono::seconds(s))));
  return jobs;
}

void report(const char* what) {
  auto trace = tut::current_trace();
  fmt::print("{}: {:.1f} s\n{}\n", what, trace.elapsed.count(),
             tut::render_timeline(trace));
}

// Ticks every 100 ms and prints how late each tick was.
awaitable<void> heartbeat() {
  auto start = tut::now();
  for (int tick = 1; tick <= 5; ++tick) {
    co_await tut::sleep(100ms);
    auto late = tut::now() - (start + tick * 100ms);
    fmt::print("  heartbeat {} ({:.0f} ms late)\n", tick,
               tut::seconds(late).count() * 1000);
  }
}

awaitable<void> request(int id) {
  auto reply = co_await lesson02::handle_request(id, 200ms);
  fmt::print("  {}\n", reply);
}

}  // namespace

int main() {
  try {
    tut::run(lesson02::run_in_turn(three_waits()));
    report("in turn");

    tut::run([]() -> awaitable<void> {
      lesson02::start_together(co_await asio::this_coro::executor,
                               three_waits());
    }());
    report("together");

    std::vector<std::string> log;
    tut::run([&]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      co_spawn(ex, lesson02::count("a", 3, log), detached);
      co_spawn(ex, lesson02::count("b", 3, log), detached);
      lesson02::log_later(ex, log, "(posted)");
      co_return;
    }());
    fmt::print("counters: {}\n\n", fmt::join(log, " "));

    fmt::print("heartbeat every 100 ms, three requests of 200 ms:\n");
    tut::run([]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      co_spawn(ex, tut::traced("heartbeat", heartbeat()), detached);
      for (int id = 1; id <= 3; ++id)
        co_spawn(ex, tut::traced(fmt::format("request {}", id), request(id)),
                 detached);
      co_return;
    }());
    report("requests");
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
