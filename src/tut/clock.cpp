#include "tut/clock.hpp"

#include "tut/trace.hpp"

#include <asio/this_coro.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <thread>

namespace tut {
namespace {

using rep = clock::rep;
constexpr rep no_deadline = std::numeric_limits<rep>::max();

std::atomic<bool> virtual_mode{false};
std::atomic<rep> virtual_now{0};
std::atomic<rep> earliest_deadline{no_deadline};
std::atomic<std::size_t> yield_count{0};

}  // namespace

clock::time_point clock::now() noexcept {
  if (virtual_mode.load(std::memory_order_relaxed))
    return time_point{duration{virtual_now.load(std::memory_order_relaxed)}};
  auto real = std::chrono::steady_clock::now().time_since_epoch();
  return time_point{std::chrono::duration_cast<duration>(real)};
}

clock::duration wait_traits::to_wait_duration(const clock::duration& d) {
  if (!virtual_mode.load(std::memory_order_relaxed)) return d;
  // Saturate: timers that wait "forever" sit at time_point::max().
  rep now = virtual_now.load(std::memory_order_relaxed);
  rep at = d.count() > no_deadline - now ? no_deadline : now + d.count();
  rep seen = earliest_deadline.load(std::memory_order_relaxed);
  while (at < seen &&
         !earliest_deadline.compare_exchange_weak(seen, at)) {
  }
  return clock::duration::zero();
}

clock::duration wait_traits::to_wait_duration(const clock::time_point& t) {
  return to_wait_duration(t - clock::now());
}

asio::awaitable<void> sleep(clock::duration d) {
  if (d <= clock::duration::zero()) {
    // asyncio.sleep(0) is a yield; a zero timer would be one too, later.
    yield_count.fetch_add(1, std::memory_order_relaxed);
  }
  timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<void> yield() {
  yield_count.fetch_add(1, std::memory_order_relaxed);
  co_await asio::post(co_await asio::this_coro::executor,
                      asio::use_awaitable);
}

void block_for(clock::duration d) {
  if (virtual_mode.load(std::memory_order_relaxed)) {
    virtual_now.fetch_add(d.count(), std::memory_order_relaxed);
    detail::note_blocked(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

bool virtual_time_active() noexcept {
  return virtual_mode.load(std::memory_order_relaxed);
}

virtual_time::virtual_time() {
  virtual_now.store(0);
  earliest_deadline.store(no_deadline);
  virtual_mode.store(true);
}

virtual_time::~virtual_time() {
  virtual_mode.store(false);
  virtual_now.store(0);
  earliest_deadline.store(no_deadline);
}

namespace detail {

void reset_pending_deadline() noexcept { earliest_deadline.store(no_deadline); }

clock::time_point pending_deadline() noexcept {
  return clock::time_point{clock::duration{earliest_deadline.load()}};
}

std::size_t yields() noexcept { return yield_count.load(std::memory_order_relaxed); }

void advance_to(clock::time_point t) noexcept {
  if (t.time_since_epoch().count() > virtual_now.load())
    virtual_now.store(t.time_since_epoch().count());
}

}  // namespace detail
}  // namespace tut
