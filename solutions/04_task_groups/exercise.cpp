// Lesson 04: task groups, or structured concurrency. asyncio.TaskGroup
// starts tasks that run at once, waits for all of them, and makes sure none
// outlives the block that started it: when one fails, the others are
// cancelled, their cleanup runs, and the first error comes out of the
// `async with` only once they have all ended. Here you build the same
// thing on Asio: a task_group that spawns tasks with a cancellation signal
// each, counts them, and cancels the rest on the first failure.
//
// Reference solution: a task belongs to a group; the group waits for all its
// tasks, and a failure, or a cancellation from outside, cancels them all.
#include "lesson.hpp"

#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <utility>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace lesson04 {

// Given. What a group's tasks share. Each task has a cancellation signal
// that reaches it (a deque never moves them, so they can be added while
// tasks run). `all_ended` is a timer used as an event: it never expires by
// itself, and `all_ended.cancel()` wakes whoever waits on it.
struct task_group::state {
  explicit state(asio::any_io_executor ex)
      : executor(ex), all_ended(ex, tut::timer::time_point::max()) {}

  asio::any_io_executor executor;
  std::deque<asio::cancellation_signal> signals;  // one per task
  std::size_t running = 0;          // tasks started and not ended
  std::exception_ptr first_error;   // the failure that cancelled the rest
  tut::timer all_ended;
};

// Given. Asks every task to stop: the wait it is in ends with
// operation_aborted. A task that has already ended is not bothered.
void cancel_all(task_group::state& s) {
  for (auto& signal : s.signals) signal.emit(asio::cancellation_type::terminal);
}

task_group::task_group(asio::any_io_executor ex)
    : state_(std::make_shared<state>(ex)) {}

void task_group::cancel() { cancel_all(*state_); }

std::size_t task_group::running() const { return state_->running; }

// Tasks 2 and 3: a task of the group has ended, with `error` if it failed.
void task_ended(task_group::state& s, std::exception_ptr error) {
  if (error && !s.first_error) {
    s.first_error = error;
    cancel_all(s);
  }
  if (--s.running == 0) s.all_ended.cancel();
}

// Task 1: start the task now, with its own cancellation signal.
void task_group::spawn(awaitable<void> task) {
  auto& signal = state_->signals.emplace_back();
  ++state_->running;
  co_spawn(state_->executor, std::move(task),
           asio::bind_cancellation_slot(
               signal.slot(), [s = state_](std::exception_ptr error) {
                 task_ended(*s, error);
               }));
}

// Tasks 2, 3 and 4: wait for every task. If this wait is cancelled, pass
// that on to the tasks, and still wait for them to end.
awaitable<void> task_group::wait() {
  auto s = state_;  // the state lives while this wait does
  bool cancelled = false;
  while (s->running > 0) {
    co_await s->all_ended.async_wait(as_tuple(use_awaitable));
    auto me = co_await asio::this_coro::cancellation_state;
    if (me.cancelled() != asio::cancellation_type::none) {
      cancelled = true;
      cancel_all(*s);
      co_await asio::this_coro::reset_cancellation_state();
    }
  }
  if (s->first_error) std::rethrow_exception(s->first_error);
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
}

// Task 5: leaving a group's scope cancels what it could not wait for.
task_group::~task_group() { cancel(); }

// Task 5: the body is a task of the group too, so a failing task cancels
// the body, and the body failing cancels the tasks.
awaitable<void> with_task_group(
    std::function<awaitable<void>(task_group&)> body) {
  task_group group(co_await asio::this_coro::executor);
  group.spawn(body(group));
  co_await group.wait();
}

}  // namespace lesson04
