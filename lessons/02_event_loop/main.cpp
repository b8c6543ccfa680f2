// The event loop in real time. This demo runs your exercise.cpp on a real
// loop: three waits of 1, 2 and 3 s awaited in turn and then started
// together, two counters taking turns beside a posted callback, and a
// heartbeat that shows whether request handlers hold up the loop. Run it
// with `scripts/tutor run 02`.
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

// Three jobs that wait 1, 2 and 3 s, each a named task on the timeline.
std::vector<awaitable<void>> three_waits() {
  std::vector<awaitable<void>> jobs;
  for (int s : {1, 2, 3})
    jobs.push_back(tut::traced(fmt::format("wait {}s", s),
                               tut::sleep(std::chrono::seconds(s))));
  return jobs;
}

// How long the last run took, and its timeline.
void report(const char* what) {
  auto trace = tut::current_trace();
  fmt::print("{}: {:.1f} s\n{}\n", what, trace.elapsed.count(),
             tut::render_timeline(trace));
}

// Awaited one after the other, the waits add up: 1 + 2 + 3 = 6 s, and only
// one of them is running at any moment.
void in_turn() {
  tut::run(lesson02::run_in_turn(three_waits()));
  report("in turn");
}

// Started together, they end when the longest does, after 3 s: while one
// task waits, the loop runs the others. tut::run returns once the loop has
// no work left, so it waits for the spawned tasks too.
awaitable<void> start_three() {
  lesson02::start_together(co_await asio::this_coro::executor,
                           three_waits());
}

void together() {
  tut::run(start_three());
  report("together");
}

// Two counters that yield after each number take turns. The callback posted
// while they start runs at a later turn of the loop, not inside log_later.
awaitable<void> count_and_post(std::vector<std::string>& log) {
  auto ex = co_await asio::this_coro::executor;
  co_spawn(ex, lesson02::count("a", 3, log), detached);
  co_spawn(ex, lesson02::count("b", 3, log), detached);
  lesson02::log_later(ex, log, "(posted)");
}

void take_turns() {
  std::vector<std::string> log;
  tut::run(count_and_post(log));
  fmt::print("counters: {}\n\n", fmt::join(log, " "));
}

// A heartbeat ticks every 100 ms while three requests of 200 ms each are
// handled. A handler that waits on the loop leaves the ticks on time; one
// that holds the thread makes them late, and the timeline shows the loop
// blocked.
awaitable<void> heartbeat() {
  auto start = tut::now();
  for (int tick = 1; tick <= 5; ++tick) {
    co_await tut::sleep(100ms);
    auto late = tut::now() - (start + tick * 100ms);
    fmt::print("  heartbeat {} ({:.0f} ms late)\n", tick,
               tut::seconds(late).count() * 1000);
  }
}

// A request waits in handle_request, then prints its reply.
awaitable<void> request(int id) {
  auto reply = co_await lesson02::handle_request(id, 200ms);
  fmt::print("  {}\n", reply);
}

// The heartbeat and the three requests, each a task of its own.
awaitable<void> serve() {
  auto ex = co_await asio::this_coro::executor;
  co_spawn(ex, tut::traced("heartbeat", heartbeat()), detached);
  for (int id = 1; id <= 3; ++id)
    co_spawn(ex, tut::traced(fmt::format("request {}", id), request(id)),
             detached);
}

void requests() {
  fmt::print("heartbeat every 100 ms, three requests of 200 ms:\n");
  tut::run(serve());
  report("requests");
}

}  // namespace

// Each part runs on a loop of its own, one after the other.
int main() {
  try {
    in_turn();
    together();
    take_turns();
    requests();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
