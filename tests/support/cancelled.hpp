// Cancelled while it waits: a scenario that runs some work, cancels it
// through a bound cancellation signal at an exact moment
// (grade::cancel_after), and checks that it ended as the reference did:
// with operation_aborted (not with a value, an empty result or another
// error), at the same moment, and with no task it started still running.
#pragma once

#include "grading.hpp"

#include <fmt/ranges.h>  // how_it_ended shows a returned list

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace grade {

// Runs `work`, then notes in `at_end` the traced tasks still running at the
// moment it returned or threw.
template <typename T>
asio::awaitable<T> noting_unfinished(asio::awaitable<T> work,
                                     std::vector<std::string>& at_end) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
      at_end = unfinished_now();
    } else {
      T value = co_await std::move(work);
      at_end = unfinished_now();
      co_return value;
    }
  } catch (...) {
    at_end = unfinished_now();
    throw;
  }
}

// cancel_after wants work with a value to report: `nothing` stands in for
// void.
inline asio::awaitable<nothing> as_nothing(asio::awaitable<void> work) {
  co_await std::move(work);
  co_return nothing{};
}

// how_it_ended, with the moment it ended.
template <typename T>
std::string how_and_when(const cancelled_run<T>& r) {
  if (!r.ended() || r.aborted) return how_it_ended(r);
  if constexpr (std::is_same_v<T, std::string>)
    if (r.value)
      return fmt::format("returned \"{}\" at {}", *r.value,
                         secs(r.ended_at.count()));
  return fmt::format("{} at {}", how_it_ended(r), secs(r.ended_at.count()));
}

template <typename T>
struct cancelled_scenario {
  outcome<cancelled_run<T>> run;
  std::vector<std::string> at_end;  // still running when the work ended
};

// Runs `make()` (an asio::awaitable) on virtual time and cancels it after
// `after` of loop time.
template <typename Make>
auto run_cancelled(Make make, tut::clock::duration after) {
  using T = typename std::invoke_result_t<Make&>::value_type;
  cancelled_scenario<T> out;
  out.run = grade::run([&] {
    return cancel_after(noting_unfinished(make(), out.at_end), after);
  });
  return out;
}

// Fails unless `yours` ended as `reference` did. `what` names the work in
// the message ("gather of three jobs"). (The two sides' results may be of
// types of their own: each lesson's namespace has its own structs.)
template <typename A, typename B>
void expect_cancelled(const cancelled_scenario<A>& yours,
                      const cancelled_scenario<B>& reference,
                      std::string_view what, tut::clock::duration after) {
  reference_runs(reference.run);
  const auto& expected = *reference.run.value;
  auto at = secs(tut::seconds(after).count());
  auto should = fmt::format("cancelled, it should end with operation_aborted "
                            "at {}",
                            secs(expected.ended_at.count()));
  if (!yours.run.value)
    FAIL(explain(fmt::format("{} was cancelled at {} while it waited, and "
                             "then never ended ({}); {}",
                             what, at, yours.run.error, should),
                 yours.run.trace, reference.run.trace));
  const auto& actual = *yours.run.value;
  GRADE(actual.aborted && actual.ended_at == expected.ended_at,
        fmt::format("{} was cancelled at {} while it waited, and {}; {}", what,
                    at, how_and_when(actual), should),
        yours.run, reference.run);
  GRADE(yours.at_end.empty(),
        fmt::format("when {} ended at {}, {} {} still running: work that is "
                    "cancelled ends only once what it started has ended",
                    what, secs(actual.ended_at.count()), list(yours.at_end),
                    yours.at_end.size() == 1 ? "was" : "were"),
        yours.run, reference.run);
}

}  // namespace grade
