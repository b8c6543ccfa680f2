// Lesson 02 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "cancelled.hpp"
#include "dangling.hpp"
#include "own_copy.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace {

using jobs_t = std::vector<awaitable<void>>;

// Waits of 1, 2 and 3 s, each a named task on the timeline.
jobs_t three_waits() {
  jobs_t jobs;
  for (int s : {1, 2, 3})
    jobs.push_back(tut::traced(fmt::format("wait {}s", s),
                               tut::sleep(std::chrono::seconds(s))));
  return jobs;
}

template <typename RunInTurn>
auto run_in_turn_run(RunInTurn run_in_turn) {
  return grade::run([=] { return run_in_turn(three_waits()); });
}

template <typename Start>
auto started_together(Start start) {
  return grade::run([start]() -> awaitable<void> {
    start(co_await asio::this_coro::executor, three_waits());
    co_return;
  });
}

// `function` threw nothing and each of the three waits ran; `what` says,
// with how many ran ({}), why some did not.
template <typename Run>
void expect_every_job_ran(const Run& actual, const Run& expected,
                          std::string_view function, std::string_view what) {
  grade::expect_no_exception(actual, expected, function);
  GRADE(actual.trace.tasks.size() == 3,
        fmt::format(fmt::runtime(what), actual.trace.tasks.size()), actual,
        expected);
}

// The request scenario of task 5: a heartbeat ticks every 20 ms while three
// requests of 50 ms each are handled. Run once per side and kept: the
// blocking version really sleeps.
struct requests_outcome {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> replies;
  double worst_lag = 0;  // seconds the heartbeat ticked late, at worst
};

using handler = std::function<awaitable<std::string>(int, tut::clock::duration)>;

// Coroutines spawned detached take what they need as parameters, which live
// in the coroutine frame; a capturing lambda would be gone before they run.
awaitable<void> heartbeat(double& worst_lag) {
  auto start = tut::now();
  for (int tick = 1; tick <= 6; ++tick) {
    co_await tut::sleep(20ms);  // virtual time, under grade::run
    auto late = tut::now() - (start + tick * 20ms);
    worst_lag = std::max(worst_lag, tut::seconds(late).count());
  }
}

awaitable<void> request(const handler& handle, int id,
                        std::vector<std::string>& replies) {
  replies.push_back(co_await handle(id, 50ms));
}

requests_outcome serve_requests(handler handle) {
  requests_outcome out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex, tut::traced("heartbeat", heartbeat(out.worst_lag)), detached);
    for (int id = 1; id <= 3; ++id)
      co_spawn(ex,
               tut::traced(fmt::format("request {}", id),
                           request(handle, id, out.replies)),
               detached);
  });
  return out;
}

const requests_outcome& your_requests() {
  static const auto r = serve_requests(yours::handle_request);
  return r;
}
const requests_outcome& reference_requests() {
  static const auto r = serve_requests(reference::handle_request);
  return r;
}

// Task 4. Longer than 15 bytes: the string keeps its text on the heap.
const std::string shipped = "order 1843 shipped to Ada Lovelace";

struct posted {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> log;
};

template <typename LogLater>
awaitable<void> post_then_yield(LogLater log_later,
                                std::vector<std::string>& log) {
  auto ex = co_await asio::this_coro::executor;
  // The message is gone once log_later has returned; a callback that still
  // refers to it reads '#' (dangling.hpp).
  (log_later(ex, log, std::string(shipped)),
   co_await asio::this_coro::executor);
  auto reused = grade::reuse_freed(shipped);
  log.push_back("now");
  co_await tut::yield();
  log.push_back("after yield");
}

template <typename LogLater>
posted posted_run(LogLater log_later) {
  posted out;
  out.run = grade::run([&] { return post_then_yield(log_later, out.log); });
  return out;
}

}  // namespace

TEST_CASE("three waits run in turn take 6 s: the sum of their times",
          "[lesson02][task1]") {
  auto [actual, expected] = BOTH_SIDES(run_in_turn_run, run_in_turn);
  expect_every_job_ran(actual, expected, "run_in_turn",
                       "run_in_turn ran {} of the 3 jobs; it should run each "
                       "of them to its end, one after the other");
  GRADE(actual.seconds() == expected.seconds() && actual.trace.peak == 1,
        fmt::format("run in turn, the waits should take {} one after the "
                    "other; yours took {} with up to {} at once",
                    secs(expected.seconds()), secs(actual.seconds()),
                    actual.trace.peak),
        actual, expected);
}

TEST_CASE("run_in_turn cancelled during the second job ends with "
          "operation_aborted, and the third job never starts",
          "[lesson02][task1]") {
  auto scenario = [](auto run_in_turn) {
    return grade::run_cancelled(
        [=] { return grade::as_nothing(run_in_turn(three_waits())); }, 1500ms);
  };
  auto actual = scenario(yours::run_in_turn);
  auto expected = scenario(reference::run_in_turn);
  grade::expect_cancelled(actual, expected,
                          "run_in_turn of waits of 1, 2 and 3 s", 1500ms);
  GRADE(!actual.run.trace.find("wait 3s"),
        "the third job started although run_in_turn had been cancelled "
        "during the second",
        actual.run, expected.run);
}

TEST_CASE("three waits started together take 3 s: the longest, not the sum",
          "[lesson02][task2]") {
  auto [actual, expected] = BOTH_SIDES(started_together, start_together);
  expect_every_job_ran(actual, expected, "start_together",
                       "only {} of the 3 jobs ran: a job that is neither "
                       "spawned nor awaited never runs");
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("your three waits took {}; started together they end "
                    "after {}, when the longest one does",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("jobs started together are all running at once",
          "[lesson02][task2]") {
  auto [actual, expected] = BOTH_SIDES(started_together, start_together);
  grade::expect_no_exception(actual, expected, "start_together");
  GRADE(actual.trace.peak == expected.trace.peak,
        fmt::format("at most {} of your jobs ran at the same time; all {} "
                    "should",
                    actual.trace.peak, expected.trace.peak),
        actual, expected);
}

TEST_CASE("two counters that yield take turns: a1 b1 a2 b2 a3 b3",
          "[lesson02][task3]") {
  auto scenario = [](auto count) {
    std::vector<std::string> log;
    auto run = grade::run([&]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      co_spawn(ex, tut::traced("counter a", count("a", 3, log)), detached);
      co_spawn(ex, tut::traced("counter b", count("b", 3, log)), detached);
      co_return;
    });
    return std::pair{log, run};
  };
  auto [actual, actual_run] = scenario(yours::count);
  auto [expected, expected_run] = scenario(reference::count);
  GRADE(actual == expected,
        fmt::format("the counters logged [{}]; taking turns they log [{}]. "
                    "A task keeps the loop until it awaits something",
                    fmt::join(actual, " "), fmt::join(expected, " ")),
        actual_run, expected_run);
}

TEST_CASE("a message logged later appears after the caller yields, not "
          "inside log_later",
          "[lesson02][task4]") {
  auto [actual, expected] = BOTH_SIDES(posted_run, log_later);
  grade::expect_no_exception(actual, expected, "log_later");
  // Where the message landed, whatever it reads (the next test looks at
  // what it reads).
  auto order = [](std::vector<std::string> log) {
    for (auto& line : log)
      if (line != "now" && line != "after yield") line = "<the message>";
    return log;
  };
  GRADE(order(actual.log) == order(expected.log),
        fmt::format("the log reads {}; it should read {}: a posted callback "
                    "runs once the task that posted it gives the loop back, "
                    "at its next co_await that waits",
                    grade::list(order(actual.log)),
                    grade::list(order(expected.log))),
        actual.run, expected.run);
}

TEST_CASE("the posted callback logs its own copy of the message",
          "[lesson02][task4]") {
  auto [actual, expected] = BOTH_SIDES(posted_run, log_later);
  grade::expect_own_copy(
      actual.log, expected.log, shipped,
      {"the callback", "log_later", "Your callback",
       "a callback that runs later must carry its own copy", "the log reads"},
      actual.run, expected.run);
}

TEST_CASE("a handler that waits does not block the loop: the heartbeat "
          "keeps its beat",
          "[lesson02][task5]") {
  const auto& actual = your_requests();
  const auto& expected = reference_requests();
  grade::expect_no_exception(actual.run, expected.run, "handle_request");
  const auto& blocks = actual.run.trace.blocks;
  GRADE(blocks.empty(),
        fmt::format("the loop was blocked {} time{}, up to {} at once: while "
                    "a handler held the thread, nothing else ran, and the "
                    "heartbeat ticked up to {} late. A wait on the loop "
                    "lets the other tasks run meanwhile",
                    blocks.size(), blocks.size() == 1 ? "" : "s",
                    secs(actual.run.trace.longest_block().count()),
                    secs(actual.worst_lag)),
        actual.run, expected.run);
  GRADE(actual.worst_lag <= expected.worst_lag,
        fmt::format("the heartbeat ticked {} late", secs(actual.worst_lag)),
        actual.run, expected.run);
}

TEST_CASE("a request cancelled while its handler waits ends with "
          "operation_aborted",
          "[lesson02][task5]") {
  auto scenario = [](auto handle_request) {
    return grade::run_cancelled(
        [=] { return tut::traced("request 1", handle_request(1, 50ms)); },
        20ms);
  };
  grade::expect_cancelled(scenario(yours::handle_request),
                          scenario(reference::handle_request),
                          "handle_request(1, 50 ms)", 20ms);
}

TEST_CASE("three requests of 50 ms handled together are all answered after "
          "50 ms",
          "[lesson02][task5]") {
  const auto& actual = your_requests();
  const auto& expected = reference_requests();
  grade::expect_no_exception(actual.run, expected.run, "handle_request");
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  GRADE(sorted(actual.replies) == sorted(expected.replies),
        fmt::format("the replies were [{}]; expected [{}]",
                    fmt::join(actual.replies, ", "),
                    fmt::join(expected.replies, ", ")),
        actual.run, expected.run);
  auto last_reply = [](const tut::trace& t) {
    double at = 0;
    for (const auto& task : t.tasks)
      if (task.name.starts_with("request") && task.end)
        at = std::max(at, task.end->count());
    return at;
  };
  GRADE(last_reply(actual.run.trace) == last_reply(expected.run.trace),
        fmt::format("the last reply came after {}; waiting together, all "
                    "three are done after {}",
                    secs(last_reply(actual.run.trace)),
                    secs(last_reply(expected.run.trace))),
        actual.run, expected.run);
}
