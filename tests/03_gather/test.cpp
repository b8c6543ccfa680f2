// Lesson 03 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "cancelled.hpp"
#include "stalled.hpp"

#include <asio/multiple_exceptions.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asio::experimental::awaitable_operators;

namespace {

using jobs_t = std::vector<awaitable<std::string>>;
using still_running = std::vector<std::string>;

// A job that answers `text` after `d`. When it is cancelled, it takes 20 ms
// to clean up (closing its connection, say) before it ends.
awaitable<std::string> answer(std::string text, tut::clock::duration d) {
  try {
    co_await tut::sleep(d);
    co_return text;
  } catch (const asio::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
  // A cancelled coroutine must reset its cancellation state to co_await.
  co_await asio::this_coro::reset_cancellation_state();
  co_await tut::sleep(20ms);  // virtual time, under grade::run
  throw asio::system_error(asio::error::operation_aborted);
}

// A job that throws std::runtime_error(what) after `d`.
awaitable<std::string> fail(std::string what, tut::clock::duration d) {
  co_await tut::sleep(d);
  throw std::runtime_error(what);
}

struct job {
  std::string name;
  tut::clock::duration takes;
  std::string answer;  // what it returns, or
  std::string error;   // when not empty, what it throws
};

// The job as a named task on the timeline.
awaitable<std::string> traced_job(const job& j) {
  return tut::traced(j.name, j.error.empty() ? answer(j.answer, j.takes)
                                             : fail(j.error, j.takes));
}

jobs_t make_jobs(const std::vector<job>& list) {
  jobs_t jobs;
  for (const auto& j : list) jobs.push_back(traced_job(j));
  return jobs;
}

// gather_pair of the job "first" (the left page, in 300 ms) and `second`.
template <typename GatherPair>
auto gather_pair_run(GatherPair gather_pair, const job& second) {
  return grade::run([=] {
    return gather_pair(traced_job({"first", 300ms, "the left page", ""}),
                       traced_job(second));
  });
}

// Jobs 1, 2 and 3 answer after 300, 100 and 200 ms: they end in the order
// 2, 3, 1. The answers are longer than 15 bytes, so a string that outlives
// its owner shows.
const std::vector<job> three_jobs{
    {"job 1", 300ms, "the first job's answer", ""},
    {"job 2", 100ms, "the second job's answer", ""},
    {"job 3", 200ms, "the third job's answer", ""}};

// The same, but job 2 throws after 100 ms, while 1 and 3 are still waiting.
const std::vector<job> job_2_fails{
    {"job 1", 300ms, "the first job's answer", ""},
    {"job 2", 100ms, "", "orders service is down"},
    {"job 3", 200ms, "the third job's answer", ""}};

// A gather (or gather_settled) run as a task called "gather", with the
// jobs still running at the moment it returned or threw.
template <typename T>
struct gather_run {
  grade::outcome<T> run;
  still_running at_return;
};

template <typename Gather>
auto run_gather(Gather gather, const std::vector<job>& list) {
  using T = typename std::invoke_result_t<Gather, jobs_t>::value_type;
  gather_run<T> out;
  out.run = grade::run([&] {
    return grade::noting_unfinished(
        tut::traced("gather", gather(make_jobs(list))), out.at_return);
  });
  return out;
}

// "std::runtime_error: orders service is down", or what a wrapper hides.
template <typename T>
std::string what_it_threw(const grade::outcome<T>& o) {
  if (!o.exception) return "nothing";
  auto out = fmt::format("{}: \"{}\"", o.error_type, o.error);
  try {
    std::rethrow_exception(o.exception);
  } catch (const asio::multiple_exceptions& m) {
    out += fmt::format(", whose first exception is {}: \"{}\"",
                       grade::type_name(m.first_exception()),
                       grade::describe_exception(m.first_exception()));
  } catch (...) {
  }
  return out;
}

bool is_operation_aborted(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const asio::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (const asio::multiple_exceptions& m) {
    return is_operation_aborted(m.first_exception());
  } catch (...) {
    return false;
  }
}

double ended_at(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  return task && task->end ? task->end->count() : t.elapsed.count();
}

// What happened to a job that should have been cancelled, in words.
std::string fate(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  if (!task) return name + " never ran";
  return fmt::format("{} was not cancelled: it ran on to {} ({})", name,
                     secs(ended_at(t, name)), tut::to_string(task->result));
}

// Fails unless each of `names` ended cancelled; `why` says when and why it
// should have been.
template <typename A, typename B>
void expect_cancelled_jobs(const grade::outcome<A>& actual,
                           const grade::outcome<B>& expected,
                           std::vector<std::string> names,
                           std::string_view why) {
  for (const auto& name : names) {
    const auto* task = actual.trace.find(name);
    GRADE(task && task->result == tut::outcome::cancelled,
          fmt::format("{}. {}: a job is reached by its signal only through "
                      "the cancellation slot bound to its co_spawn",
                      fate(actual.trace, name), why),
          actual, expected);
  }
}

// Fails when not one job ran: nothing was spawned or awaited.
template <typename A, typename B>
void expect_jobs_ran(const grade::outcome<A>& actual,
                     const grade::outcome<B>& expected, std::string_view who) {
  GRADE(actual.trace.peak_of("job") > 0,
        fmt::format("none of the jobs ran: {} ended without starting them. "
                    "A job runs only once it is spawned or awaited",
                    who),
        actual, expected);
}

// Runs `list` through both sides' `gather` (or gather_settled), and fails
// at once when yours stalled, or threw where the reference did not (unless
// `may_throw`: a job fails, and gather should throw).
template <typename Yours, typename Reference>
auto gathered(Yours yours, Reference reference, const std::vector<job>& list,
              std::string_view who, bool may_throw = false) {
  auto actual = run_gather(yours, list);
  auto expected = run_gather(reference, list);
  grade::expect_no_stall(actual.run, expected.run, "gather", who);
  if (!may_throw) grade::expect_no_exception(actual.run, expected.run, who);
  return std::pair{std::move(actual), std::move(expected)};
}

// The scenarios the cases of tasks 2 to 4 look at, each from its own side.
auto gather_of_three() {
  return gathered(yours::gather, reference::gather, three_jobs, "gather");
}
auto gather_with_job_2_failing() {
  return gathered(yours::gather, reference::gather, job_2_fails, "gather",
                  true);
}
auto settled_with_job_2_failing() {
  return gathered(yours::gather_settled, reference::gather_settled,
                  job_2_fails, "gather_settled");
}

template <typename Settled>
std::vector<std::string> describe(const std::vector<Settled>& outcomes) {
  std::vector<std::string> out;
  for (const auto& o : outcomes)
    out.push_back(o.value ? "\"" + *o.value + "\""
                  : o.error
                      ? "error \"" + grade::describe_exception(o.error) + "\""
                      : "nothing");
  return out;
}

// Cancelled from outside at 50 ms, through a bound signal, while its three
// jobs wait (asyncio.wait_for(gather(...), 0.05)): the work must cancel all
// three, wait for their 20 ms of cleanup, and end with operation_aborted.
template <typename Scenario, typename Yours, typename Reference>
void expect_cancelled_at_50ms(Scenario scenario, Yours yours_work,
                              Reference reference_work, std::string_view what,
                              std::vector<std::string> jobs) {
  auto actual =
      grade::run_cancelled([&] { return scenario(yours_work); }, 50ms);
  auto expected =
      grade::run_cancelled([&] { return scenario(reference_work); }, 50ms);
  grade::reference_runs(expected.run);
  if (actual.run.value)
    expect_cancelled_jobs(actual.run, expected.run, jobs,
                          fmt::format("{} was cancelled at 50 ms, and its "
                                      "jobs should have been then",
                                      what));
  grade::expect_cancelled(actual, expected, what, 50ms);
}

// The same for gather or gather_settled over the three jobs.
template <typename Yours, typename Reference>
void expect_three_jobs_cancelled_at_50ms(Yours yours_gather,
                                         Reference reference_gather,
                                         std::string_view what) {
  expect_cancelled_at_50ms(
      [](auto gather) { return gather(make_jobs(three_jobs)); }, yours_gather,
      reference_gather, what, {"job 1", "job 2", "job 3"});
}

}  // namespace

// ---- Task 1: the && operator -------------------------------------------

TEST_CASE("the dashboard's three services answer together: 200 ms, not "
          "600 ms",
          "[lesson03][task1]") {
  auto actual = grade::run([] { return yours::load_dashboard(7); });
  auto expected = grade::run([] { return reference::load_dashboard(7); });
  grade::expect_no_exception(actual, expected, "load_dashboard");
  auto peak = actual.trace.peak_of("");
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("load_dashboard took {} with at most {} service{} "
                    "called at once; called together, the three services "
                    "of 200 ms answer after {}",
                    secs(actual.seconds()), peak, peak == 1 ? "" : "s",
                    secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("the dashboard shows the user, the orders and the notifications",
          "[lesson03][task1]") {
  auto actual = grade::run([] { return yours::load_dashboard(7); });
  auto expected = grade::run([] { return reference::load_dashboard(7); });
  grade::expect_no_exception(actual, expected, "load_dashboard");
  const auto& a = *actual.value;
  const auto& e = *expected.value;
  GRADE(a.user == e.user && a.orders == e.orders &&
            a.notifications == e.notifications,
        fmt::format("load_dashboard(7) gave user \"{}\", orders {}, "
                    "notifications {}; expected \"{}\", {}, {}",
                    a.user, grade::list(a.orders),
                    grade::list(a.notifications), e.user,
                    grade::list(e.orders), grade::list(e.notifications)),
        actual, expected);
}

// ---- Task 2: gather, every job at once ---------------------------------

TEST_CASE("gather returns the results in the order of the jobs, not the "
          "order they finish",
          "[lesson03][task2]") {
  auto [actual, expected] = gather_of_three();
  GRADE(actual.run.value == expected.run.value,
        fmt::format("gather returned {}; expected {}. The jobs end in the "
                    "order 2, 3, 1, but job i's result belongs in slot i",
                    grade::list(*actual.run.value),
                    grade::list(*expected.run.value)),
        actual.run, expected.run);
}

TEST_CASE("three jobs gathered run at once: the total is the slowest job, "
          "not the sum",
          "[lesson03][task2]") {
  auto [actual, expected] = gather_of_three();
  expect_jobs_ran(actual.run, expected.run, "gather");
  auto peak = actual.run.trace.peak_of("job");
  GRADE(actual.run.seconds() == expected.run.seconds() && peak == 3,
        fmt::format("your gather took {} with at most {} job{} running at "
                    "once{}; jobs of 300, 100 and 200 ms run together end "
                    "after {}",
                    secs(actual.run.seconds()), peak, peak == 1 ? "" : "s",
                    peak == 1 ? ": they ran one after another" : "",
                    secs(expected.run.seconds())),
        actual.run, expected.run);
  GRADE(actual.at_return.empty(),
        fmt::format("when gather returned, {} {} still running",
                    grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were"),
        actual.run, expected.run);
}

TEST_CASE("gather of no jobs returns an empty list at once",
          "[lesson03][task2]") {
  auto actual = run_gather(yours::gather, {});
  auto expected = run_gather(reference::gather, {});
  if (actual.run.threw<tut::deadlock_error>())
    FAIL(grade::explain("gather of no jobs waited forever for jobs to end: "
                        "with nothing running there is nothing to wait for",
                        actual.run.trace, expected.run.trace));
  grade::expect_no_exception(actual.run, expected.run, "gather({})");
  GRADE(actual.run.value->empty() && actual.run.seconds() == 0,
        fmt::format("gather of no jobs returned {} after {}; expected [] at "
                    "once",
                    grade::list(*actual.run.value), secs(actual.run.seconds())),
        actual.run, expected.run);
}

// ---- Task 3: the first error cancels the others ------------------------

TEST_CASE("when a job fails, gather rethrows that job's own exception",
          "[lesson03][task3]") {
  auto [actual, expected] = gather_with_job_2_failing();
  GRADE(actual.run.exception,
        fmt::format("gather returned {} although job 2 threw \"orders "
                    "service is down\": the first error must come out of "
                    "gather",
                    grade::list(*actual.run.value)),
        actual.run, expected.run);
  if (is_operation_aborted(actual.run.exception))
    FAIL(grade::explain(
        fmt::format("gather threw {}: the cancellation of a job it stopped, "
                    "not job 2's std::runtime_error, the first error in "
                    "time, which is why it stopped them",
                    what_it_threw(actual.run)),
        actual.run.trace, expected.run.trace));
  GRADE(actual.run.error_type == expected.run.error_type &&
            actual.run.error == expected.run.error,
        fmt::format("gather threw {}; expected {}", what_it_threw(actual.run),
                    what_it_threw(expected.run)),
        actual.run, expected.run);
}

TEST_CASE("when a job fails, the other jobs are cancelled and have ended by "
          "the time gather returns",
          "[lesson03][task3]") {
  auto [actual, expected] = gather_with_job_2_failing();
  GRADE(actual.at_return.empty(),
        fmt::format("when gather returned, {} {} still running: a task that "
                    "outlives the gather that started it is a leak. The "
                    "other jobs must be cancelled, and gather must wait "
                    "until they have ended",
                    grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were"),
        actual.run, expected.run);
  expect_jobs_ran(actual.run, expected.run, "gather");
  expect_cancelled_jobs(actual.run, expected.run, {"job 1", "job 3"},
                        "Once job 2 has failed after 100 ms the gather is "
                        "over, and the others should be cancelled then");
}

TEST_CASE("gather fails fast: it ends when the first job fails, not when "
          "the slowest would have finished",
          "[lesson03][task3]") {
  auto [actual, expected] = gather_with_job_2_failing();
  double yours_at = ended_at(actual.run.trace, "gather");
  double reference_at = ended_at(expected.run.trace, "gather");
  GRADE(yours_at == reference_at,
        fmt::format("your gather ended after {}; job 2 failed after 100 ms, "
                    "so gather should cancel the others then and end as "
                    "soon as they have cleaned up: after {}",
                    secs(yours_at), secs(reference_at)),
        actual.run, expected.run);
}

TEST_CASE("a gather cancelled while it waits cancels its jobs, waits for "
          "them, and ends with operation_aborted",
          "[lesson03][task3]") {
  expect_three_jobs_cancelled_at_50ms(yours::gather, reference::gather,
                                      "gather of three jobs");
}

// ---- Task 4: gather_settled --------------------------------------------

TEST_CASE("gather_settled returns every result or error, in the order of "
          "the jobs",
          "[lesson03][task4]") {
  auto [actual, expected] = settled_with_job_2_failing();
  GRADE(describe(*actual.run.value) == describe(*expected.run.value),
        fmt::format("gather_settled returned {}; expected {}: one entry per "
                    "job, in order, a value or the exception it threw",
                    grade::list(describe(*actual.run.value)),
                    grade::list(describe(*expected.run.value))),
        actual.run, expected.run);
}

TEST_CASE("gather_settled runs every job at once and to its end, cancelling "
          "none",
          "[lesson03][task4]") {
  auto [actual, expected] = settled_with_job_2_failing();
  expect_jobs_ran(actual.run, expected.run, "gather_settled");
  for (const char* name : {"job 1", "job 3"}) {
    const auto* task = actual.run.trace.find(name);
    GRADE(task && task->result == tut::outcome::done,
          fmt::format("{} {}: with return_exceptions an error ends nothing "
                      "but its own job",
                      name,
                      task ? fmt::format("was {}", tut::to_string(task->result))
                           : std::string("never ran")),
          actual.run, expected.run);
  }
  GRADE(actual.run.seconds() == expected.run.seconds(),
        fmt::format("gather_settled took {}; run together, the jobs are all "
                    "done after {}",
                    secs(actual.run.seconds()), secs(expected.run.seconds())),
        actual.run, expected.run);
}

TEST_CASE("a gather_settled cancelled while it waits cancels its jobs, "
          "waits for them, and ends with operation_aborted",
          "[lesson03][task4]") {
  expect_three_jobs_cancelled_at_50ms(yours::gather_settled,
                                      reference::gather_settled,
                                      "gather_settled of three jobs");
}

// ---- Task 5: make_parallel_group ---------------------------------------

TEST_CASE("gather_pair returns both results, the two jobs running at once",
          "[lesson03][task5]") {
  auto [actual, expected] =
      BOTH_SIDES(gather_pair_run, gather_pair,
                 job{"second", 100ms, "the right page", ""});
  grade::expect_no_exception(actual, expected, "gather_pair");
  GRADE(*actual.value == *expected.value,
        fmt::format("gather_pair returned (\"{}\", \"{}\"); expected "
                    "(\"{}\", \"{}\")",
                    actual.value->first, actual.value->second,
                    expected.value->first, expected.value->second),
        actual, expected);
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("gather_pair took {}; two jobs of 300 and 100 ms run "
                    "together take {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("when the second job of gather_pair fails, its own error comes "
          "out, not the first job's cancellation",
          "[lesson03][task5]") {
  // The reference throws too: the second job's error.
  const job second{"second", 100ms, "", "payment service is down"};
  auto actual = gather_pair_run(yours::gather_pair, second);
  auto expected = gather_pair_run(reference::gather_pair, second);
  GRADE(actual.exception,
        "gather_pair returned normally although the second job threw "
        "\"payment service is down\"",
        actual, expected);
  if (is_operation_aborted(actual.exception))
    FAIL(grade::explain(
        fmt::format("gather_pair threw {}: the cancellation of the first "
                    "job, which was cancelled because the second had "
                    "failed. The second job's own error came first in time: "
                    "that is the one to report",
                    what_it_threw(actual)),
        actual.trace, expected.trace));
  GRADE(actual.error_type == expected.error_type &&
            actual.error == expected.error,
        fmt::format("gather_pair threw {}; expected {}", what_it_threw(actual),
                    what_it_threw(expected)),
        actual, expected);
  const auto* first = actual.trace.find("first");
  GRADE(first && first->result == tut::outcome::cancelled,
        fmt::format("the first job was not cancelled when the second failed "
                    "at 100 ms: it ran on to {}",
                    secs(ended_at(actual.trace, "first"))),
        actual, expected);
}

TEST_CASE("a gather_pair cancelled while it waits cancels both jobs, waits "
          "for them, and ends with operation_aborted",
          "[lesson03][task5]") {
  expect_cancelled_at_50ms(
      [](auto gather_pair) {
        return gather_pair(
            tut::traced("job 1", answer("the left page", 300ms)),
            tut::traced("job 2", answer("the right page", 100ms)));
      },
      yours::gather_pair, reference::gather_pair, "gather_pair",
      {"job 1", "job 2"});
}
