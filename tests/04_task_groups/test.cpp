// Lesson 04 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace asio::experimental::awaitable_operators;

namespace {

// The tasks of these scenarios are free coroutines taking what they need as
// parameters: a spawned capturing lambda would be gone before it runs.

// Waits `d`. If it is cancelled meanwhile, it cleans up, which shows on
// the timeline as "cleanup" and takes 20 ms (closing a connection, say),
// and then ends as cancelled. Python: `except CancelledError: await
// conn.close(); raise`.
awaitable<void> worker(std::string name, tut::clock::duration d) {
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
  throw asio::system_error(asio::error::operation_aborted);
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

// A scenario's result: the tasks still running when the group returned.
struct group_run {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> at_return;
};

// The failure scenario of tasks 3: "a" waits 300 ms, "b" fails after
// 100 ms, "c" waits 500 ms. Runs the group as a task called "group".
template <typename TaskGroup>
awaitable<void> one_fails(std::vector<std::string>& at_return) {
  TaskGroup group(co_await asio::this_coro::executor);
  group.spawn(traced_worker("a", 300ms));
  group.spawn(tut::traced("b", failing("b failed", 100ms)));
  group.spawn(traced_worker("c", 500ms));
  try {
    co_await tut::traced("group", group.wait());
  } catch (...) {
    at_return = grade::unfinished_now();
    throw;
  }
  at_return = grade::unfinished_now();
}

// Task 4: "nested" runs a group of its own while "b" fails after 100 ms.
template <typename TaskGroup>
awaitable<void> nested_cancelled(std::vector<std::string>& at_return) {
  TaskGroup group(co_await asio::this_coro::executor);
  group.spawn(tut::traced("nested", nested<TaskGroup>("nested", 500ms)));
  group.spawn(tut::traced("b", failing("b failed", 100ms)));
  try {
    co_await tut::traced("group", group.wait());
  } catch (...) {
    at_return = grade::unfinished_now();
    throw;
  }
  at_return = grade::unfinished_now();
}

template <typename Scenario>
group_run run_group(Scenario scenario) {
  group_run out;
  out.run = grade::run([&] { return scenario(out.at_return); });
  return out;
}

// Checks that a group ended with "b failed", as itself.
void expect_b_failed(const grade::outcome<grade::nothing>& actual,
                     const grade::outcome<grade::nothing>& expected,
                     const char* who) {
  GRADE(actual.exception,
        fmt::format("{} returned normally although task b threw \"b "
                    "failed\": the error was swallowed. Rethrow the first "
                    "failure once every task has ended",
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
                         const char* who,
                         const char* advice = "Wait until the tasks you "
                                              "cancelled have ended") {
  GRADE(actual.at_return.empty(),
        fmt::format("when {} returned, {} {} still running: a task must "
                    "never outlive its group. {}",
                    who, grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were", advice),
        actual.run, expected.run);
}

// Task 5: bodies for with_task_group. They capture nothing: what they
// spawn takes its data as parameters.
awaitable<void> body_spawns_two(auto& group) {
  group.spawn(traced_worker("a", 200ms));
  group.spawn(traced_worker("b", 300ms));
  co_return;
}

awaitable<void> body_throws(auto& group) {
  group.spawn(traced_worker("a", 300ms));
  group.spawn(traced_worker("b", 500ms));
  co_await tut::sleep(100ms);
  throw std::invalid_argument("bad input");
}

awaitable<void> body_waits(auto& group) {
  group.spawn(tut::traced("b", failing("b failed", 100ms)));
  co_await traced_worker("body", 1s);
}

template <typename WithTaskGroup, typename Body>
awaitable<void> scoped(WithTaskGroup with_task_group, Body body,
                       std::vector<std::string>& at_return) {
  try {
    co_await tut::traced("scope", with_task_group(body));
  } catch (...) {
    at_return = grade::unfinished_now();
    throw;
  }
  at_return = grade::unfinished_now();
}

}  // namespace

TEST_CASE("a spawned task starts at once, before anyone waits for it",
          "[lesson04][task1]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    return grade::run([]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      group.spawn(traced_worker("task", 500ms));
      co_await tut::sleep(200ms);
      co_await group.wait();
    });
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual, expected, "the group");
  GRADE(actual.trace.find("task"),
        "the spawned task never ran: spawn must start it (co_spawn it)",
        actual, expected);
  GRADE(started_at(actual.trace, "task") == 0,
        fmt::format("your task started at {}, when wait() was called, and "
                    "the group took {} instead of {}. spawn should start it "
                    "at once, like asyncio.create_task: an awaitable does "
                    "nothing until it is spawned or awaited, so co_spawn it "
                    "in spawn()",
                    secs(started_at(actual.trace, "task")),
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("the tasks of a group run side by side", "[lesson04][task1]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    return grade::run([]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      group.spawn(traced_worker("task 1", 100ms));
      group.spawn(traced_worker("task 2", 300ms));
      group.spawn(traced_worker("task 3", 200ms));
      co_await group.wait();
    });
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual, expected, "the group");
  auto peak = actual.trace.peak_of("task");
  GRADE(peak == 3,
        fmt::format("at most {} of the group's 3 tasks ran at the same "
                    "time; all of them should",
                    peak),
        actual, expected);
}

TEST_CASE("wait() returns when the last task ends: 100, 300 and 200 ms "
          "take 300 ms",
          "[lesson04][task2]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    std::vector<std::string> at_return;
    auto run = grade::run([&]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      group.spawn(traced_worker("task 1", 100ms));
      group.spawn(traced_worker("task 2", 300ms));
      group.spawn(traced_worker("task 3", 200ms));
      co_await tut::traced("group", group.wait());
      at_return = grade::unfinished_now();
    });
    return group_run{run, at_return};
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_none_running(actual, expected, "wait()");
  double yours_at = ended_at(actual.run.trace, "group");
  double reference_at = ended_at(expected.run.trace, "group");
  GRADE(yours_at == reference_at,
        fmt::format("your wait() returned after {}; the last task ends "
                    "after {}, and that is when it should return",
                    secs(yours_at), secs(reference_at)),
        actual.run, expected.run);
}

TEST_CASE("wait() on a group with no tasks returns at once",
          "[lesson04][task2]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    return grade::run([]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      co_await group.wait();
    });
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  if (actual.threw<tut::deadlock_error>())
    FAIL(grade::explain("wait() on an empty group waited forever: with no "
                        "task running there is nothing to wait for",
                        actual.trace, expected.trace));
  grade::expect_no_exception(actual, expected, "wait() on an empty group");
}

TEST_CASE("a task may add tasks to its own group, and wait() waits for "
          "those too",
          "[lesson04][task2]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    std::vector<std::string> at_return;
    auto run = grade::run([&]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      group.spawn(tut::traced("spawner", spawner(group)));
      co_await tut::traced("group", group.wait());
      at_return = grade::unfinished_now();
    });
    return group_run{run, at_return};
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual.run, expected.run, "the group");
  expect_none_running(actual, expected, "wait()");
  GRADE(ended_at(actual.run.trace, "late") <=
            ended_at(actual.run.trace, "group"),
        "wait() returned before the task 'late', added by another task of "
        "the group: count tasks as they are spawned, and wait until none "
        "is running",
        actual.run, expected.run);
}

TEST_CASE("when a task fails, wait() rethrows that task's own error",
          "[lesson04][task3]") {
  auto actual = run_group(one_fails<yours::task_group>);
  auto expected = run_group(one_fails<reference::task_group>);
  expect_b_failed(actual.run, expected.run, "wait()");
}

TEST_CASE("when a task fails, the others are cancelled mid-sleep and their "
          "cleanup runs",
          "[lesson04][task3]") {
  auto actual = run_group(one_fails<yours::task_group>);
  auto expected = run_group(one_fails<reference::task_group>);
  for (const char* name : {"a", "c"})
    GRADE(cancelled_with_cleanup(actual.run.trace, name),
          fmt::format("{}. When b failed after 100 ms, the group should have "
                      "cancelled the others (emit on their cancellation "
                      "signals)",
                      fate(actual.run.trace, name)),
          actual.run, expected.run);
  GRADE(ended_at(actual.run.trace, "group") ==
            ended_at(expected.run.trace, "group"),
        fmt::format("the group ended after {}; b failed after 100 ms, so "
                    "the group should cancel the others then and end as "
                    "soon as they have cleaned up: after {}",
                    secs(ended_at(actual.run.trace, "group")),
                    secs(ended_at(expected.run.trace, "group"))),
        actual.run, expected.run);
}

TEST_CASE("no task is still running when wait() returns after a failure",
          "[lesson04][task3]") {
  auto actual = run_group(one_fails<yours::task_group>);
  auto expected = run_group(one_fails<reference::task_group>);
  expect_none_running(actual, expected, "wait()");
}

TEST_CASE("cancellation reaches nested tasks: a task waiting on a group of "
          "its own has that group's tasks cancelled too",
          "[lesson04][task4]") {
  auto actual = run_group(nested_cancelled<yours::task_group>);
  auto expected = run_group(nested_cancelled<reference::task_group>);
  for (const char* name : {"nested/a", "nested/b"})
    GRADE(cancelled_with_cleanup(actual.run.trace, name),
          fmt::format("{}. When the task \"nested\" is cancelled while it "
                      "waits on its own group, wait() must pass the "
                      "cancellation on: after the wait wakes, look at "
                      "`co_await asio::this_coro::cancellation_state`",
                      fate(actual.run.trace, name)),
          actual.run, expected.run);
  // The outer wait() itself returned before its task "nested" had ended.
  const auto& left = actual.at_return;
  if (std::find(left.begin(), left.end(), "nested") != left.end())
    expect_none_running(actual, expected, "wait()");
  GRADE(actual.at_return.empty(),
        fmt::format("when the outer group returned, {} {} still running. "
                    "The inner wait() was cancelled and left at once: "
                    "once a coroutine is cancelled, Asio makes its next "
                    "co_await throw. Pass the cancellation on to the tasks, "
                    "`co_await asio::this_coro::reset_cancellation_state()`"
                    ", and keep waiting until they have ended",
                    grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were"),
        actual.run, expected.run);
  expect_b_failed(actual.run, expected.run, "wait()");
}

TEST_CASE("a group whose wait() is cancelled from outside cancels its "
          "tasks, and waits for them",
          "[lesson04][task4]") {
  // asyncio.wait_for(group_body(), 0.1): a timeout around the group.
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    std::vector<std::string> at_return;
    auto run = grade::run([&]() -> awaitable<void> {
      TaskGroup group(co_await asio::this_coro::executor);
      group.spawn(traced_worker("a", 300ms));
      group.spawn(traced_worker("b", 500ms));
      co_await (tut::traced("group", group.wait()) || tut::sleep(100ms));
      at_return = grade::unfinished_now();
    });
    return group_run{run, at_return};
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual.run, expected.run, "the group");
  for (const char* name : {"a", "b"})
    GRADE(cancelled_with_cleanup(actual.run.trace, name),
          fmt::format("{}. The wait() was cancelled after 100 ms (a timeout "
                      "won the race); the group should pass that on to its "
                      "tasks: check `co_await asio::this_coro::"
                      "cancellation_state` after the wait wakes",
                      fate(actual.run.trace, name)),
          actual.run, expected.run);
  GRADE(actual.at_return.empty(),
        fmt::format("when the cancelled wait() returned, {} {} still "
                    "running: after passing the cancellation on, "
                    "`co_await asio::this_coro::reset_cancellation_state()` "
                    "(or Asio throws at the next co_await) and keep waiting "
                    "until the tasks have ended",
                    grade::list(actual.at_return),
                    actual.at_return.size() == 1 ? "was" : "were"),
        actual.run, expected.run);
}

TEST_CASE("with_task_group waits for the tasks its body spawned, even when "
          "the body does not",
          "[lesson04][task5]") {
  auto scenario = [](auto with_task_group, auto body) {
    std::vector<std::string> at_return;
    auto run = grade::run(
        [&] { return scoped(with_task_group, body, at_return); });
    return group_run{run, at_return};
  };
  auto actual = scenario(yours::with_task_group,
                         body_spawns_two<yours::task_group>);
  auto expected = scenario(reference::with_task_group,
                           body_spawns_two<reference::task_group>);
  grade::expect_no_exception(actual.run, expected.run, "with_task_group");
  expect_none_running(actual, expected, "with_task_group");
  GRADE(ended_at(actual.run.trace, "scope") ==
            ended_at(expected.run.trace, "scope"),
        fmt::format("with_task_group returned after {}; its tasks end after "
                    "{}: leaving the scope means waiting for them",
                    secs(ended_at(actual.run.trace, "scope")),
                    secs(ended_at(expected.run.trace, "scope"))),
        actual.run, expected.run);
}

TEST_CASE("when the body of with_task_group throws, its tasks are cancelled "
          "and the body's error comes out",
          "[lesson04][task5]") {
  auto scenario = [](auto with_task_group, auto body) {
    std::vector<std::string> at_return;
    auto run = grade::run(
        [&] { return scoped(with_task_group, body, at_return); });
    return group_run{run, at_return};
  };
  auto actual = scenario(yours::with_task_group,
                         body_throws<yours::task_group>);
  auto expected = scenario(reference::with_task_group,
                           body_throws<reference::task_group>);
  expect_none_running(actual, expected, "with_task_group",
                      "Leaving the scope by an exception must still wait "
                      "for the group's tasks: spawn the body as a task of "
                      "the group, then wait()");
  for (const char* name : {"a", "b"})
    GRADE(cancelled_with_cleanup(actual.run.trace, name),
          fmt::format("{}. The body threw after 100 ms: leaving the scope "
                      "by an exception cancels the group's tasks",
                      fate(actual.run.trace, name)),
          actual.run, expected.run);
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
  auto scenario = [](auto with_task_group, auto body) {
    std::vector<std::string> at_return;
    auto run = grade::run(
        [&] { return scoped(with_task_group, body, at_return); });
    return group_run{run, at_return};
  };
  auto actual = scenario(yours::with_task_group,
                         body_waits<yours::task_group>);
  auto expected = scenario(reference::with_task_group,
                           body_waits<reference::task_group>);
  GRADE(cancelled_with_cleanup(actual.run.trace, "body"),
        fmt::format("the body went on after task b failed: {}. In "
                    "asyncio.TaskGroup the body is cancelled too; run it as "
                    "a task of the group (spawn it) and then wait",
                    fate(actual.run.trace, "body")),
        actual.run, expected.run);
  expect_none_running(actual, expected, "with_task_group");
  expect_b_failed(actual.run, expected.run, "with_task_group");
}

TEST_CASE("a task_group that goes out of scope without wait() cancels its "
          "tasks",
          "[lesson04][task5]") {
  auto scenario = [](auto side) {
    using TaskGroup = typename decltype(side)::type;
    return grade::run([]() -> awaitable<void> {
      {
        TaskGroup group(co_await asio::this_coro::executor);
        group.spawn(traced_worker("orphan", 1s));
        co_await tut::sleep(100ms);
      }  // the group is destroyed here
    });
  };
  auto actual = scenario(std::type_identity<yours::task_group>{});
  auto expected = scenario(std::type_identity<reference::task_group>{});
  grade::expect_no_exception(actual, expected, "the group");
  GRADE(actual.trace.find("orphan"),
        "the spawned task never ran: spawn must start it (co_spawn it)",
        actual, expected);
  GRADE(cancelled_with_cleanup(actual.trace, "orphan"),
        fmt::format("{}, after its group was destroyed at 100 ms: a task "
                    "must not outlive its group. C++ has no async "
                    "destructor, so ~task_group() cannot wait, but it can "
                    "cancel()",
                    fate(actual.trace, "orphan")),
        actual, expected);
}
