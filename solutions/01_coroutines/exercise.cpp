// Lesson 01: coroutines. An `asio::awaitable<T>` function is C++'s
// `async def`: calling it makes a suspended coroutine and runs nothing. Its
// body runs when someone `co_await`s it (Python's `await`) or spawns it as a
// task (`co_spawn`, Python's `asyncio.create_task`).
//
// Reference solution: `co_await` runs a coroutine and takes its result or
// exception; `co_spawn` starts one that runs on alone, owning what it uses.
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
  co_await tut::sleep(delay);
  co_return a + b;
}

// Task 2: greet `first`, then `second`, and return both greetings in order.
awaitable<std::vector<std::string>> greet_both(std::string first,
                                               std::string second) {
  std::vector<std::string> greetings;
  greetings.push_back(co_await greet(first));
  greetings.push_back(co_await greet(second));
  co_return greetings;
}

// Task 3: the port parsed from `text`, or `fallback` when parse_port throws
// std::invalid_argument. Any other exception is not ours to hide.
awaitable<int> port_or(std::string text, int fallback) {
  try {
    co_return co_await parse_port(text);
  } catch (const std::invalid_argument&) {
    co_return fallback;
  }
}

// Task 4: run `job` as its own task and return straight away.
void start_in_background(asio::any_io_executor ex, awaitable<void> job) {
  co_spawn(ex, std::move(job), detached);
}

// Task 5: after `delay`, append `message` to `log`, in a task of its own;
// return at once. Only `log` is sure to outlive that task.
awaitable<void> remind(std::vector<std::string>& log,
                       tut::clock::duration delay, std::string message) {
  co_await tut::sleep(delay);
  log.push_back(std::move(message));
}

void remind_later(asio::any_io_executor ex, std::vector<std::string>& log,
                  tut::clock::duration delay, std::string message) {
  co_spawn(ex, remind(log, delay, std::move(message)), detached);
}

// Task 6: a plain (non-coroutine) function that runs
// add_slowly(20, 22, 1s) on an event loop and returns its result.
int run_add() {
  return tut::run(add_slowly(20, 22, 1s));
}

}  // namespace lesson01
