// Grading scenarios that need real threads (a thread pool, a database's
// connections) and therefore the real clock: virtual time is for one
// thread only. Two things such a test needs that grade::run_real lacks:
//
//  - the loop seen from other threads: how many times a lag monitor on the
//    loop ticked, readable from the thread that does the blocking work, so
//    that work which held the loop is seen from where it ran (none at all
//    means it held the loop);
//  - a time limit: code that waits forever fails with a message instead of
//    hanging the test.
//
// Lesson 08's tests grew the first versions of these; lessons 08 and 14
// use this file.
#pragma once

#include "grading.hpp"

#include <asio/io_context.hpp>
#include <asio/query.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <sys/syscall.h>
#include <unistd.h>

namespace real_time {

using namespace std::chrono_literals;

// How many times the lag monitor of the current scenario has ticked,
// readable from any thread. The scenario attaches its monitor while it
// runs; after that the last count stays.
class loop_watch {
public:
  // Called on the loop's thread.
  void attach(const tut::lag_monitor& m) {
    std::lock_guard lock(mutex_);
    monitor_ = &m;
    loop_thread_ = std::this_thread::get_id();
    loop_tid_ = static_cast<long>(::syscall(SYS_gettid));
  }
  void detach() {
    std::lock_guard lock(mutex_);
    if (monitor_) last_ = monitor_->ticks();
    monitor_ = nullptr;
  }
  std::size_t ticks() const {
    std::lock_guard lock(mutex_);
    return monitor_ ? monitor_->ticks() : last_;
  }
  // Called at the end of work that held its thread since `before` was read
  // (a pool thread, a fake service's thread): the ticks now, after waiting
  // up to `limit` for a first tick. A loaded machine may not have scheduled
  // the loop's thread while the work ran, so only a loop that is held (it
  // waits for this work) ends with none. The monitor cannot wake another
  // thread, so this looks every millisecond: a bounded wait for the loop,
  // not a sleep that the test's timing depends on.
  //
  // The wait ends early when no tick can come: the work runs on the loop's
  // own thread, or the loop's thread has sat in a blocking system call
  // (anything but epoll_wait, where an idle loop waits) for 50 ms: it
  // waits for this work, or for something else that is not the loop.
  std::size_t ticks_after(std::size_t before, std::chrono::milliseconds limit) const {
    if (on_loop_thread()) return ticks();
    auto until = std::chrono::steady_clock::now() + limit;
    int blocked_ms = 0;
    while (ticks() == before && std::chrono::steady_clock::now() < until &&
           blocked_ms < 50) {
      std::this_thread::sleep_for(1ms);
      blocked_ms = loop_in_blocking_call() ? blocked_ms + 1 : 0;
    }
    return ticks();
  }

private:
  bool on_loop_thread() const {
    std::lock_guard lock(mutex_);
    return monitor_ && loop_thread_ == std::this_thread::get_id();
  }
  // /proc/self/task/<tid>/syscall: the number of the call the thread is
  // in, "running" outside one. A thread that is only waiting for the CPU
  // (a loaded machine) is not in a blocking call.
  bool loop_in_blocking_call() const {
    long tid;
    {
      std::lock_guard lock(mutex_);
      if (!monitor_) return false;
      tid = loop_tid_;
    }
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
    long number = -1;
    if (!(in >> number)) return false;  // "running", or not readable
    return number >= 0 && number != SYS_epoll_wait && number != SYS_epoll_pwait
#ifdef SYS_epoll_pwait2
           && number != SYS_epoll_pwait2
#endif
        ;
  }

  mutable std::mutex mutex_;
  const tut::lag_monitor* monitor_ = nullptr;
  std::thread::id loop_thread_;
  long loop_tid_ = 0;
  std::size_t last_ = 0;
};

// A lag monitor for the length of a scenario, made in its main coroutine:
// ticks every 2 ms, and puts any stall over 20 ms on the timeline as "loop
// blocked". While it lives the loop always has work, so the loop runs
// until the scenario ends.
struct watched_loop {
  tut::lag_monitor monitor;
  loop_watch& watch;
  watched_loop(asio::any_io_executor ex, loop_watch& w)
      : monitor(std::move(ex), options()), watch(w) {
    watch.attach(monitor);
  }
  ~watched_loop() { watch.detach(); }
  watched_loop(const watched_loop&) = delete;
  watched_loop& operator=(const watched_loop&) = delete;
  static tut::lag_options options() {
    tut::lag_options o;
    o.threshold = 20ms;
    o.interval = 2ms;
    o.on_warning = [](tut::clock::duration) {};  // the timeline shows them
    return o;
  }
};

// Stops the loop of a scenario still running after its limit. After one
// such hang the others get half a second, so that a whole run of hanging
// scenarios still ends in a few seconds.
class watchdog {
public:
  explicit watchdog(std::chrono::milliseconds limit)
      : limit_(anything_hung ? std::min(limit, std::chrono::milliseconds(500)) : limit),
        thread_([this] {
          std::unique_lock lock(mutex_);
          if (!wake_.wait_for(lock, limit_, [this] { return done_; })) {
            fired_ = true;
            anything_hung = true;
            if (loop_) loop_->stop();
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  bool fired() {
    std::lock_guard lock(mutex_);
    return fired_;
  }
  std::chrono::milliseconds limit() const { return limit_; }
  void watch(asio::io_context* loop) {
    std::lock_guard lock(mutex_);
    loop_ = loop;
  }

private:
  // Only the test's own thread makes watchdogs; a fired one writes this
  // before the test thread reads it (the loop's run has returned by then).
  static inline std::atomic<bool> anything_hung{false};
  std::chrono::milliseconds limit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false, fired_ = false;
  asio::io_context* loop_ = nullptr;
  std::thread thread_;
};

template <typename T>
asio::awaitable<T> under_watch(watchdog& dog, asio::awaitable<T> main) {
  struct guard {
    watchdog& dog;
    ~guard() { dog.watch(nullptr); }  // the loop may be about to go
  } g{dog};
  auto ex = co_await asio::this_coro::executor;
  dog.watch(&static_cast<asio::io_context&>(
      asio::query(ex, asio::execution::context)));
  co_return co_await std::move(main);
}

// grade::run_real under a watchdog: the same outcome (value, exception,
// trace); a scenario stopped by the watchdog has error_type "hang".
template <typename F>
auto run(F&& make_main, std::chrono::milliseconds limit = 2000ms) {
  watchdog dog(limit);
  auto out = grade::run_real([&] { return under_watch(dog, make_main()); });
  if (dog.fired()) {
    out.exception = std::make_exception_ptr(std::runtime_error("hung"));
    out.error = grade::secs(std::chrono::duration<double>(dog.limit()).count());
    out.error_type = "hang";
  }
  return out;
}

// A scenario the watchdog had to stop says so before anything else.
template <typename A, typename B>
void expect_finished(const grade::outcome<A>& yours,
                     const grade::outcome<B>& reference,
                     std::string_view doing) {
  if (yours.error_type == "hang")
    FAIL(grade::explain(
        fmt::format("{} never finished: after {} it was still waiting, and "
                    "the test stopped it. Something it awaits never "
                    "completes",
                    doing, yours.error),
        yours.trace, reference.trace));
}

}  // namespace real_time
