// Lesson 04: task groups, or structured concurrency. asyncio.TaskGroup
// starts tasks that run at once, waits for all of them, and makes sure none
// outlives the block that started it: when one fails, the others are
// cancelled, their cleanup runs, and the first error comes out of the
// `async with` only once they have all ended. Here you build the same
// thing on Asio: a task_group that spawns tasks with a cancellation signal
// each, counts them, and cancels the rest on the first failure.
//
// Fill in the TODOs; `scripts/tutor` grades each one as you save.
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
  // TODO (task 2): count the task out of `s.running`; the last one to end
  // wakes whoever waits in wait(), through the `all_ended` event.
  // TODO (task 3): the first task to fail is the group's failure: keep its
  // error in `s.first_error` and stop the others (asyncio.TaskGroup cancels
  // the rest when a task fails). The errors that come after it, the
  // cancellations of the others among them, change nothing.
}

// Task 1: start the task now, with its own cancellation signal.
void task_group::spawn(awaitable<void> task) {
  // TODO: start `task` now, with `co_spawn`, as a task that a signal of its
  // own can reach: add one to `state_->signals` (a deque: its signals never
  // move) and bind its slot to the completion handler with
  // `asio::bind_cancellation_slot`. Count the task in `state_->running`.
  // The handler, called with a std::exception_ptr when the task ends,
  // reports to task_ended; it runs after spawn has returned, so it keeps
  // its own copy of `state_`. Keeping `task` to start it later, in wait(),
  // would make it lazy.
}

// Tasks 2, 3 and 4: wait for every task. If this wait is cancelled, pass
// that on to the tasks, and still wait for them to end.
awaitable<void> task_group::wait() {
  auto s = state_;  // the state lives while this wait does
  // TODO (task 2): sleep on the `all_ended` event while tasks are running.
  // Waking it ends the timer's wait with operation_aborted: await it with
  // `as_tuple(use_awaitable)`, so that this comes back as a value, not an
  // exception. A wake-up may come before the count is zero: check the
  // count again after each one.
  // TODO (task 3): once no task is running, rethrow the group's first
  // failure, if there was one.
  // TODO (task 4): a wake-up can also mean that this wait() was cancelled:
  // the timer's wait shares this coroutine's cancellation slot. After each
  // wake-up, look at `asio::this_coro::cancellation_state`. Cancelled: pass
  // it on to the tasks, reset this coroutine's cancellation state
  // (`asio::this_coro::reset_cancellation_state`: until then, every
  // co_await of a cancelled coroutine throws), and keep waiting until they
  // have ended. Then report the cancellation as operation_aborted, unless a
  // task's failure is there to report. Lesson 03's wait_all_ended does
  // much the same.
  co_return;
}

// Task 5: leaving a group's scope cancels what it could not wait for.
task_group::~task_group() {
  // TODO: a destructor cannot co_await, so it cannot wait for the tasks;
  // it can still make sure that none of them outlives the group.
}

// Task 5: the body is a task of the group too, so a failing task cancels
// the body, and the body failing cancels the tasks.
awaitable<void> with_task_group(
    std::function<awaitable<void>(task_group&)> body) {
  task_group group(co_await asio::this_coro::executor);
  // TODO: run the body as a task of the group, then wait for the group:
  // the scope is left only when every task has ended, the body included.
  co_return;
}

}  // namespace lesson04
