// Grading helpers: run a scenario through the learner's code and through the
// reference on virtual time, then compare them and explain any difference in
// the lesson's words, with both timelines side by side.
#pragma once

#include "tut/tut.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace grade {

// What one run of a scenario did.
template <typename T>
struct outcome {
  std::optional<T> value;  // set when the run returned
  std::exception_ptr exception;
  std::string error;       // what() of the exception, or empty
  std::string error_type;  // the exception's type, readable
  tut::trace trace;

  bool ok() const { return value.has_value(); }
  double seconds() const { return trace.elapsed.count(); }
  // Rethrows the exception as the type `E`, for `catch`-based checks.
  template <typename E>
  bool threw() const {
    if (!exception) return false;
    try {
      std::rethrow_exception(exception);
    } catch (const E&) {
      return true;
    } catch (...) {
      return false;
    }
  }
};

struct nothing {
  bool operator==(const nothing&) const = default;
};

std::string type_name(const std::exception_ptr& e);
std::string describe_exception(const std::exception_ptr& e);

// Runs `make_main()` (which returns an asio::awaitable) with tut::run on the
// clock as it is (real time, for scenarios with real threads and sockets)
// and records the result, exception and trace.
template <typename F>
auto run_real(F&& make_main) {
  using awaitable_t = std::invoke_result_t<F&>;
  using value_t = typename awaitable_t::value_type;
  using stored_t = std::conditional_t<std::is_void_v<value_t>, nothing, value_t>;
  outcome<stored_t> out;
  try {
    if constexpr (std::is_void_v<value_t>) {
      tut::run(make_main());
      out.value.emplace();
    } else {
      out.value.emplace(tut::run(make_main()));
    }
  } catch (...) {
    out.exception = std::current_exception();
    out.error = describe_exception(out.exception);
    out.error_type = type_name(out.exception);
  }
  out.trace = tut::current_trace();
  return out;
}

// The same on a fresh virtual clock: the scenario's sleeps and timers take
// no real time, and the same run always gives the same trace.
template <typename F>
auto run(F&& make_main) {
  tut::virtual_time clock;
  return grade::run_real(std::forward<F>(make_main));
}

// "3 s", "200 ms", "1.5 s"
std::string secs(double s);

// The learner's timeline above the reference's, on one time axis.
std::string timelines(const tut::trace& yours, const tut::trace& reference);

// A failure message: what went wrong, in the lesson's words, then both
// timelines.
std::string explain(std::string_view what, const tut::trace& yours,
                     const tut::trace& reference);

// Fails the current test case with `explain(...)` unless `ok`.
#define GRADE(ok, what, yours, reference)                                 \
  do {                                                                    \
    if (!(ok)) FAIL(::grade::explain((what), (yours).trace, (reference).trace)); \
  } while (false)

// A scenario's result is an outcome, or a struct that holds one as `run`
// beside what else the scenario observed; run_of() finds the outcome.
template <typename T>
const outcome<T>& run_of(const outcome<T>& run) {
  return run;
}
template <typename R>
  requires requires(const R& r) { r.run; }
const auto& run_of(const R& result) {
  return result.run;
}

// If the learner's run threw where the reference did not, no other check
// makes sense: say so, with the exception and the timelines.
template <typename A, typename B>
void expect_no_exception(const A& yours_result, const B& reference_result,
                         std::string_view doing) {
  const auto& yours = run_of(yours_result);
  const auto& reference = run_of(reference_result);
  if (yours.exception && !reference.exception)
    FAIL(explain(fmt::format("{} threw {}: {}", doing, yours.error_type,
                             yours.error),
                 yours.trace, reference.trace));
}

// ---- Shared by the lessons' tests ------------------------------------------

// "[a, b, c]": a list as a message shows it.
template <typename Range>
std::string list(const Range& items) {
  return fmt::format("[{}]", fmt::join(items, ", "));
}

// The names of the traced tasks that have started and not ended yet, in
// the current run: what was still running at the moment it is called.
std::vector<std::string> unfinished_now();

// "your run stalled at 1.2 s: deadlock: ... . " when the run ended in a
// deadlock (nothing could run, no timer was pending), else "".
template <typename T>
std::string stalled(const outcome<T>& run) {
  return run.template threw<tut::deadlock_error>()
             ? fmt::format("your run stalled at {}: {}. ", secs(run.seconds()),
                           run.error)
             : std::string();
}

// The reference must pass every scenario it is compared with; if it does
// not, the test is wrong, not the learner.
template <typename R>
void reference_runs(const R& expected_result) {
  const auto& expected = run_of(expected_result);
  if (expected.exception)
    FAIL("the reference solution failed this scenario: " + expected.error);
}

// The reference's side of a scenario on real time (sockets, timers that
// really wait), run only when a check needs it: to show its timeline beside
// a failing one, or to compare with. A learner's run that passes then takes
// one run's time, not two; the reference passing the scenario is still
// checked, when it runs (and test_NN_solution runs every scenario with it).
//
//   grade::on_demand expected{[&] { return cancelled_app(reference::serve, dir); }};
//   GRADE(a.aborted, "...", actual.run, expected->run);
//
// GRADE evaluates its reference only when the check fails.
template <typename F>
class on_demand {
 public:
  explicit on_demand(F run) : run_(std::move(run)) {}
  const auto& operator*() {
    if (!value_) {
      value_.emplace(run_());
      reference_runs(*value_);
    }
    return *value_;
  }
  const auto* operator->() { return &**this; }

 private:
  F run_;
  std::optional<std::decay_t<std::invoke_result_t<F&>>> value_;
};

// As above, with the reference run on demand: only when the learner's run
// threw.
template <typename A, typename F>
void expect_no_exception(const A& yours_result, on_demand<F>& reference,
                         std::string_view doing) {
  if (run_of(yours_result).exception) expect_no_exception(yours_result, *reference, doing);
}

// The both-sides runner: runs `scenario` once with the learner's function
// and once with the reference's, each with the same `args`, and checks
// that the reference passes it (reference_runs).
//
//   auto [actual, expected] =
//       grade::both(run_fetch_all, yours::fetch_all, reference::fetch_all, 12);
//
// When the scenario is a template (it takes either side's function),
// BOTH_SIDES names it and the function once:
//
//   auto [actual, expected] = BOTH_SIDES(cancel_fetch_all, fetch_all);
template <typename R>
struct sides {
  R actual;
  R expected;
};

template <typename Scenario, typename Yours, typename Reference,
          typename... Args>
auto both(Scenario&& scenario, Yours&& yours, Reference&& reference,
          const Args&... args) {
  using result_t = std::decay_t<std::invoke_result_t<Scenario&, Yours&, const Args&...>>;
  sides<result_t> out{scenario(yours, args...), scenario(reference, args...)};
  reference_runs(out.expected);
  return out;
}

#define BOTH_SIDES(scenario, function, ...)                               \
  ::grade::both(                                                          \
      [](auto&& side, auto&&... more) { return scenario(side, more...); }, \
      yours::function, reference::function __VA_OPT__(, ) __VA_ARGS__)

// The same with the reference's run on demand (on_demand, above): for a
// scenario on real time, whose runs take as long as they wait.
//
//   auto [actual, expected] = BOTH_SIDES_ON_DEMAND(cancelled_server, serve);
//   GRADE(a.aborted, "...", actual.run, expected->run);
template <typename R, typename F>
struct sides_on_demand {
  R actual;
  on_demand<F> expected;
};

template <typename Scenario, typename Yours, typename Reference, typename... Args>
auto both_on_demand(Scenario scenario, Yours&& yours, Reference reference,
                    const Args&... args) {
  auto actual = scenario(yours, args...);
  auto later = [scenario, reference, args...]() mutable {
    return scenario(reference, args...);
  };
  return sides_on_demand<decltype(actual), decltype(later)>{
      std::move(actual), on_demand<decltype(later)>(std::move(later))};
}

#define BOTH_SIDES_ON_DEMAND(scenario, function, ...)                     \
  ::grade::both_on_demand(                                                \
      [](auto&& side, auto&&... more) { return scenario(side, more...); }, \
      yours::function, reference::function __VA_OPT__(, ) __VA_ARGS__)

// How an operation that was cancelled while it waited came out.
template <typename T>
struct cancelled_run {
  std::optional<T> value;        // it returned (it should not have)
  std::exception_ptr exception;  // it threw: which, below
  bool aborted = false;          // ... asio::error::operation_aborted
  std::string error;             // what() of any other exception
  tut::seconds ended_at{-1};     // loop time when it ended; -1: never
  bool ended() const { return ended_at.count() >= 0; }
};

// Runs `work` as a task of its own whose cancellation slot is bound to a
// cancellation signal (as co_spawn's token, the way gather, task groups
// and `||` reach an operation), emits `type` on the signal after `after`
// of loop time, and reports how `work` ended. This is cancellation *while
// it waits*, at exactly that moment: not the `||` operator's, which also
// cancels, but may hide an operation that ignores it.
template <typename T>
asio::awaitable<cancelled_run<T>> cancel_after(
    asio::awaitable<T> work, tut::clock::duration after,
    asio::cancellation_type type = asio::cancellation_type::terminal) {
  auto ex = co_await asio::this_coro::executor;
  auto out = std::make_shared<cancelled_run<T>>();
  auto signal = std::make_shared<asio::cancellation_signal>();
  auto done = std::make_shared<tut::timer>(ex, tut::clock::time_point::max());
  auto finish = [out, done](std::exception_ptr e) {
    out->ended_at = tut::seconds(tut::now().time_since_epoch());
    out->exception = e;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const asio::system_error& se) {
        out->aborted = se.code() == asio::error::operation_aborted;
        out->error = se.what();
      } catch (const std::exception& other) {
        out->error = other.what();
      } catch (...) {
        out->error = "unknown exception";
      }
    }
    done->cancel();
  };
  asio::co_spawn(ex, std::move(work),
                 asio::bind_cancellation_slot(
                     signal->slot(), [out, finish](std::exception_ptr e, T v) {
                       if (!e) out->value.emplace(std::move(v));
                       finish(e);
                     }));
  tut::timer fire(ex, after);
  co_await fire.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (!out->ended()) signal->emit(type);
  if (!out->ended())
    co_await done->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return *out;
}

// The same for work that returns nothing: it is reported as `nothing`.
namespace detail {
inline asio::awaitable<nothing> returning_nothing(asio::awaitable<void> work) {
  co_await std::move(work);
  co_return nothing{};
}
}  // namespace detail

inline asio::awaitable<cancelled_run<nothing>> cancel_after(
    asio::awaitable<void> work, tut::clock::duration after,
    asio::cancellation_type type = asio::cancellation_type::terminal) {
  return cancel_after(detail::returning_nothing(std::move(work)), after, type);
}

// What a cancelled run did, in words: "returned 3", "threw
// std::runtime_error: ...", "ended with operation_aborted", "never ended".
template <typename T>
std::string how_it_ended(const cancelled_run<T>& r) {
  if (!r.ended()) return "never ended";
  if (r.aborted)
    return fmt::format("ended with operation_aborted at {}", secs(r.ended_at.count()));
  if (r.exception)
    return fmt::format("threw {}: {}", type_name(r.exception), r.error);
  if constexpr (fmt::is_formattable<T>::value)
    return fmt::format("returned {}", *r.value);
  else
    return "returned a value";
}

}  // namespace grade
