#include "tut/lag_monitor.hpp"

#include "tut/trace.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <utility>

namespace tut {

struct lag_monitor::state {
  state(asio::any_io_executor ex, lag_options o)
      : options(std::move(o)), wake(std::move(ex)) {}

  lag_options options;
  timer wake;
  // When the next tick is due. Set when the monitor is made, so that a
  // task holding the loop before the ticker first runs still counts.
  std::atomic<clock::rep> due{0};
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> ticks{0};
  std::atomic<clock::rep> max_lag{0};
  std::vector<clock::duration> warnings;
  // Virtual time: the trace's blocks from this index on are ours.
  std::size_t first_block = 0;

  clock::time_point due_at() const {
    return clock::time_point{clock::duration{due.load()}};
  }

  // A tick that came `lag` late.
  void record(clock::duration lag) {
    if (lag.count() > max_lag.load()) max_lag.store(lag.count());
    if (lag > options.threshold) {
      detail::note_blocked(lag);
      warn(lag);
    }
  }

  void warn(clock::duration lag) {
    warnings.push_back(lag);
    if (options.on_warning) {
      options.on_warning(lag);
    } else {
      auto ms = std::chrono::duration<double, std::milli>(lag).count();
      std::fflush(stdout);  // in order with what was printed before
      fmt::print(stderr, "lag monitor: loop blocked for {:.0f} ms\n", ms);
    }
  }

  // The blocks the virtual driver recorded since the monitor was made.
  std::vector<clock::duration> virtual_blocks() const {
    std::vector<clock::duration> out;
    auto blocks = current_trace().blocks;
    for (std::size_t i = first_block; i < blocks.size(); ++i)
      out.push_back(std::chrono::duration_cast<clock::duration>(
          blocks[i].duration));
    return out;
  }
};

namespace {

// Wakes every `interval`; how late each wake-up comes is the loop's lag.
asio::awaitable<void> ticker(std::shared_ptr<lag_monitor::state> s) {
  while (!s->stopped) {
    s->wake.expires_at(s->due_at());
    asio::error_code ec;
    co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || s->stopped) break;
    auto now = clock::now();
    s->ticks.fetch_add(1);
    s->record(now - s->due_at());
    s->due.store((now + s->options.interval).time_since_epoch().count());
  }
}

}  // namespace

lag_monitor::lag_monitor(asio::any_io_executor loop)
    : lag_monitor(std::move(loop), lag_options{}) {}

lag_monitor::lag_monitor(asio::any_io_executor loop, lag_options options)
    : state_(std::make_shared<state>(loop, std::move(options))) {
  if (virtual_time_active()) {
    state_->first_block = current_trace().blocks.size();
    return;
  }
  auto due = clock::now() + state_->options.interval;
  state_->due.store(due.time_since_epoch().count());
  asio::co_spawn(loop, ticker(state_), asio::detached);
}

lag_monitor::~lag_monitor() { stop(); }

void lag_monitor::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  if (virtual_time_active()) {
    for (auto lag : state_->virtual_blocks()) {
      state_->max_lag.store(std::max(state_->max_lag.load(), lag.count()));
      if (lag > state_->options.threshold) state_->warn(lag);
    }
    return;
  }
  // A tick that is overdue now, its lateness not yet seen: the loop has
  // been held since it was due (by the caller, perhaps).
  auto overdue = clock::now() - state_->due_at();
  if (overdue > clock::duration::zero()) state_->record(overdue);
  state_->wake.cancel();
}

clock::duration lag_monitor::max_lag() const {
  auto worst = clock::duration{state_->max_lag.load()};
  // Counting the tick that is overdue right now.
  if (!state_->stopped && !virtual_time_active())
    worst = std::max(worst, clock::now() - state_->due_at());
  if (virtual_time_active() && !state_->stopped)
    for (auto lag : state_->virtual_blocks()) worst = std::max(worst, lag);
  return worst;
}

std::vector<clock::duration> lag_monitor::warnings() const {
  if (virtual_time_active() && !state_->stopped) {
    std::vector<clock::duration> out;
    for (auto lag : state_->virtual_blocks())
      if (lag > state_->options.threshold) out.push_back(lag);
    return out;
  }
  return state_->warnings;
}

std::size_t lag_monitor::ticks() const { return state_->ticks.load(); }

}  // namespace tut
