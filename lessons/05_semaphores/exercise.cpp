// Lesson 05: semaphores. A semaphore keeps a count of permits: `acquire`
// takes one, waiting in line while none is free, and `release` gives one
// back. It is how you say "at most 10 downloads at once" (asyncio.Semaphore).
// Asio has no semaphore, so you build one from a timer per waiting task:
// parked at time_point::max() it never fires by itself, and cancelling it
// wakes that one task.
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each as you save.
#include "lesson.hpp"

#include "common/gather.hpp"

#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace lesson05 {

// Given. One task waiting in line. Its timer is parked at time_point::max():
// it never expires by itself; release() wakes the task by cancelling it.
struct waiter {
  explicit waiter(asio::any_io_executor ex)
      : wake(ex, tut::clock::time_point::max()) {}
  tut::timer wake;
  bool granted = false;  // release() handed this task a permit
};

// Given. The semaphore's state: the free permits and the line.
struct async_semaphore::state {
  std::size_t available;
  std::deque<std::shared_ptr<waiter>> line;  // first come, first served
};

async_semaphore::async_semaphore(std::size_t permits)
    : state_(std::make_shared<state>(state{permits, {}})) {}

std::size_t async_semaphore::available() const { return state_->available; }
std::size_t async_semaphore::waiting() const { return state_->line.size(); }

// Tasks 1 to 3: take a permit, or wait in line for one.
awaitable<void> async_semaphore::acquire() {
  auto s = state_;  // keeps the state alive while this task waits

  // TODO (task 1): a permit is free and nobody is in line: take it from
  // the count and return without waiting.

  // TODO (task 2): otherwise join the back of the line and sleep until
  // release() hands this task a permit. The task needs a `waiter` of its
  // own (on this coroutine's executor: asio::this_coro::executor), shared
  // with the line, and waits on the waiter's timer. release() wakes it by
  // cancelling that timer, so the wait's "error" is the wake-up: await it
  // with as_tuple.

  // TODO (task 3): that wait also ends when this task is cancelled, and
  // then release() handed it nothing: `granted` tells the two apart. A
  // task woken without a permit leaves the line (std::erase) and throws
  // asio::system_error(asio::error::operation_aborted). A task that was
  // granted one may have been cancelled in the same instant:
  // asio::this_coro::cancellation_state says so, and then the permit goes
  // on to the next in line before this task throws.
  co_return;
}

// Tasks 1 and 2: hand the permit to the first task in line, or back to the
// pool.
void async_semaphore::release() {
  auto& s = *state_;
  // TODO (task 1): nobody in line: the permit goes back to the count.

  // TODO (task 2): tasks in line: the permit goes to the first of them
  // instead, and only that one wakes. Take its waiter off the front of the
  // line, mark it `granted` and cancel its timer.
  (void)s;
}

// Given: moving a permit moves the duty to give it back.
permit::permit(permit&& other) noexcept
    : semaphore_(std::exchange(other.semaphore_, nullptr)) {}

permit& permit::operator=(permit&& other) noexcept {
  if (this != &other) {
    release();
    semaphore_ = std::exchange(other.semaphore_, nullptr);
  }
  return *this;
}

// Task 4: give the permit back, once.
permit::~permit() {
  // TODO: a permit still held goes back when it is destroyed, however its
  // scope ends. That is what makes it `async with`.
}

void permit::release() {
  // TODO: give the permit back to `semaphore_` if it still holds one, and
  // forget the semaphore, so that nothing gives it back a second time
  // (std::exchange does both in one expression).
}

awaitable<permit> hold(async_semaphore& semaphore) {
  // TODO: wait for a permit of `semaphore`, then hand it to the caller
  // wrapped in a `permit`.
  co_return permit();
}

// Lesson 03's gather, for jobs that return nothing: lessons/common/gather.hpp.
using common::gather;

// Task 5: one fetch under the limit. The permit is held for the fetch only
// and goes back whether the fetch returns or throws.
awaitable<void> fetch_one(async_semaphore& limit, const fetcher& fetch,
                          std::string url, std::string& page) {
  try {
    // TODO: hold a permit of `limit` while the fetch runs: keep what hold()
    // gives you in a local variable. It goes back when the variable goes
    // out of scope, also when the fetch throws.
    page = co_await fetch(url);
  } catch (const std::exception& e) {
    page = std::string("failed: ") + e.what();
  }
}

// Task 5: every url fetched side by side, at most `limit` at a time.
awaitable<std::vector<std::string>> fetch_all(std::vector<std::string> urls,
                                              std::size_t limit,
                                              fetcher fetch) {
  std::vector<std::string> pages(urls.size());
  // TODO: one semaphore of `limit` permits for the whole call, and one
  // fetch_one job per url, each writing into its own slot of `pages`. Run
  // the jobs side by side with lesson 03's gather, which takes them as a
  // std::vector<awaitable<void>>.
  co_return pages;
}

}  // namespace lesson05
