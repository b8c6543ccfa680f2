// The course's clock and timer. In real mode `tut::clock` is the steady
// clock; in virtual mode (tests) it only moves when the loop has nothing to
// run, jumping straight to the next deadline, so a 3 s wait takes no real
// time and every run gives the same timings.
#pragma once

#include <asio/basic_waitable_timer.hpp>
#include <asio/awaitable.hpp>

#include <chrono>

namespace tut {

struct clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<clock, duration>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept;
};

// Asio asks the wait traits how long the reactor should sleep until the
// earliest deadline. In virtual mode we note the deadline and answer "zero":
// the loop driver jumps the clock only once nothing else can run.
struct wait_traits {
  static clock::duration to_wait_duration(const clock::duration& d);
  static clock::duration to_wait_duration(const clock::time_point& t);
};

// asyncio's loop.call_later / asyncio.sleep run on this timer.
using timer = asio::basic_waitable_timer<clock, wait_traits>;

// Seconds as a double, for messages and timelines.
using seconds = std::chrono::duration<double>;

inline clock::time_point now() noexcept { return clock::now(); }

// asyncio.sleep(d): suspends this coroutine, lets the loop run others.
asio::awaitable<void> sleep(clock::duration d);

// asyncio.sleep(0): give every other ready task a turn, then continue.
asio::awaitable<void> yield();

// Holds the thread for `d` without letting the loop run anything else:
// a stand-in for CPU-heavy or blocking work. In virtual mode the clock moves
// by `d` (the loop really was stuck that long); in real mode it sleeps.
void block_for(clock::duration d);

bool virtual_time_active() noexcept;

// RAII: while alive, tut::clock runs on virtual time starting at 0 and
// tut::run drives the loop deterministically. One per test.
class virtual_time {
public:
  virtual_time();
  ~virtual_time();
  virtual_time(const virtual_time&) = delete;
  virtual_time& operator=(const virtual_time&) = delete;
};

namespace detail {
// Used by the virtual driver: the earliest deadline Asio asked about since
// the last reset, and moving the clock.
void reset_pending_deadline() noexcept;
clock::time_point pending_deadline() noexcept;
void advance_to(clock::time_point t) noexcept;
// tut::yield() (and sleep(0)) calls so far: the virtual driver tells a task
// that polls from one that works by them.
std::size_t yields() noexcept;
}  // namespace detail

}  // namespace tut
