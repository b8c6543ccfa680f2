// Lesson 06 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Scenarios are templates over the queue type, so the same code runs
// yours::async_queue and reference::async_queue. The queue lives in a
// shared_ptr that every task keeps, so it outlives all of them.
template <typename Queue>
using shared = std::shared_ptr<Queue>;

std::string at(const std::string& what) {
  return fmt::format("{} at {}", what,
                     secs(tut::seconds(tut::now().time_since_epoch()).count()));
}

std::string shown(const std::optional<std::string>& item) {
  return item ? *item : "<end>";
}

double end_of(const tut::trace& t, std::string_view name) {
  const auto* task = t.find(name);
  return task && task->end ? task->end->count() : -1;
}

std::string when(double at) { return at < 0 ? "never" : "at " + secs(at); }

struct logged {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> log;
};

// ---- task 1 ---------------------------------------------------------------

template <typename Queue>
awaitable<void> pop_three(shared<Queue> q, std::vector<std::string>& log) {
  for (int i = 0; i < 3; ++i) log.push_back(at(shown(co_await q->pop())));
}

template <typename Queue>
awaitable<void> push_slowly(shared<Queue> q) {
  co_await tut::sleep(1s);
  co_await q->push("a");
  co_await tut::sleep(1s);
  co_await q->push("b");
  co_await q->push("c");
}

template <typename Queue>
logged pop_from_empty() {
  logged out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto q = std::make_shared<Queue>(ex, 5);
    co_spawn(ex, tut::traced("consumer", pop_three(q, out.log)), detached);
    co_spawn(ex, tut::traced("producer", push_slowly(q)), detached);
    co_return;
  });
  return out;
}

}  // namespace

TEST_CASE("pop waits while the queue is empty; items come out in the order "
          "they went in",
          "[lesson06][task1]") {
  auto actual = pop_from_empty<yours::async_queue>();
  auto expected = pop_from_empty<reference::async_queue>();
  grade::reference_runs(expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "The consumer never got all three items: push() must put the "
            "item in the channel (async_send) and pop() take it out "
            "(async_receive).",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "push and pop");
  GRADE(actual.log == expected.log,
        fmt::format("the consumer popped {}; it should pop {}. pop() waits "
                    "while the queue is empty, and hands out the items "
                    "first in, first out",
                    grade::list(actual.log), grade::list(expected.log)),
        actual.run, expected.run);
}

namespace {

struct backlog_outcome {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> log;  // "+p1" pushed, "-p1" popped, in order
  std::size_t most_waiting = 0;  // items pushed but not yet popped, at most
};

template <typename Queue>
awaitable<void> push_six(shared<Queue> q, std::vector<std::string>& log) {
  for (int i = 1; i <= 6; ++i) {
    auto item = fmt::format("p{}", i);
    co_await q->push(item);
    tut::note("producer", item);
    log.push_back("+" + item);
  }
}

template <typename Queue>
awaitable<void> pop_one_a_second(shared<Queue> q,
                                 std::vector<std::string>& log) {
  for (int i = 1; i <= 6; ++i) {
    log.push_back("-" + shown(co_await q->pop()));
    co_await tut::sleep(1s);
  }
}

template <typename Queue>
backlog_outcome fast_producer_slow_consumer() {
  backlog_outcome out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto q = std::make_shared<Queue>(ex, 2);
    co_spawn(ex, tut::traced("producer", push_six(q, out.log)), detached);
    co_spawn(ex, tut::traced("consumer", pop_one_a_second(q, out.log)),
             detached);
    co_return;
  });
  long waiting = 0;
  for (const auto& e : out.log) {
    waiting += e[0] == '+' ? 1 : -1;
    out.most_waiting = std::max<std::size_t>(out.most_waiting,
                                             std::max(waiting, 0L));
  }
  return out;
}

}  // namespace

TEST_CASE("push waits while the queue is full: a fast producer is held to "
          "the consumer's pace",
          "[lesson06][task1]") {
  auto actual = fast_producer_slow_consumer<yours::async_queue>();
  auto expected = fast_producer_slow_consumer<reference::async_queue>();
  grade::reference_runs(expected.run);
  grade::expect_no_exception(actual.run, expected.run, "push and pop");
  auto done = end_of(actual.run.trace, "producer");
  auto want = end_of(expected.run.trace, "producer");
  GRADE(actual.most_waiting <= expected.most_waiting && done == want,
        fmt::format("the producer pushed its 6 items and was done {}, with "
                    "up to {} items waiting in a queue of capacity 2; the "
                    "consumer takes one a second, so with backpressure the "
                    "producer is done {} and at most {} items wait. push() "
                    "must wait while the queue is full: give the channel "
                    "the queue's capacity and await async_send",
                    when(done), actual.most_waiting, when(want),
                    expected.most_waiting),
        actual.run, expected.run);
}

// ---- task 2 ---------------------------------------------------------------

namespace {

template <typename Queue>
awaitable<void> fill_close_drain(shared<Queue> q,
                                 std::vector<std::string>& log) {
  std::vector<std::string> items{"a", "b", "c"};
  for (const auto& item : items) co_await q->push(item);
  co_await q->close();
  for (int i = 0; i < 5; ++i) log.push_back(shown(co_await q->pop()));
}

template <typename Queue>
logged close_a_full_queue() {
  logged out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto q = std::make_shared<Queue>(ex, 4);  // room for the end, too
    co_await tut::traced("main", fill_close_drain(q, out.log));
  });
  return out;
}

}  // namespace

TEST_CASE("close lets every item already in the queue out before the end of "
          "the stream",
          "[lesson06][task2]") {
  auto actual = close_a_full_queue<yours::async_queue>();
  auto expected = close_a_full_queue<reference::async_queue>();
  grade::reference_runs(expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            fmt::format("Popped {} before the run stalled: a pop() after "
                        "the end of the stream waited forever. Every pop() "
                        "after the end gives std::nullopt again: the pop "
                        "that takes the end puts it back (try_send).",
                        grade::list(actual.log)),
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run,
                             "push, close and pop");
  auto lost = std::count(expected.log.begin(), expected.log.end(), "<end>") <
                      std::count(actual.log.begin(), actual.log.end(), "<end>")
                  ? " Items pushed before close() never came out. If "
                    "close() calls the channel's own close(): in Asio 1.22 "
                    "that throws away what is still in the channel. Send "
                    "an end-of-stream message (std::nullopt) instead, so "
                    "it comes out after the items."
                  : "";
  GRADE(actual.log == expected.log,
        fmt::format("pushed a, b and c, closed, then popped five times: {}; "
                    "expected {}.{}",
                    grade::list(actual.log), grade::list(expected.log), lost),
        actual.run, expected.run);
}

namespace {

struct consumers_outcome {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> items;  // what the consumers took, in turn
  int exited = 0;                  // consumers that saw the end
};

template <typename Queue>
awaitable<void> take_until_end(shared<Queue> q, consumers_outcome& out) {
  while (auto item = co_await q->pop()) out.items.push_back(*item);
  ++out.exited;
}

template <typename Queue>
awaitable<void> two_items_then_close(shared<Queue> q) {
  co_await tut::sleep(1s);
  co_await q->push("x");
  co_await q->push("y");
  co_await tut::sleep(1s);
  co_await q->close();
}

template <typename Queue>
consumers_outcome three_consumers() {
  consumers_outcome out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto q = std::make_shared<Queue>(ex, 2);
    for (int i = 1; i <= 3; ++i)
      co_spawn(ex,
               tut::traced(fmt::format("consumer {}", i),
                           take_until_end(q, out)),
               detached);
    co_spawn(ex, tut::traced("producer", two_items_then_close(q)), detached);
    co_return;
  });
  return out;
}

}  // namespace

TEST_CASE("every consumer sees the end of the stream, also those already "
          "waiting",
          "[lesson06][task2]") {
  auto actual = three_consumers<yours::async_queue>();
  auto expected = three_consumers<reference::async_queue>();
  grade::reference_runs(expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            fmt::format("Only {} of the 3 consumers saw the end of the "
                        "stream; the others waited forever on an empty "
                        "queue. The end of the stream is one message: the "
                        "consumer that takes it must put it back "
                        "(try_send) for the next one.",
                        actual.exited),
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the consumers");
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  GRADE(sorted(actual.items) == sorted(expected.items) &&
            actual.exited == expected.exited &&
            actual.run.seconds() == expected.run.seconds(),
        fmt::format("the consumers took {} and {} of 3 exited, the last {}; "
                    "expected {}, all 3 exiting {}, when the queue is "
                    "closed",
                    grade::list(actual.items), actual.exited,
                    when(actual.run.seconds()), grade::list(expected.items),
                    when(expected.run.seconds())),
        actual.run, expected.run);
}

// ---- task 3 ---------------------------------------------------------------

namespace {

template <typename Queue>
awaitable<void> handle_slowly(shared<Queue> q, int n) {
  for (int i = 0; i < n; ++i) {
    auto item = co_await q->pop();
    co_await tut::sleep(1s);
    tut::note("consumer", "done " + shown(item));
    q->task_done();
  }
}

template <typename Queue>
awaitable<void> join_at(shared<Queue> q, tut::clock::duration start) {
  co_await tut::sleep(start);
  co_await q->join();
}

template <typename Queue>
logged two_joiners() {
  logged out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto q = std::make_shared<Queue>(ex, 5);
    std::vector<std::string> items{"a", "b", "c"};
    for (const auto& item : items) co_await q->push(item);
    co_spawn(ex, tut::traced("consumer", handle_slowly(q, 3)), detached);
    co_spawn(ex, tut::traced("join 1", join_at(q, 0s)), detached);
    co_spawn(ex, tut::traced("join 2", join_at(q, 1500ms)), detached);
  });
  return out;
}

}  // namespace

TEST_CASE("join waits until every item has been marked done, and wakes "
          "every task waiting in it",
          "[lesson06][task3]") {
  auto actual = two_joiners<yours::async_queue>();
  auto expected = two_joiners<reference::async_queue>();
  grade::reference_runs(expected.run);
  const auto& yt = actual.run.trace;
  const auto& rt = expected.run.trace;
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "join() never returned, although the consumer marked all 3 "
            "items done by 3 s. The task_done() that brings the count to 0 "
            "must wake every join(): cancel the all_done timer.",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "join");
  GRADE(end_of(yt, "join 1") == end_of(rt, "join 1") &&
            end_of(yt, "join 2") == end_of(rt, "join 2"),
        fmt::format("join() returned {} and {}; the consumer marks the last "
                    "of the 3 items done at 3 s, so both should return {}. "
                    "join() waits until every item pushed has been marked "
                    "done with task_done(), not merely taken out",
                    when(end_of(yt, "join 1")), when(end_of(yt, "join 2")),
                    when(end_of(rt, "join 1"))),
        actual.run, expected.run);
}

namespace {

template <typename Queue>
awaitable<void> count_exactly(shared<Queue> q, std::vector<std::string>& log) {
  co_await q->join();
  log.push_back(at("join with nothing pushed returned"));
  co_await q->push("a");
  co_await q->pop();
  q->task_done();
  co_await q->join();
  log.push_back(at("join after one item done returned"));
  try {
    q->task_done();
    log.push_back("a second task_done() for one item was accepted");
  } catch (const std::logic_error&) {
    log.push_back("a second task_done() for one item threw logic_error");
  }
}

template <typename Queue>
logged nothing_unfinished() {
  logged out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto q = std::make_shared<Queue>(co_await asio::this_coro::executor, 2);
    co_await tut::traced("main", count_exactly(q, out.log));
  });
  return out;
}

}  // namespace

TEST_CASE("join returns at once when nothing is unfinished; one task_done "
          "too many throws",
          "[lesson06][task3]") {
  auto actual = nothing_unfinished<yours::async_queue>();
  auto expected = nothing_unfinished<reference::async_queue>();
  grade::reference_runs(expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "join() waited although no item was unfinished: it waits only "
            "while the count of unfinished items is above 0.",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "join and task_done");
  GRADE(actual.log == expected.log,
        fmt::format("{}; expected {}. task_done() for an item that was never "
                    "pushed is a bug in the consumer: throw "
                    "std::logic_error (asyncio raises ValueError)",
                    grade::list(actual.log), grade::list(expected.log)),
        actual.run, expected.run);
}

// ---- task 4 ---------------------------------------------------------------

namespace {

template <typename RunPipeline>
auto pipeline(RunPipeline run_pipeline, int consumers, std::size_t capacity) {
  return grade::run([=] { return run_pipeline(consumers, capacity); });
}

std::vector<std::string> all_items() {
  std::vector<std::string> items;
  for (auto p : {"A", "B", "C"})
    for (int i = 1; i <= 5; ++i) items.push_back(fmt::format("{}{}", p, i));
  return items;
}

// The consumers still waiting when the run stalled (their rows end as
// cancelled when the stalled loop is torn down).
template <typename T>
std::string never_ended(const grade::outcome<T>& run) {
  std::vector<std::string> names;
  for (const auto& task : run.trace.tasks)
    if (task.name.starts_with("consumer") &&
        task.result != tut::outcome::done)
      names.push_back("'" + task.name + "'");
  if (names.empty()) return "your tasks";
  return fmt::format("{}", fmt::join(names, ", "));
}

template <typename T>
void expect_pipeline_ends(const grade::outcome<T>& actual,
                          const grade::outcome<T>& expected) {
  if (!actual.template threw<tut::deadlock_error>()) {
    grade::expect_no_exception(actual, expected, "run_pipeline");
    return;
  }
  bool some_exited = false;
  for (const auto& task : actual.trace.tasks)
    some_exited |= task.name.starts_with("consumer") &&
                   task.result == tut::outcome::done;
  auto why =
      some_exited
          ? "Some consumers saw the end of the stream, the others never "
            "did: the consumer that takes the end must put it back for "
            "the next one."
          : "The consumers never learn that the stream is over unless "
            "someone ends it: once every producer is done, produce_all "
            "must close() the queue, and each consumer stops when pop() "
            "gives std::nullopt.";
  FAIL(grade::explain(
      fmt::format("your pipeline never finished: {} still waited on an "
                  "empty queue when nothing else could run (tut::run: {}). "
                  "{}",
                  never_ended(actual), actual.error, why),
      actual.trace, expected.trace));
}

}  // namespace

TEST_CASE("3 producers of 5 items and 2 consumers: every item is handled "
          "exactly once",
          "[lesson06][task4]") {
  auto actual = pipeline(yours::run_pipeline, 2, 2);
  auto expected = pipeline(reference::run_pipeline, 2, 2);
  grade::reference_runs(expected);
  expect_pipeline_ends(actual, expected);
  std::map<std::string, int> seen;
  for (const auto& item : *actual.value) ++seen[item];
  std::vector<std::string> lost, twice;
  for (const auto& item : all_items())
    if (seen[item] == 0) lost.push_back(item);
    else if (seen[item] > 1) twice.push_back(item);
  GRADE(lost.empty(),
        fmt::format("{} of the 15 items {} never handled: {}, still in "
                    "the queue when the stream ended. Asio's "
                    "channel::close() throws away what is in the channel; "
                    "the end of the stream must come out after the items.",
                    lost.size(), lost.size() == 1 ? "was" : "were",
                    grade::list(lost)),
        actual, expected);
  GRADE(twice.empty() && actual.value->size() == 15,
        fmt::format("the consumers handled {} items, {} more than once; "
                    "each of the 15 should be handled exactly once",
                    actual.value->size(), grade::list(twice)),
        actual, expected);
}

TEST_CASE("throughput scales with the consumers: 1, 3 and 5 consumers",
          "[lesson06][task4]") {
  struct example {
    int consumers;
    std::string msg;
  };
  std::vector<example> cases{{1, "one consumer handles the 15 items in turn"},
                             {3, "three consumers, five rounds"},
                             {5, "five consumers, three rounds"}};
  for (const auto& c : cases) {
    auto actual = pipeline(yours::run_pipeline, c.consumers, 2);
    auto expected = pipeline(reference::run_pipeline, c.consumers, 2);
    grade::reference_runs(expected);
    INFO(c.msg);
    expect_pipeline_ends(actual, expected);
    GRADE(actual.seconds() == expected.seconds(),
          fmt::format("with {} consumer(s) the pipeline handled {} of the "
                      "15 items in {}; it should handle all 15 in {}: the "
                      "consumers take one item each at a time, side by side",
                      c.consumers, actual.value->size(),
                      secs(actual.seconds()), secs(expected.seconds())),
          actual, expected);
  }
}

TEST_CASE("the pipeline ends: once the producers are done, every consumer "
          "exits",
          "[lesson06][task4]") {
  auto actual = pipeline(yours::run_pipeline, 3, 2);
  auto expected = pipeline(reference::run_pipeline, 3, 2);
  grade::reference_runs(expected);
  expect_pipeline_ends(actual, expected);
  std::vector<std::string> running;
  for (const auto& task : actual.trace.tasks)
    if (task.result != tut::outcome::done) running.push_back(task.name);
  GRADE(running.empty(),
        fmt::format("{} did not end well; every producer and consumer "
                    "should be done",
                    grade::list(running)),
        actual, expected);
}

TEST_CASE("producers feel backpressure: with room for 2 items they finish "
          "only as the consumer catches up",
          "[lesson06][task4]") {
  auto actual = pipeline(yours::run_pipeline, 1, 2);
  auto expected = pipeline(reference::run_pipeline, 1, 2);
  grade::reference_runs(expected);
  expect_pipeline_ends(actual, expected);
  auto last_producer = [](const tut::trace& t) {
    double at = -1;
    for (const auto& task : t.tasks)
      if (task.name.starts_with("producer") && task.end)
        at = std::max(at, task.end->count());
    return at;
  };
  GRADE(last_producer(actual.trace) == last_producer(expected.trace),
        fmt::format("the last producer was done {}; with one consumer "
                    "taking an item a second and room for 2, it can only "
                    "be done {}. A producer whose push() never waits piles "
                    "items up in memory instead of slowing down",
                    when(last_producer(actual.trace)),
                    when(last_producer(expected.trace))),
        actual, expected);
}
