// Lesson 06's demo runs your exercise.cpp in real time. A full queue is
// closed while a consumer drains it; join() waits for slow handling; then
// the pipeline of three producers (5 items each, one every 100 ms) and 3 or
// 5 consumers (1 s per item) runs through a queue with room for 2 items.
// Run it with `scripts/tutor run 06`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace std::chrono_literals;

namespace {

// Seconds on the loop's clock, for the figures printed below.
double now_s() { return tut::seconds(tut::now().time_since_epoch()).count(); }

// A consumer that takes every item, then sees the end of the stream.
awaitable<void> drain(std::shared_ptr<lesson06::async_queue> queue) {
  std::vector<std::string> popped;
  while (auto item = co_await queue->pop()) popped.push_back(*item);
  fmt::print("the consumer popped [{}], then the end of the stream\n",
             fmt::join(popped, ", "));
}

// A queue of 3 filled with a, b and c: close() waits for room behind them
// while the consumer drains the queue, and the end comes out last.
awaitable<void> close_and_drain() {
  auto ex = co_await asio::this_coro::executor;
  auto queue = std::make_shared<lesson06::async_queue>(ex, 3);
  std::vector<std::string> items{"a", "b", "c"};
  for (const auto& item : items) co_await queue->push(item);
  co_spawn(ex, drain(queue), detached);
  co_await queue->close();
  fmt::print("close() returned: the end of the stream is queued behind "
             "the items\n");
}

// A consumer that spends 200 ms on each of three items and marks each one
// done when its work is over.
awaitable<void> handle_three(std::shared_ptr<lesson06::async_queue> queue) {
  for (int i = 0; i < 3; ++i) {
    auto item = co_await queue->pop();
    co_await tut::sleep(200ms);
    queue->task_done();
  }
}

// join() returns when the last of the three items is marked done: after
// 600 ms, not when the consumer took them.
awaitable<void> join_demo() {
  auto ex = co_await asio::this_coro::executor;
  auto queue = std::make_shared<lesson06::async_queue>(ex, 3);
  auto start = tut::now();
  std::vector<std::string> items{"a", "b", "c"};
  for (const auto& item : items) co_await queue->push(item);
  co_spawn(ex, handle_three(queue), detached);
  co_await queue->join();
  fmt::print("join() returned after {:.3f} s: three items of 200 ms, "
             "handled in turn (expected 0.600 s)\n",
             tut::seconds(tut::now() - start).count());
}

// The whole pipeline on a fresh loop, its figures and its timeline: the
// producers' pushes wait for room, so they spread out over the run.
void pipeline(int consumers, double expected) {
  auto start = now_s();
  auto handled = tut::run(lesson06::run_pipeline(consumers, 2));
  auto trace = tut::current_trace();
  fmt::print("\n{} consumers: {} items handled in {:.3f} s (expected "
             "{:.3f} s)\n",
             consumers, handled.size(), now_s() - start, expected);
  fmt::print("  handled in this order: {}\n", fmt::join(handled, " "));
  fmt::print("{}", tut::render_timeline(trace));
}

}  // namespace

// 15 items of 1 s over N consumers take 15 / N rounds of 1 s, after the
// first items are made: three at 0.1 s, three more at 0.2 s (so with five
// consumers, two of them start at 0.2 s).
int main() {
  try {
    tut::run(close_and_drain());
    tut::run(join_demo());
    pipeline(3, 5.1);
    pipeline(5, 3.2);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
