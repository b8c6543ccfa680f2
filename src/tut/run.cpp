#include "tut/run.hpp"

#include <fmt/format.h>

#include <sys/resource.h>

#include <chrono>

namespace tut::detail {
namespace {

// A handler holding the thread longer than this counts as blocking the loop.
constexpr auto block_threshold = std::chrono::milliseconds(40);
// Virtual runs that go past this are stopped: something loops forever.
constexpr auto virtual_limit = std::chrono::hours(1);
// Deadlines further away than this count as "never" (a timer parked at
// time_point::max() as a condition variable).
constexpr auto never = std::chrono::hours(24 * 365);

// What this thread has done so far: CPU time, and how often it gave up the
// CPU by itself (to sleep, or to wait for I/O).
struct thread_usage {
  std::chrono::microseconds cpu{0};
  long waits = 0;
};

thread_usage usage_now() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return {us(u.ru_utime) + us(u.ru_stime), u.ru_nvcsw};
}

// A handler that took `took` held the loop if it computed that long or
// waited by itself (std::this_thread::sleep_for, a blocking call). If it
// did neither, the system only ran something else meanwhile (a loaded
// machine): that is no blocking, and virtual time must not see it.
bool held_the_loop(std::chrono::nanoseconds took, const thread_usage& before) {
  if (took <= block_threshold) return false;
  auto after = usage_now();
  return after.cpu - before.cpu > block_threshold || after.waits > before.waits;
}

void drive_virtual(asio::io_context& ctx) {
  using steady = std::chrono::steady_clock;
  const auto start = clock::now();
  int idle_spins = 0;
  for (;;) {
    reset_pending_deadline();
    std::size_t ran = 0;
    for (;;) {
      auto before = steady::now();
      auto usage = usage_now();
      std::size_t n = ctx.poll_one();
      auto took = steady::now() - before;
      if (held_the_loop(took, usage)) {
        // The thread really was stuck (std::this_thread::sleep_for, a busy
        // loop): let virtual time pass by as much, so the timeline shows it.
        auto ms = std::chrono::round<std::chrono::milliseconds>(took);
        advance_to(clock::now() + ms);
        note_blocked(ms);
      }
      if (n == 0) break;
      ran += n;
    }
    if (ctx.stopped()) return;
    if (ran > 0) {
      idle_spins = 0;
      continue;
    }
    auto next = pending_deadline();
    auto now = clock::now();
    if (next - now > never) {
      throw deadlock_error(describe_waiting(current_trace()));
    }
    if (next > now) {
      if (next - start > virtual_limit)
        throw time_limit_error(fmt::format(
            "still running after {} h of loop time; {}",
            std::chrono::duration_cast<std::chrono::hours>(virtual_limit).count(),
            describe_waiting(current_trace())));
      advance_to(next);
      idle_spins = 0;
    } else if (++idle_spins > 1000) {
      // A deadline that has passed but whose timer never fires.
      throw deadlock_error(describe_waiting(current_trace()));
    }
  }
}

}  // namespace

void drive(asio::io_context& ctx) {
  if (virtual_time_active())
    drive_virtual(ctx);
  else
    ctx.run();
}

std::string describe_waiting(const trace& t) {
  auto waiting = t.unfinished();
  if (waiting.empty())
    return "deadlock: the main coroutine is waiting for something that can "
           "never happen (nothing can run and no timer is pending)";
  std::string names;
  for (const auto* task : waiting) {
    if (!names.empty()) names += ", ";
    names += fmt::format("'{}' (waiting since {:g} s)", task->name,
                         task->start.count());
  }
  return fmt::format(
      "deadlock: nothing can run and no timer is pending, but {} task{} "
      "never finished: {}",
      waiting.size(), waiting.size() == 1 ? "" : "s", names);
}

}  // namespace tut::detail
