// Lesson 05's semaphore, written once for the lessons after it.
#include "common/semaphore.hpp"

#include "tut/clock.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/system_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <deque>
#include <utility>

namespace common {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace {

// One task waiting in line, on a timer parked at time_point::max(): it
// never expires by itself; release() wakes the task by cancelling it.
struct waiter {
  explicit waiter(asio::any_io_executor ex)
      : wake(ex, tut::clock::time_point::max()) {}
  tut::timer wake;
  bool granted = false;  // release() handed this task a permit
};

}  // namespace

struct async_semaphore::state {
  std::size_t available;
  std::deque<std::shared_ptr<waiter>> line;  // first come, first served
};

async_semaphore::async_semaphore(std::size_t permits)
    : state_(std::make_shared<state>(state{permits, {}})) {}

std::size_t async_semaphore::available() const { return state_->available; }
std::size_t async_semaphore::waiting() const { return state_->line.size(); }

awaitable<void> async_semaphore::acquire() {
  auto s = state_;  // keeps the state alive while this task waits
  if (s->available > 0 && s->line.empty()) {
    --s->available;
    co_return;
  }
  auto me = std::make_shared<waiter>(co_await asio::this_coro::executor);
  s->line.push_back(me);
  co_await me->wake.async_wait(as_tuple(use_awaitable));
  if (!me->granted) {  // woken by a cancellation: leave the line
    std::erase(s->line, me);
    throw asio::system_error(asio::error::operation_aborted, "acquire");
  }
  // Handed a permit, but cancelled before it could run: pass it on.
  auto cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none) {
    release();
    throw asio::system_error(asio::error::operation_aborted, "acquire");
  }
}

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

permit::permit(permit&& other) noexcept
    : semaphore_(std::exchange(other.semaphore_, nullptr)) {}

permit& permit::operator=(permit&& other) noexcept {
  if (this != &other) {
    release();
    semaphore_ = std::exchange(other.semaphore_, nullptr);
  }
  return *this;
}

permit::~permit() { release(); }

void permit::release() {
  if (semaphore_) std::exchange(semaphore_, nullptr)->release();
}

awaitable<permit> hold(async_semaphore& semaphore) {
  co_await semaphore.acquire();
  co_return permit(semaphore);
}

}  // namespace common
