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

template <typename T>
T run(asio::awaitable<T> main) {
  asio::io_context ctx(1);
  std::exception_ptr error;
  std::optional<T> result;
  bool done = false;
  detail::begin_run();
  asio::co_spawn(ctx, std::move(main), [&](std::exception_ptr e, T value) {
    done = true;
    error = e;
    if (!e) result.emplace(std::move(value));
  });
  try {
    detail::drive(ctx);
  } catch (...) {
    detail::end_run();
    throw;
  }
  detail::end_run();
  if (error) std::rethrow_exception(error);
  if (!done)
    throw deadlock_error(detail::describe_waiting(current_trace()));
  return std::move(*result);
}

inline void run(asio::awaitable<void> main) {
  asio::io_context ctx(1);
  std::exception_ptr error;
  bool done = false;
  detail::begin_run();
  asio::co_spawn(ctx, std::move(main), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  try {
    detail::drive(ctx);
  } catch (...) {
    detail::end_run();
    throw;
  }
  detail::end_run();
  if (error) std::rethrow_exception(error);
  if (!done)
    throw deadlock_error(detail::describe_waiting(current_trace()));
}

}  // namespace tut
