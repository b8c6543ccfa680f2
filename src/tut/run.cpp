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

// Polling. Tasks that yield in a loop (`while (!done) co_await
// tut::yield();`), or post to themselves, keep the loop busy at one instant
// of virtual time. In real time the clock goes on meanwhile and the next
// timer fires; here it would stand still for ever. So after this many
// yields, or this many handlers of any kind, at one instant, while a timer
// is due later, the clock moves on to that timer, as real time would have.
constexpr std::size_t poll_yields = 1000;
constexpr std::size_t poll_handlers = 200'000;
// With no timer to move on to, the tasks poll for something that can never
// happen: after this many handlers at one instant, that is said.
constexpr std::size_t spin_limit = 5'000'000;

void drive_virtual(asio::io_context& ctx) {
  using steady = std::chrono::steady_clock;
  const auto start = clock::now();
  int idle_spins = 0;
  // How long the loop has stood at the instant `here`.
  auto here = clock::now();
  std::size_t handlers_here = 0;
  std::size_t yields_base = yields();
  // A polling check asked for fresh deadlines at this many handlers.
  std::size_t checking_since = 0;
  bool checking = false;
  auto moved_to = [&](clock::time_point t) {
    here = t;
    handlers_here = 0;
    yields_base = yields();
    checking = false;
  };
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
      if (clock::now() != here) moved_to(clock::now());
      handlers_here += n;
      if (!checking && (yields() - yields_base >= poll_yields || handlers_here >= poll_handlers)) {
        // Polling, it seems. The deadlines Asio reports come as the reactor
        // runs between handlers: forget the old ones, look after a few more.
        reset_pending_deadline();
        checking = true;
        checking_since = handlers_here;
      } else if (checking && handlers_here - checking_since >= 256) {
        auto next = pending_deadline();
        if (next > here && next - here <= never) {
          if (next - start > virtual_limit)
            throw time_limit_error(fmt::format(
                "still running after {} h of loop time; {}",
                std::chrono::duration_cast<std::chrono::hours>(virtual_limit).count(),
                describe_waiting(current_trace())));
          advance_to(next);
          note_polled();
          moved_to(next);
        } else if (handlers_here >= spin_limit) {
          throw time_limit_error(fmt::format(
              "the loop ran {} handlers at one moment ({:g} s) with no timer to wait for: "
              "tasks that poll (yield or post in a loop) for something that never "
              "happens; {}",
              handlers_here, std::chrono::duration<double>(here - start).count(),
              describe_waiting(current_trace())));
        } else {
          checking = false;  // look again after the next stretch
          yields_base = yields();
        }
      }
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
      moved_to(next);
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

namespace tut {

void run(asio::awaitable<void> main) {
  asio::io_context ctx(1);
  std::exception_ptr error;
  bool done = false;
  detail::begin_run();
  asio::co_spawn(ctx, std::move(main), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  try {
    detail::drive(ctx);
  } catch (...) {
    detail::end_run();
    throw;
  }
  detail::end_run();
  if (error) std::rethrow_exception(error);
  if (!done)
    throw deadlock_error(detail::describe_waiting(current_trace()));
}

}  // namespace tut
