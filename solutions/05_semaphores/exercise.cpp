// Lesson 05: semaphores. A semaphore keeps a count of permits: `acquire`
// takes one, waiting in line while none is free, and `release` gives one
// back. It is how you say "at most 10 downloads at once" (asyncio.Semaphore).
// Asio has no semaphore, so you build one from a timer per waiting task:
// parked at time_point::max() it never fires by itself, and cancelling it
// wakes that one task.
//
// Reference solution: a permit goes from task to task, never into the pool
// while someone waits, and a wait ended by cancellation takes none.
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

  // A free permit, and nobody was here first: take it.
  if (s->available > 0 && s->line.empty()) {
    --s->available;
    co_return;
  }
  // Otherwise queue up and sleep until release() hands over a permit.
  auto me = std::make_shared<waiter>(co_await asio::this_coro::executor);
  s->line.push_back(me);
  co_await me->wake.async_wait(as_tuple(use_awaitable));

  // Woken without a permit: this task was cancelled. Leave the line.
  if (!me->granted) {
    std::erase(s->line, me);
    throw asio::system_error(asio::error::operation_aborted);
  }
  // Handed a permit, but cancelled before it could run: pass it on.
  auto cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none) {
    release();
    throw asio::system_error(asio::error::operation_aborted);
  }
}

// Tasks 1 and 2: hand the permit to the first task in line, or back to the
// pool.
void async_semaphore::release() {
  auto& s = *state_;
  if (s.line.empty()) {
    ++s.available;
    return;
  }
  auto next = s.line.front();
  s.line.pop_front();
  next->granted = true;
  next->wake.cancel();
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
permit::~permit() { release(); }

void permit::release() {
  if (semaphore_) std::exchange(semaphore_, nullptr)->release();
}

awaitable<permit> hold(async_semaphore& semaphore) {
  co_await semaphore.acquire();
  co_return permit(semaphore);
}

// Lesson 03's gather, for jobs that return nothing: lessons/common/gather.hpp.
using common::gather;

// Task 5: one fetch under the limit. The permit is held for the fetch only
// and goes back whether the fetch returns or throws.
awaitable<void> fetch_one(async_semaphore& limit, const fetcher& fetch,
                          std::string url, std::string& page) {
  try {
    auto p = co_await hold(limit);
    page = co_await fetch(url);
  } catch (const std::exception& e) {
    page = std::string("failed: ") + e.what();
  }
}

// Task 5: every url fetched side by side, at most `limit` at a time.
awaitable<std::vector<std::string>> fetch_all(std::vector<std::string> urls,
                                              std::size_t limit,
                                              fetcher fetch) {
  async_semaphore semaphore(limit);
  std::vector<std::string> pages(urls.size());
  std::vector<awaitable<void>> jobs;
  for (std::size_t i = 0; i < urls.size(); ++i)
    jobs.push_back(fetch_one(semaphore, fetch, urls[i], pages[i]));
  co_await gather(std::move(jobs));
  co_return pages;
}

}  // namespace lesson05
