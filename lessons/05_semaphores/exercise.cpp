// Lesson 05: semaphores. A semaphore keeps a count of permits: `acquire`
// takes one, waiting in line while none is free, and `release` gives one
// back. It is how you say "at most 10 downloads at once" (asyncio.Semaphore).
// Asio has no semaphore, so you build one from a timer per waiting task:
// parked at time_point::max() it never fires by itself, and cancelling it
// wakes that one task.
//
// Fill in the TODOs of tasks 1 to 4; `scripts/tutor` grades each as you save.
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

// Tasks 1 and 2: take a permit, or wait in line for one.
awaitable<void> async_semaphore::acquire() {
  auto s = state_;  // keeps the state alive while this task waits

  // TODO: a permit is free and nobody is in line: take it
  // (`--s->available`) and return. Otherwise make a waiter,
  // `auto me = std::make_shared<waiter>(co_await asio::this_coro::executor);`
  // put it at the back of `s->line` and wait on its timer:
  // `co_await me->wake.async_wait(as_tuple(use_awaitable));`

  // TODO (task 2): that wait also ends when this task is cancelled. Without
  // `me->granted`, leave the line (`std::erase(s->line, me)`) and throw
  // `asio::system_error(asio::error::operation_aborted)`. Granted, but
  // `(co_await asio::this_coro::cancellation_state).cancelled()` is not
  // `asio::cancellation_type::none`: pass the permit on (`release()`) first.
  co_return;
}

// Task 1: hand the permit to the first task in line, or back to the pool.
void async_semaphore::release() {
  auto& s = *state_;
  // TODO: nobody in line: `++s.available`. Otherwise take the first waiter
  // off `s.line`, set its `granted` and wake it: `wake.cancel()`.
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

// Task 3: give the permit back, once.
permit::~permit() {
  // TODO: give the permit back: `release()`.
}

void permit::release() {
  // TODO: if `semaphore_` is set, release it and set it to nullptr
  // (`std::exchange`), so that the permit goes back only once.
}

awaitable<permit> hold(async_semaphore& semaphore) {
  // TODO: `co_await semaphore.acquire()`, then `co_return permit(semaphore)`.
  co_return permit();
}

// Lesson 03's gather, for jobs that return nothing: lessons/common/gather.hpp.
using common::gather;

// Task 4: one fetch under the limit. The permit is held for the fetch only
// and goes back whether the fetch returns or throws.
awaitable<void> fetch_one(async_semaphore& limit, const fetcher& fetch,
                          std::string url, std::string& page) {
  try {
    // TODO: hold a permit from `limit` while fetching:
    // `auto p = co_await hold(limit);` It goes back at the end of this
    // scope, also when fetch throws.
    page = co_await fetch(url);
  } catch (const std::exception& e) {
    page = std::string("failed: ") + e.what();
  }
}

// Task 4: every url fetched side by side, at most `limit` at a time.
awaitable<std::vector<std::string>> fetch_all(std::vector<std::string> urls,
                                              std::size_t limit,
                                              fetcher fetch) {
  std::vector<std::string> pages(urls.size());
  // TODO: make an `async_semaphore` with `limit` permits. Collect one
  // `fetch_one(semaphore, fetch, urls[i], pages[i])` per url in a
  // std::vector<awaitable<void>> and run them side by side:
  // `co_await gather(std::move(jobs));`
  co_return pages;
}

}  // namespace lesson05
