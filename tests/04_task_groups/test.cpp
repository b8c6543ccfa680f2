// Lesson 04 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "cancelled.hpp"
#include "stalled.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// The two sides, for scenarios written once: `side::task_group` is the
// group of the code under test or of the reference.
struct yours_side {
  using task_group = yours::task_group;
  static constexpr auto with_task_group = &yours::with_task_group;
};
struct reference_side {
  using task_group = reference::task_group;
  static constexpr auto with_task_group = &reference::with_task_group;
};

// The tasks of these scenarios are free coroutines taking what they need as
// parameters: a spawned capturing lambda would be gone before it runs.

// Waits `d`. If it is cancelled meanwhile, it cleans up, which shows on
// the timeline as "cleanup" and takes 20 ms (closing a connection, say),
// and then ends as cancelled (Python: `except CancelledError: await
// conn.close(); raise`) or, when `stop_quietly`, as if it had finished.
awaitable<void> waiting_task(std::string name, tut::clock::duration d,
                             bool stop_quietly) {
  try {
    co_await tut::sleep(d);
    co_return;
  } catch (const asio::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
  tut::note(name, "cleanup");
  // A cancelled coroutine must reset its cancellation state to co_await.
  co_await asio::this_coro::reset_cancellation_state();
  co_await tut::sleep(20ms);  // virtual time, under grade::run
  if (!stop_quietly) throw asio::system_error(asio::error::operation_aborted);
}

awaitable<void> worker(std::string name, tut::clock::duration d) {
  return waiting_task(std::move(name), d, false);
}

// A task for which "cancel" means "stop now": a group of these has no
// failure to report when it is cancelled, only the cancellation itself.
awaitable<void> stopper(std::string name, tut::clock::duration d) {
  return waiting_task(std::move(name), d, true);
}

// Throws std::runtime_error(what) after `d`.
awaitable<void> failing(std::string what, tut::clock::duration d) {
  co_await tut::sleep(d);
  throw std::runtime_error(what);
}

awaitable<void> traced_worker(std::string name, tut::clock::duration d) {
  return tut::traced(name, worker(name, d));
}

// A task with a group of its own: "<name>/a" and "<name>/b" wait `d` each.
template <typename TaskGroup>
awaitable<void> nested(std::string name, tut::clock::duration d) {
  TaskGroup group(co_await asio::this_coro::executor);
  group.spawn(traced_worker(name + "/a", d));
  group.spawn(traced_worker(name + "/b", d));
  co_await group.wait();
}

// After 100 ms, adds a task "late" of 300 ms to the group it runs in.
template <typename TaskGroup>
awaitable<void> spawner(TaskGroup& group) {
  co_await tut::sleep(100ms);
  group.spawn(traced_worker("late", 300ms));
}

double started_at(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  return task ? task->start.count() : -1;
}

double ended_at(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  return task && task->end ? task->end->count() : t.elapsed.count();
}

bool cleaned_up(const tut::task_record& task) {
  for (const auto& e : task.events)
    if (e.what == "cleanup") return true;
  return false;
}

// What happened to a task that should have been cancelled, in words.
std::string fate(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  if (!task) return name + " never ran";
  if (task->result == tut::outcome::cancelled && !cleaned_up(*task))
    return name + " was cancelled, but its cleanup never ran";
  return fmt::format("{} was not cancelled: it ran on to {} ({})", name,
                     secs(ended_at(t, name)), tut::to_string(task->result));
}

bool cancelled_with_cleanup(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  return task && task->result == tut::outcome::cancelled && cleaned_up(*task);
}

// A stopper that was cancelled: it cleaned up and ended.
bool stopped_early(const tut::trace& t, const std::string& name) {
  const auto* task = t.find(name);
  return task && task->end && cleaned_up(*task);
}

// Fails unless each of `names` was cancelled and cleaned up; `why` says
// when and why it should have been.
template <typename Run>
void expect_cancelled_tasks(const Run& actual, const Run& expected,
                            std::vector<std::string> names,
                            std::string_view why) {
  for (const auto& name : names)
    GRADE(cancelled_with_cleanup(actual.trace, name),
          fmt::format("{}. {}", fate(actual.trace, name), why), actual,
          expected);
}

// Fails unless each of `names` ran at all.
template <typename Run>
void expect_tasks_ran(const Run& actual, const Run& expected,
                      std::vector<std::string> names) {
  for (const auto& name : names)
    GRADE(actual.trace.find(name),
          fmt::format("the task \"{}\" never ran: a task runs only once it "
                      "is spawned or awaited",
                      name),
          actual, expected);
}

// A scenario's run, and the tasks still running when it ended.
struct group_run {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> at_return;
};

// Runs `scenario(side)` for both sides, and fails at once when yours
// stalled.
template <typename Scenario>
std::pair<group_run, group_run> both(Scenario scenario) {
  auto run = [&](auto side) {
    group_run out;
    out.run = grade::run([&] {
      return grade::noting_unfinished(scenario(side), out.at_return);
    });
    return out;
  };
  std::pair<group_run, group_run> runs{run(yours_side{}),
                                       run(reference_side{})};
  grade::expect_no_stall(runs.first.run, runs.second.run, "group", "wait()");
  return runs;
}

// The same, cancelled through a bound signal after `after`.
template <typename Scenario>
auto both_cancelled(Scenario scenario, tut::clock::duration after) {
  auto run = [&](auto side) {
    return grade::run_cancelled(
        [&] { return grade::as_nothing(scenario(side)); }, after);
  };
  return std::pair{run(yours_side{}), run(reference_side{})};
}

// Checks that a group ended with "b failed", as itself.
void expect_b_failed(const grade::outcome<grade::nothing>& actual,
                     const grade::outcome<grade::nothing>& expected,
                     const char* who) {
  GRADE(actual.exception,
        fmt::format("{} returned normally although task b threw \"b "
                    "failed\": the first failure must come out of it, once "
                    "every task has ended",
                    who),
        actual, expected);
  GRADE(actual.error_type == expected.error_type &&
            actual.error == expected.error,
        fmt::format("{} threw {}: \"{}\"; expected b's own {}: \"{}\"", who,
                    actual.error_type, actual.error, expected.error_type,
                    expected.error),
        actual, expected);
}

void expect_none_running(const group_run& actual, const group_run& expected,
                         const char* who, std::string_view more = {}) {
  GRADE(actual.at_return.empty(),
        fmt::format("when {} returned, {} {} still running: a task must "
                    "never outlive its group{}{}",
                    who, grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were",
                    more.empty() ? "" : ". ", more),
        actual.run, expected.run);
}

// Fails unless the task `name` ended when the reference's did: "`did`
// after 150 ms; `should` 300 ms".
void expect_ends_as_reference(const group_run& actual,
                              const group_run& expected,
                              const std::string& name, std::string_view did,
                              std::string_view should) {
  double yours_at = ended_at(actual.run.trace, name);
  double reference_at = ended_at(expected.run.trace, name);
  GRADE(yours_at == reference_at,
        fmt::format("{} after {}; {} {}", did, secs(yours_at), should,
                    secs(reference_at)),
        actual.run, expected.run);
}

// A scenario of a side that makes a group of that side's on the loop, then
// runs `body(group)`. The body captures nothing: it is a coroutine, and
// a capture would live in the lambda, not in the coroutine's frame.
template <typename Side, typename Body>
awaitable<void> on_a_group(Body body) {
  typename Side::task_group group(co_await asio::this_coro::executor);
  co_await body(group);
}
template <typename Body>
auto in_a_group(Body body) {
  return [body](auto side) { return on_a_group<decltype(side)>(body); };
}

// Tasks 2 and 3: "task 1", "task 2" and "task 3" take 100, 300 and 200 ms.
const auto three_tasks = in_a_group([](auto& group) -> awaitable<void> {
  group.spawn(traced_worker("task 1", 100ms));
  group.spawn(traced_worker("task 2", 300ms));
  group.spawn(traced_worker("task 3", 200ms));
  co_await tut::traced("group", group.wait());
});

// Task 3: "a" waits 300 ms, "b" fails after 100 ms, "c" waits 500 ms.
const auto one_fails = in_a_group([](auto& group) -> awaitable<void> {
  group.spawn(traced_worker("a", 300ms));
  group.spawn(tut::traced("b", failing("b failed", 100ms)));
  group.spawn(traced_worker("c", 500ms));
  co_await tut::traced("group", group.wait());
});

// Task 4: "a" and "b" wait 300 and 500 ms; cancelled from outside at
// 100 ms, the group's wait() passes that on. With `Task` = stopper, the
// tasks end normally when cancelled, and only wait() can say that the group
// was cancelled.
template <auto Task>
const auto two_waiting = in_a_group([](auto& group) -> awaitable<void> {
  group.spawn(tut::traced("a", Task("a", 300ms)));
  group.spawn(tut::traced("b", Task("b", 500ms)));
  co_await tut::traced("group", group.wait());
});

// Task 5: bodies for with_task_group. They capture nothing: what they
// spawn takes its data as parameters.
const auto body_spawns_two = [](auto& group) -> awaitable<void> {
  group.spawn(traced_worker("a", 200ms));
  group.spawn(traced_worker("b", 300ms));
  co_return;
};

const auto body_spawns_stoppers = [](auto& group) -> awaitable<void> {
  group.spawn(tut::traced("a", stopper("a", 200ms)));
  group.spawn(tut::traced("b", stopper("b", 300ms)));
  co_return;
};

const auto body_throws = [](auto& group) -> awaitable<void> {
  group.spawn(traced_worker("a", 300ms));
  group.spawn(traced_worker("b", 500ms));
  co_await tut::sleep(100ms);
  throw std::invalid_argument("bad input");
};

const auto body_waits = [](auto& group) -> awaitable<void> {
  group.spawn(tut::traced("b", failing("b failed", 100ms)));
  co_await traced_worker("body", 1s);
};

// with_task_group(body) as a task called "scope".
template <typename Body>
auto scoped(Body body) {
  return [body](auto side) -> awaitable<void> {
    co_await tut::traced("scope", decltype(side)::with_task_group(body));
  };
}

}  // namespace

TEST_CASE("a spawned task starts at once, before anyone waits for it",
          "[lesson04][task1]") {
  auto [actual, expected] =
      both(in_a_group([](auto& group) -> awaitable<void> {
        group.spawn(traced_worker("task", 500ms));
        co_await tut::sleep(200ms);
        co_await group.wait();
      }));
  grade::expect_no_exception(actual.run, expected.run, "the group");
  const auto& trace = actual.run.trace;
  expect_tasks_ran(actual.run, expected.run, {"task"});
  GRADE(started_at(trace, "task") == 0,
        fmt::format("your task started at {}, when wait() was called, and "
                    "the group took {} instead of {}. spawn should start it "
                    "at once, as asyncio.create_task does",
                    secs(started_at(trace, "task")), secs(actual.run.seconds()),
                    secs(expected.run.seconds())),
        actual.run, expected.run);
}

TEST_CASE("the tasks of a group run side by side", "[lesson04][task1]") {
  auto [actual, expected] = both(three_tasks);
  grade::expect_no_exception(actual.run, expected.run, "the group");
  auto peak = actual.run.trace.peak_of("task");
  GRADE(peak == 3,
        fmt::format("at most {} of the group's 3 tasks ran at the same "
                    "time; all of them should",
                    peak),
        actual.run, expected.run);
}

TEST_CASE("wait() returns when the last task ends: 100, 300 and 200 ms "
          "take 300 ms",
          "[lesson04][task2]") {
  auto [actual, expected] = both(three_tasks);
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_none_running(actual, expected, "wait()");
  expect_ends_as_reference(actual, expected, "group", "your wait() returned",
                           "it should return when the last task ends, after");
}

TEST_CASE("wait() on a group with no tasks returns at once",
          "[lesson04][task2]") {
  auto [actual, expected] =
      both(in_a_group([](auto& group) -> awaitable<void> {
        co_await group.wait();
      }));
  grade::expect_no_exception(actual.run, expected.run,
                             "wait() on an empty group");
}

TEST_CASE("a task may add tasks to its own group, and wait() waits for "
          "those too",
          "[lesson04][task2]") {
  auto [actual, expected] =
      both(in_a_group([](auto& group) -> awaitable<void> {
        group.spawn(tut::traced("spawner", spawner(group)));
        co_await tut::traced("group", group.wait());
      }));
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_tasks_ran(actual.run, expected.run, {"spawner", "late"});
  expect_none_running(actual, expected, "wait()");
  GRADE(ended_at(actual.run.trace, "late") <=
            ended_at(actual.run.trace, "group"),
        fmt::format("wait() returned after {}, before the task \"late\", "
                    "added at 100 ms by another task of the group, had "
                    "ended (at {})",
                    secs(ended_at(actual.run.trace, "group")),
                    secs(ended_at(actual.run.trace, "late"))),
        actual.run, expected.run);
}

TEST_CASE("when a task fails, wait() rethrows that task's own error",
          "[lesson04][task3]") {
  auto [actual, expected] = both(one_fails);
  expect_b_failed(actual.run, expected.run, "wait()");
}

TEST_CASE("when a task fails, the others are cancelled mid-sleep and their "
          "cleanup runs",
          "[lesson04][task3]") {
  auto [actual, expected] = both(one_fails);
  expect_cancelled_tasks(actual.run, expected.run, {"a", "c"},
                         "When b failed after 100 ms, the group should have "
                         "cancelled the others");
  expect_ends_as_reference(actual, expected, "group", "the group ended",
                           "b failed after 100 ms, so the group should cancel "
                           "the others then and end as soon as they have "
                           "cleaned up: after");
}

TEST_CASE("no task is still running when wait() returns after a failure",
          "[lesson04][task3]") {
  auto [actual, expected] = both(one_fails);
  expect_tasks_ran(actual.run, expected.run, {"a", "b", "c"});
  expect_none_running(actual, expected, "wait()",
                      "The tasks it cancelled must have ended too");
}

TEST_CASE("cancellation reaches nested tasks: a task waiting on a group of "
          "its own has that group's tasks cancelled too",
          "[lesson04][task4]") {
  // "nested" runs a group of its own while "b" fails after 100 ms.
  auto [actual, expected] = both([](auto side) -> awaitable<void> {
    using TaskGroup = typename decltype(side)::task_group;
    TaskGroup group(co_await asio::this_coro::executor);
    group.spawn(tut::traced("nested", nested<TaskGroup>("nested", 500ms)));
    group.spawn(tut::traced("b", failing("b failed", 100ms)));
    co_await tut::traced("group", group.wait());
  });
  expect_cancelled_tasks(actual.run, expected.run, {"nested/a", "nested/b"},
                         "The task \"nested\" was cancelled at 100 ms while "
                         "it waited on its own group: that wait() should "
                         "pass the cancellation on to the group's tasks");
  expect_none_running(
      actual, expected, "the outer group's wait()",
      fmt::format("The task \"nested\" ended at {}, before its own group's "
                  "tasks had: a cancelled wait() still waits for its tasks "
                  "to end (in Asio 1.22 a cancelled coroutine's next "
                  "co_await throws at once, until it resets its "
                  "cancellation state)",
                  secs(ended_at(actual.run.trace, "nested"))));
  expect_b_failed(actual.run, expected.run, "wait()");
}

TEST_CASE("a wait() cancelled through a bound signal cancels its tasks, "
          "waits for them, and ends with operation_aborted",
          "[lesson04][task4]") {
  // asyncio.wait_for(group_body(), 0.1): the caller gives up at 100 ms.
  // Its tasks stop early and end normally: wait() alone can report that the
  // group was cancelled.
  auto [actual, expected] = both_cancelled(two_waiting<stopper>, 100ms);
  grade::reference_runs(expected.run);
  for (const char* name : {"a", "b"})
    GRADE(!actual.run.value || stopped_early(actual.run.trace, name),
          fmt::format("{}. The wait() was cancelled at 100 ms, and the group "
                      "should pass that on to its tasks",
                      fate(actual.run.trace, name)),
          actual.run, expected.run);
  grade::expect_cancelled(actual, expected, "the group's wait()", 100ms);
}

TEST_CASE("a wait() cancelled after a task has failed still reports that "
          "failure",
          "[lesson04][task4]") {
  // b fails at 100 ms; the caller gives up at 110 ms, while a and c clean up.
  auto [actual, expected] = both_cancelled(one_fails, 110ms);
  grade::reference_runs(expected.run);
  auto yours_end = actual.run.value ? grade::how_and_when(*actual.run.value)
                                    : "never ended";
  auto reference_end = grade::how_and_when(*expected.run.value);
  GRADE(yours_end == reference_end,
        fmt::format("b failed at 100 ms and the wait() was cancelled at "
                    "110 ms; your wait() {}, the reference's {}: the "
                    "failure that ended the group comes first",
                    yours_end, reference_end),
        actual.run, expected.run);
}

TEST_CASE("a group whose wait() loses a race to a timeout (||) cancels its "
          "tasks and waits for them",
          "[lesson04][task4]") {
  using namespace asio::experimental::awaitable_operators;
  auto [actual, expected] = both([](auto side) -> awaitable<void> {
    co_await (two_waiting<worker>(side) || tut::sleep(100ms));
  });
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_cancelled_tasks(actual.run, expected.run, {"a", "b"},
                         "The timeout won the race at 100 ms, which cancels "
                         "the group's wait(), and the group should pass that "
                         "on to its tasks");
  expect_none_running(actual, expected, "the race");
}

TEST_CASE("with_task_group waits for the tasks its body spawned, even when "
          "the body does not",
          "[lesson04][task5]") {
  auto [actual, expected] = both(scoped(body_spawns_two));
  grade::expect_no_exception(actual.run, expected.run, "with_task_group");
  expect_none_running(actual, expected, "with_task_group");
  expect_ends_as_reference(actual, expected, "scope",
                           "with_task_group returned",
                           "leaving the scope means waiting for its tasks, "
                           "which end after");
}

TEST_CASE("when the body of with_task_group throws, its tasks are cancelled "
          "and the body's error comes out",
          "[lesson04][task5]") {
  auto [actual, expected] = both(scoped(body_throws));
  expect_none_running(actual, expected, "with_task_group",
                      "Leaving the scope by an exception must still wait "
                      "for the group's tasks");
  expect_cancelled_tasks(actual.run, expected.run, {"a", "b"},
                         "The body threw after 100 ms: leaving the scope by "
                         "an exception cancels the group's tasks");
  GRADE(actual.run.threw<std::invalid_argument>(),
        fmt::format("with_task_group threw {}{}; expected the body's own "
                    "std::invalid_argument: \"bad input\"",
                    actual.run.exception ? actual.run.error_type : "nothing",
                    actual.run.exception ? ": \"" + actual.run.error + "\""
                                         : std::string()),
        actual.run, expected.run);
}

TEST_CASE("a failing task cancels the body of with_task_group too, as "
          "asyncio.TaskGroup does",
          "[lesson04][task5]") {
  auto [actual, expected] = both(scoped(body_waits));
  expect_cancelled_tasks(actual.run, expected.run, {"body"},
                         "Task b failed after 100 ms; in asyncio.TaskGroup "
                         "that cancels the body too");
  expect_none_running(actual, expected, "with_task_group");
  expect_b_failed(actual.run, expected.run, "with_task_group");
}

TEST_CASE("a with_task_group cancelled while it waits cancels its tasks, "
          "waits for them, and ends with operation_aborted",
          "[lesson04][task5]") {
  auto [actual, expected] =
      both_cancelled(scoped(body_spawns_stoppers), 100ms);
  grade::expect_cancelled(actual, expected, "with_task_group", 100ms);
}

TEST_CASE("a task_group that goes out of scope without wait() cancels its "
          "tasks",
          "[lesson04][task5]") {
  auto [actual, expected] = both([](auto side) -> awaitable<void> {
    {
      typename decltype(side)::task_group group(
          co_await asio::this_coro::executor);
      group.spawn(traced_worker("orphan", 1s));
      co_await tut::sleep(100ms);
    }  // the group is destroyed here
  });
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_tasks_ran(actual.run, expected.run, {"orphan"});
  expect_cancelled_tasks(actual.run, expected.run, {"orphan"},
                         "Its group was destroyed at 100 ms, and a task must "
                         "not outlive its group. C++ has no async destructor, "
                         "so ~task_group() cannot wait, but it can cancel");
}
