// Scenarios over a type both sides define (lesson 05's semaphore, lesson
// 06's queue), written once as a template over that type: each run records
// what its tasks saw beside its outcome, and the two runs are compared.
//
//   struct recorded {
//     grade::outcome<grade::nothing> run;
//     std::vector<std::string> log;  // whatever the scenarios write
//   };
//   constexpr grade::recorder<recorded> record;
//   constexpr grade::comparer<yours::async_queue, reference::async_queue>
//       compare;
//
//   template <typename Queue>
//   recorded push_two(grade::side<Queue>) {
//     return record([](recorded& out) -> awaitable<void> { ... });
//   }
//   auto c = compare([](auto s) { return push_two(s); });  // c.actual, c.expected
#pragma once

#include "grading.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace grade {

// Names the type a scenario runs on: `scenario(side<yours::T>{})`.
template <typename T>
struct side {};

// `record(body)` runs `body(out)`, a coroutine, on virtual time, where
// `out` is a fresh `Recorded` (a struct with an outcome<nothing> `run`),
// and returns `out` with `run` set to how the run went.
template <typename Recorded>
struct recorder {
  template <typename Body>
  Recorded operator()(Body body) const {
    Recorded out;
    out.run = grade::run([&]() -> asio::awaitable<void> { co_await body(out); });
    return out;
  }

  // `record.fresh(make, body)`: a scenario for compare() on a fresh object
  // of each side's type. It records `body(out, ex, obj)`, a coroutine, where
  // `ex` is the loop's executor and `obj = make(side<T>{}, ex)`, a
  // shared_ptr that every task keeps, so that it outlives them all.
  template <typename Make, typename Body>
  constexpr auto fresh(Make make, Body body) const {
    return [=, record = *this]<typename T>(side<T> s) {
      return record([&](Recorded& out) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        co_await body(out, ex, make(s, ex));
      });
    };
  }
};

template <typename Recorded>
using compared = sides<Recorded>;

// `compare(scenario)`: grade::both over `scenario(side<Yours>{})` and
// `scenario(side<Reference>{})`; the reference must pass it.
template <typename Yours, typename Reference>
struct comparer {
  template <typename Scenario>
  auto operator()(Scenario scenario) const {
    return both(scenario, side<Yours>{}, side<Reference>{});
  }
};

// The run must not stall or throw; `what` says what the stall means, and
// `who` names the tasks in the message of an exception.
template <typename Recorded>
void expect_run_ends(const compared<Recorded>& c, std::string_view who,
                     std::string_view what) {
  GRADE(!c.actual.run.template threw<tut::deadlock_error>(),
        stalled(c.actual.run) + std::string(what), c.actual.run,
        c.expected.run);
  expect_no_exception(c.actual.run, c.expected.run, who);
}

// "at 1.5 s", or "never" for a moment of -1 (it did not happen).
inline std::string when(double at) {
  return at < 0 ? "never" : "at " + secs(at);
}

}  // namespace grade
