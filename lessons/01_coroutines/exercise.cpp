// Lesson 01: coroutines. An `asio::awaitable<T>` function is C++'s
// `async def`: calling it makes a suspended coroutine and runs nothing. Its
// body runs when someone `co_await`s it (Python's `await`) or spawns it as a
// task (`co_spawn`, Python's `asyncio.create_task`).
//
// Fill in the six TODOs; `scripts/tutor` grades each one as you save.
#include "lesson.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace std::chrono_literals;

namespace lesson01 {

// Given. `co_await` suspends `greet` until the sleep is over; meanwhile the
// loop is free to run other tasks.
awaitable<std::string> greet(std::string name) {
  co_await tut::sleep(100ms);
  co_return "Hello, " + name + "!";
}

// Given. An exception thrown inside a coroutine travels to whoever
// `co_await`s it, exactly like an exception from a plain function call.
awaitable<int> parse_port(std::string text) {
  co_await tut::sleep(10ms);
  std::size_t used = 0;
  int port = 0;
  try {
    port = std::stoi(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument("not a port: '" + text + "'");
  }
  if (used != text.size() || port < 1 || port > 65535)
    throw std::invalid_argument("not a port: '" + text + "'");
  co_return port;
}

// Task 1: wait `delay` without blocking the loop, then return a + b.
awaitable<int> add_slowly(int a, int b, tut::clock::duration delay) {
  // TODO: wait for `delay` on the loop with `tut::sleep` (asyncio.sleep),
  // then return the sum. Calling tut::sleep only makes the wait; it happens
  // when you `co_await` it. A coroutine returns with `co_return`.
  co_return 0;
}

// Task 2: greet `first`, then `second`, and return both greetings in order.
awaitable<std::vector<std::string>> greet_both(std::string first,
                                               std::string second) {
  // TODO: `greet` is a coroutine too: awaiting it gives its std::string.
  // Await one greeting, then the other, and return both.
  co_return std::vector<std::string>{};
}

// Task 3: the port parsed from `text`, or `fallback` when parse_port throws
// std::invalid_argument. Any other exception is not ours to hide.
awaitable<int> port_or(std::string text, int fallback) {
  // TODO: await `parse_port` inside a `try` block. Its exception comes out
  // of the co_await, where a `catch` for std::invalid_argument (and only
  // that) can turn it into the fallback.
  co_return fallback;
}

// Task 4: run `job` as its own task and return straight away.
void start_in_background(asio::any_io_executor ex, awaitable<void> job) {
  // TODO: hand `job` to the loop as a task of its own with `co_spawn`
  // (asyncio.create_task). Nobody waits for its result here: the completion
  // token `detached` says so. Until it is spawned or awaited, `job` does
  // nothing at all.
}

// Task 5: after `delay`, append `message` to `log`, in a task of its own;
// return at once. Only `log` is sure to outlive that task.
void remind_later(asio::any_io_executor ex, std::vector<std::string>& log,
                  tut::clock::duration delay, std::string message) {
  // TODO: the task needs a body that waits and then logs: a coroutine of
  // your own. It runs on after remind_later has returned and `message` is
  // gone, so it must keep what it uses itself: a coroutine's by-value
  // parameters live in its frame as long as it runs. Spawn it as in task 4.
}

// Task 6: a plain (non-coroutine) function that runs
// add_slowly(20, 22, 1s) on an event loop and returns its result.
int run_add() {
  // TODO: plain code cannot co_await. `tut::run` is asyncio.run: it makes
  // the loop, runs a coroutine to the end and hands back what it returned.
  return 0;
}

}  // namespace lesson01
