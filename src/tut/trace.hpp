// The trace: what each named task did and when. Lessons and tests wrap work
// in `tut::traced("name", work)`; the runtime records its start, its end and
// how it ended, and renders the lot as a timeline (text or JSON).
#pragma once

#include "tut/clock.hpp"

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/system_error.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace tut {

enum class outcome { running, done, failed, cancelled };

const char* to_string(outcome o) noexcept;

struct trace_event {
  seconds at;
  std::string what;
};

struct task_record {
  std::string name;
  seconds start;
  std::optional<seconds> end;  // empty while still running
  outcome result = outcome::running;
  std::string error;           // what() of the exception, if it failed
  std::vector<trace_event> events;
};

// A stretch of real time during which one handler held the loop's thread.
struct loop_block {
  seconds at;        // loop time when it started
  seconds duration;  // how long nothing else could run
};

// A copy of everything recorded since the last tut::run began.
struct trace {
  std::vector<task_record> tasks;
  std::vector<loop_block> blocks;
  std::size_t peak = 0;  // most tasks running at the same moment
  seconds elapsed{0};    // loop time from start to the end of the run
  // Virtual time only: how often the loop did nothing but poll (tasks
  // yielding in a loop) while a timer was due later, so that the clock
  // moved on to that timer, as real time would have while they spun.
  std::size_t polls = 0;

  // Pointers into this trace: only on a trace that outlives them (not on
  // the temporary `tut::current_trace()` returns: that does not compile).
  const task_record* find(std::string_view name) const&;
  const task_record* find(std::string_view name) const&& = delete;
  // Tasks that started but have not ended.
  std::vector<const task_record*> unfinished() const&;
  std::vector<const task_record*> unfinished() const&& = delete;
  std::size_t unfinished_count() const;
  // Most tasks whose name starts with `prefix` running at once.
  std::size_t peak_of(std::string_view prefix) const;
  // Longest time the loop's thread was held by one handler.
  seconds longest_block() const;
};

struct timeline_options {
  int width = 48;           // columns for the time axis
  std::string title;        // printed above, when not empty
  std::optional<seconds> span;  // force the axis length (to align two)
  std::size_t name_width = 0;   // at least this wide a name column
};

// One row per task on a shared time axis, for terminals and failure
// messages. Two timelines rendered with the same `span` line up.
std::string render_timeline(const trace& t, const timeline_options& = {});
// Machine-readable form, for the docs' SVG timelines.
std::string to_json(const trace& t);

// The trace of the current (or last) run.
trace current_trace();

namespace detail {
std::size_t task_begin(std::string name);
void task_end(std::size_t id, outcome o, std::string error = {});
void note_blocked(clock::duration d);
void note_polled();
void begin_run();
void end_run();
}  // namespace detail

// Record a point event on a task's row ("cleanup", "retry 2").
void note(std::string_view task, std::string what);

// Runs `work` as a task called `name` in the trace. The work is unchanged:
// same result, same exception, same cancellation.
template <typename T>
asio::awaitable<T> traced(std::string name, asio::awaitable<T> work) {
  struct guard {
    std::size_t id;
    bool ended = false;
    void end(outcome o, std::string error = {}) {
      ended = true;
      detail::task_end(id, o, std::move(error));
    }
    ~guard() {
      // The frame was destroyed without finishing: the loop went away.
      if (!ended) detail::task_end(id, outcome::cancelled, "abandoned");
    }
  } g{detail::task_begin(std::move(name))};
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
      g.end(outcome::done);
    } else {
      T value = co_await std::move(work);
      g.end(outcome::done);
      co_return value;
    }
  } catch (const asio::system_error& e) {
    if (e.code() == asio::error::operation_aborted)
      g.end(outcome::cancelled);
    else
      g.end(outcome::failed, e.what());
    throw;
  } catch (const std::exception& e) {
    g.end(outcome::failed, e.what());
    throw;
  } catch (...) {
    g.end(outcome::failed, "unknown exception");
    throw;
  }
}

}  // namespace tut
