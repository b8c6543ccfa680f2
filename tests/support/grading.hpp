// Grading helpers: run a scenario through the learner's code and through the
// reference on virtual time, then compare them and explain any difference in
// the lesson's words, with both timelines side by side.
#pragma once

#include "tut/tut.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

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

// If the learner's run threw where the reference did not, no other check
// makes sense: say so, with the exception and the timelines.
template <typename A, typename B>
void expect_no_exception(const outcome<A>& yours, const outcome<B>& reference,
                         std::string_view doing) {
  if (yours.exception && !reference.exception)
    FAIL(explain(fmt::format("{} threw {}: {}", doing, yours.error_type,
                             yours.error),
                 yours.trace, reference.trace));
}

}  // namespace grade
