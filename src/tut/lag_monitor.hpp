// asyncio's debug mode warns when one callback holds the loop too long
// ("Executing <Task ...> took 0.120 seconds"). tut::lag_monitor does the same
// from the outside: a small task on the loop wakes every few milliseconds
// and measures how late its timer fired. A late tick means something held
// the loop's thread; the lateness is how long nothing else could run.
//
//   auto ex = co_await asio::this_coro::executor;
//   tut::lag_monitor monitor(ex);          // warns past 100 ms, on stderr
//   co_await handle_requests();
//   fmt::print("worst lag {}\n", tut::seconds(monitor.max_lag()));
//
// Make it inside a coroutine on the loop and let it end there: while it
// lives, its ticker is work on the loop, so tut::run would not return.
// In real time each warning also goes on the trace as a `loop blocked`
// row. Under tut::virtual_time nothing ticks: the monitor reads the blocks
// the virtual driver recorded since it was made (tut::block_for, a
// handler that held the thread), and warns about them when it stops.
#pragma once

#include "tut/clock.hpp"

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace tut {

struct lag_options {
  // A tick later than this is a warning (asyncio's slow_callback_duration).
  clock::duration threshold = std::chrono::milliseconds(100);
  // How often the ticker wakes: the lag is measured to within this.
  clock::duration interval = std::chrono::milliseconds(5);
  // Called on the loop with each lag over the threshold. Empty: print
  // "lag monitor: loop blocked for N ms" on stderr.
  std::function<void(clock::duration lag)> on_warning;
};

class lag_monitor {
public:
  explicit lag_monitor(asio::any_io_executor loop);
  lag_monitor(asio::any_io_executor loop, lag_options options);
  ~lag_monitor();  // stop()
  lag_monitor(const lag_monitor&) = delete;
  lag_monitor& operator=(const lag_monitor&) = delete;

  // Ends the ticker (call it on the loop). Further calls do nothing.
  void stop();

  // The worst lag seen so far.
  clock::duration max_lag() const;
  // The lags over the threshold, in order.
  std::vector<clock::duration> warnings() const;
  // Ticks so far: how many times the loop got round to the monitor. Safe
  // to read from any thread: work on another thread can count the ticks
  // that happened while it ran (none means it held the loop).
  std::size_t ticks() const;

  struct state;

private:
  std::shared_ptr<state> state_;
};

}  // namespace tut
