// Lesson 01 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "cancelled.hpp"
#include "dangling.hpp"
#include "own_copy.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace {

// ---- Task 1 ----------------------------------------------------------------

template <typename AddSlowly>
auto add_slowly_run(AddSlowly add_slowly, int a, int b,
                    tut::clock::duration delay) {
  return grade::run(
      [=] { return tut::traced("add_slowly", add_slowly(a, b, delay)); });
}

// When a handler held the loop's thread: "add_slowly held the loop's
// thread for 300 ms at once: ...". Else "".
template <typename T>
std::string blocked(const grade::outcome<T>& run, std::string_view who) {
  if (run.trace.blocks.empty()) return {};
  return fmt::format("{} held the loop's thread for {} at once: the loop "
                     "could run nothing else meanwhile, and nothing could "
                     "cancel the wait",
                     who, secs(run.trace.longest_block().count()));
}

// ---- Task 2 ----------------------------------------------------------------

struct greeted {
  grade::outcome<std::vector<std::string>> yours, reference;
};

const greeted& greet_both_runs() {
  auto run = [](auto greet_both) {
    return grade::run([greet_both] {
      return tut::traced("greet_both",
                         greet_both("Ada Lovelace", "Grace Hopper"));
    });
  };
  static const greeted runs{run(yours::greet_both),
                            run(reference::greet_both)};
  return runs;
}

// ---- Task 5 ----------------------------------------------------------------

// Longer than 15 bytes: the string keeps its text on the heap (dangling.hpp).
const std::string reminder = "water the plants on the balcony";

// What the log held right after remind_later returned, at 50 ms (before the
// reminder is due at 100 ms) and at 150 ms.
struct reminded {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> at_call, at_50ms, at_150ms;
};

template <typename RemindLater>
awaitable<void> remind_scenario(RemindLater remind_later, reminded& out) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::string> log;
  // The message is gone once remind_later has returned; a task that still
  // refers to it reads '#' (dangling.hpp).
  (remind_later(ex, log, 100ms, std::string(reminder)),
   co_await asio::this_coro::executor);
  auto reused = grade::reuse_freed(reminder);
  out.at_call = log;
  co_await tut::sleep(50ms);  // virtual time, under grade::run
  out.at_50ms = log;
  co_await tut::sleep(100ms);
  out.at_150ms = log;
}

template <typename RemindLater>
reminded remind_run(RemindLater remind_later) {
  reminded out;
  out.run = grade::run([&] { return remind_scenario(remind_later, out); });
  return out;
}

}  // namespace

TEST_CASE("add_slowly returns the sum", "[lesson01][task1]") {
  struct example {
    int a, b;
    std::string msg;
  };
  std::vector<example> cases{{2, 3, "small numbers"},
                             {-4, 4, "a sum of zero"},
                             {20, 22, "the answer"}};
  for (const auto& c : cases) {
    auto actual = add_slowly_run(yours::add_slowly, c.a, c.b, 200ms);
    auto expected = add_slowly_run(reference::add_slowly, c.a, c.b, 200ms);
    INFO(c.msg);
    grade::expect_no_exception(actual, expected, "add_slowly");
    GRADE(actual.value == expected.value,
          fmt::format("add_slowly({}, {}, 200 ms) returned {}; expected {}",
                      c.a, c.b, *actual.value, *expected.value),
          actual, expected);
  }
}

TEST_CASE("add_slowly waits its delay on the loop before answering",
          "[lesson01][task1]") {
  auto actual = add_slowly_run(yours::add_slowly, 1, 1, 300ms);
  auto expected = add_slowly_run(reference::add_slowly, 1, 1, 300ms);
  grade::expect_no_exception(actual, expected, "add_slowly");
  GRADE(actual.trace.blocks.empty(), blocked(actual, "add_slowly"), actual,
        expected);
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("add_slowly(1, 1, 300 ms) answered after {}; waiting "
                    "on the loop, it answers after {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("add_slowly cancelled while it waits ends with operation_aborted",
          "[lesson01][task1]") {
  auto scenario = [](auto add_slowly) {
    return grade::run_cancelled(
        [=] { return tut::traced("add_slowly", add_slowly(1, 1, 300ms)); },
        100ms);
  };
  grade::expect_cancelled(scenario(yours::add_slowly),
                          scenario(reference::add_slowly),
                          "add_slowly(1, 1, 300 ms)", 100ms);
}

TEST_CASE("greet_both returns both greetings, first then second",
          "[lesson01][task2]") {
  const auto& [actual, expected] = greet_both_runs();
  grade::expect_no_exception(actual, expected, "greet_both");
  GRADE(actual.value == expected.value,
        fmt::format("greet_both(\"Ada Lovelace\", \"Grace Hopper\") returned "
                    "{}; expected {}",
                    grade::list(*actual.value), grade::list(*expected.value)),
        actual, expected);
}

TEST_CASE("greet_both awaits one greeting after the other",
          "[lesson01][task2]") {
  const auto& [actual, expected] = greet_both_runs();
  grade::expect_no_exception(actual, expected, "greet_both");
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("greet_both took {}; two greetings of 100 ms awaited in "
                    "turn take {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("greet_both cancelled during the second greeting ends with "
          "operation_aborted",
          "[lesson01][task2]") {
  auto scenario = [](auto greet_both) {
    return grade::run_cancelled(
        [=] { return greet_both("Ada Lovelace", "Grace Hopper"); }, 150ms);
  };
  grade::expect_cancelled(scenario(yours::greet_both),
                          scenario(reference::greet_both),
                          "greet_both(\"Ada Lovelace\", \"Grace Hopper\")",
                          150ms);
}

TEST_CASE("port_or returns the port, or the fallback when parsing throws",
          "[lesson01][task3]") {
  struct example {
    std::string text;
    std::string msg;
  };
  std::vector<example> cases{{"8080", "a valid port"},
                             {"http", "not a number"},
                             {"70000", "a number too large to be a port"},
                             {"80x", "trailing characters"}};
  for (const auto& c : cases) {
    auto call = fmt::format("port_or(\"{}\", -1)", c.text);
    auto actual =
        grade::run([&] { return tut::traced(call, yours::port_or(c.text, -1)); });
    auto expected = grade::run(
        [&] { return tut::traced(call, reference::port_or(c.text, -1)); });
    INFO(c.msg);
    grade::expect_no_exception(actual, expected, call);
    GRADE(actual.value == expected.value,
          fmt::format("{} returned {}; expected {}", call, *actual.value,
                      *expected.value),
          actual, expected);
  }
}

TEST_CASE("port_or cancelled while it parses ends with operation_aborted, "
          "not with the fallback",
          "[lesson01][task3]") {
  auto scenario = [](auto port_or) {
    return grade::run_cancelled([=] { return port_or("8080", -1); }, 5ms);
  };
  grade::expect_cancelled(scenario(yours::port_or),
                          scenario(reference::port_or),
                          "port_or(\"8080\", -1)", 5ms);
}

TEST_CASE("a job handed to start_in_background runs as its own task",
          "[lesson01][task4]") {
  auto scenario = [](auto start) {
    return grade::run([start]() -> awaitable<void> {
      // Virtual time (grade::run): the 1 s passes without a real wait.
      auto job = tut::traced("job", tut::sleep(1s));
      co_await tut::traced("main", [&]() -> awaitable<void> {
        start(co_await asio::this_coro::executor, std::move(job));
        co_return;
      }());
    });
  };
  auto actual = scenario(yours::start_in_background);
  auto expected = scenario(reference::start_in_background);
  grade::expect_no_exception(actual, expected, "start_in_background");
  const auto* job = actual.trace.find("job");
  GRADE(job != nullptr,
        "the job never ran: the loop ran until it had nothing left to do, "
        "and the job's body never started",
        actual, expected);
  GRADE(job->result == tut::outcome::done,
        fmt::format("the job started, but ended {}",
                    tut::to_string(job->result)),
        actual, expected);
  const auto* main = actual.trace.find("main");
  GRADE(main->end == expected.trace.find("main")->end,
        fmt::format("start_in_background returned after {}, when the job "
                    "had ended; it should return at once and let the job "
                    "run beside its caller",
                    secs(main->end->count())),
        actual, expected);
}

TEST_CASE("remind_later returns at once, and the reminder is logged after "
          "its delay",
          "[lesson01][task5]") {
  auto [actual, expected] = BOTH_SIDES(remind_run, remind_later);
  grade::expect_no_exception(actual, expected, "remind_later");
  GRADE(actual.at_call.empty() && actual.at_50ms.empty(),
        fmt::format("the log held {} {}; the reminder is due after 100 ms, "
                    "not before",
                    grade::list(actual.at_call.empty() ? actual.at_50ms
                                                       : actual.at_call),
                    actual.at_call.empty() ? "at 50 ms"
                                           : "as soon as remind_later "
                                             "returned"),
        actual.run, expected.run);
  GRADE(actual.at_150ms.size() == expected.at_150ms.size(),
        fmt::format("at 150 ms, 50 ms after the reminder was due, the log "
                    "held {}; it should hold one reminder",
                    grade::list(actual.at_150ms)),
        actual.run, expected.run);
}

TEST_CASE("the reminder's task keeps its own copy of the message",
          "[lesson01][task5]") {
  auto [actual, expected] = BOTH_SIDES(remind_run, remind_later);
  grade::expect_own_copy(
      actual.at_150ms, expected.at_150ms, reminder,
      {"the reminder", "remind_later", "Your task",
       "a task that runs on after the call must keep its own copy",
       "at 150 ms the log held"},
      actual.run, expected.run);
}

TEST_CASE("run_add runs the coroutine on a loop and returns 42",
          "[lesson01][task6]") {
  tut::virtual_time clock;
  int actual = yours::run_add();
  int expected = reference::run_add();
  INFO("run_add() returned " << actual << "; add_slowly(20, 22, 1 s), run "
                             << "on a loop, returns " << expected);
  CHECK(actual == expected);
}
