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

// Task 3: a task of the group has ended, with `error` if it failed.
void task_ended(task_group::state& s, std::exception_ptr error) {
  // TODO: on the first error, keep it in `s.first_error` and `cancel_all(s)`
  // (asyncio.TaskGroup cancels the rest when a task fails). Then count the
  // task out of `s.running`; the last one wakes the waiter with
  // `s.all_ended.cancel()`.
}

// Task 1: start the task now, with its own cancellation signal.
void task_group::spawn(awaitable<void> task) {
  // TODO: `auto& signal = state_->signals.emplace_back();`, count the task
  // in `state_->running`, and `co_spawn(state_->executor, std::move(task),
  // asio::bind_cancellation_slot(signal.slot(), handler))`. The handler,
  // `[s = state_](std::exception_ptr error)`, calls task_ended. Keeping
  // `task` to run it later, in wait(), would make it lazy.
}

// Task 2, 3 and 4: wait for every task. If this wait is cancelled, pass
// that on to the tasks, and still wait for them to end.
awaitable<void> task_group::wait() {
  auto s = state_;
  bool cancelled = false;
  // TODO (task 2): loop while `s->running > 0`, sleeping on the event:
  //   co_await s->all_ended.async_wait(as_tuple(use_awaitable));
  // (as_tuple makes the wake-up, an operation_aborted, a value rather than
  // an exception).
  // TODO (task 4): after each wake-up, look at this coroutine's own state:
  //   auto me = co_await asio::this_coro::cancellation_state;
  // `me.cancelled() != asio::cancellation_type::none` means this wait was
  // cancelled: set `cancelled`, `cancel_all(*s)`, and then
  //   co_await asio::this_coro::reset_cancellation_state();
  // (until then Asio makes every co_await of a cancelled coroutine throw),
  // and keep waiting for the tasks to end.
  // TODO (task 3): after the loop, rethrow `s->first_error` if it is set.
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
  co_return;
}

// Task 5: leaving a group's scope cancels what it could not wait for.
task_group::~task_group() {
  // TODO: a destructor cannot co_await, so it cannot wait for the tasks;
  // it can still make sure none outlives the group: `cancel()`.
}

// Task 5: the body is a task of the group too, so a failing task cancels
// the body, and the body failing cancels the tasks.
awaitable<void> with_task_group(
    std::function<awaitable<void>(task_group&)> body) {
  task_group group(co_await asio::this_coro::executor);
  // TODO: run the body as a task of the group, `group.spawn(body(group))`,
  // then `co_await group.wait()`: the scope is left only when every task
  // has ended, the body included.
  co_return;
}

}  // namespace lesson04
