// tut::run is asyncio.run: make a loop (an io_context), run the main
// coroutine on it until the loop has no work left, hand back its result or
// rethrow its exception. Under tut::virtual_time the same call runs on
// virtual time and diagnoses deadlocks instead of hanging.
#pragma once

#include "tut/clock.hpp"
#include "tut/trace.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace tut {

// Nothing can run, no timer is pending, and the main coroutine has not
// finished: the program would hang forever. what() names who is waiting.
class deadlock_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// The run went on for longer than the virtual-time limit (a loop that never
// ends, a timer that re-arms itself forever).
class time_limit_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Runs `ctx` until it has no work left, like io_context::run(). In virtual
// mode it jumps the clock between deadlines and throws deadlock_error or
// time_limit_error instead of hanging.
void drive(asio::io_context& ctx);
std::string describe_waiting(const trace& t);
}  // namespace detail

// Runs the main coroutine of no value to its end (compiled once, in the
// tut library).
void run(asio::awaitable<void> main);

namespace detail {
template <typename T>
asio::awaitable<void> keep_result(asio::awaitable<T> main, std::optional<T>& out) {
  out.emplace(co_await std::move(main));
}
}  // namespace detail

// A main coroutine with a value runs inside one of no value that keeps
// the value: what a program that calls run() compiles is this small
// coroutine, not co_spawn's machinery once more for its T.
template <typename T>
T run(asio::awaitable<T> main) {
  std::optional<T> result;
  run(detail::keep_result(std::move(main), result));
  return std::move(*result);
}

}  // namespace tut
