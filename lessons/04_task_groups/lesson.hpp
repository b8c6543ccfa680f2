// Lesson 04's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson04) and once for the reference, renamed to
// lesson04_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <cstddef>
#include <functional>
#include <memory>

namespace lesson04 {

// asyncio.TaskGroup: tasks that run side by side and never outlive their
// group. The first task to fail cancels the others; wait() rethrows its
// exception once they have all ended.
class task_group {
public:
  explicit task_group(asio::any_io_executor ex);

  // Task 5: C++ has no async destructor, so this cannot wait; it cancels
  // the tasks still running.
  ~task_group();

  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Task 1: start `task` now, as a task of this group
  // (asyncio.TaskGroup.create_task).
  void spawn(asio::awaitable<void> task);

  // Tasks 2, 3 and 4: wait until every task has ended; then rethrow the
  // first failure, if there was one. Cancelled while it waits, it cancels
  // the tasks, waits until they have ended, and throws operation_aborted
  // (or the first failure, if a task failed).
  asio::awaitable<void> wait();

  // Given: asks every task still running to stop.
  void cancel();

  // Given: how many tasks have started and not ended.
  std::size_t running() const;

  // What the group's tasks share; exercise.cpp defines it.
  struct state;

private:
  std::shared_ptr<state> state_;
};

// Task 5: `async with asyncio.TaskGroup() as tg: body(tg)`. Runs `body`
// with a group and leaves only when every task of the group has ended.
// The body is a task of the group: a failing task cancels it too.
asio::awaitable<void> with_task_group(
    std::function<asio::awaitable<void>(task_group&)> body);

}  // namespace lesson04
