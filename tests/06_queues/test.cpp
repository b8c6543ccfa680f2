// Lesson 06 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "recording.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---- Running a scenario on both sides --------------------------------------

// Scenarios are templates over the queue type, so the same code runs
// yours::async_queue and reference::async_queue (and, found by
// argument-dependent lookup, the consumer of the same namespace). The queue
// lives in a shared_ptr that every task keeps, so it outlives all of them.
template <typename Queue>
using shared = std::shared_ptr<Queue>;

using grade::side;

// What one run of a scenario did.
struct recorded {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> log;  // what the tasks saw, in turn
  std::string seen;              // how one operation ended
};

// record(body): runs `body(out)`, a coroutine, on virtual time.
constexpr grade::recorder<recorded> record{};
using compared = grade::compared<recorded>;

// compare(scenario): `scenario(side<Queue>{})` for both sides; the
// reference must pass it.
constexpr grade::comparer<yours::async_queue, reference::async_queue>
    compare{};

// with_a_queue(capacity, body): a scenario for compare(). On each side it
// records `body(q, out)`, a coroutine, where `q` is a fresh queue of that
// side's type with room for `capacity` items.
template <typename Body>
constexpr auto with_a_queue(std::size_t capacity, Body body) {
  auto queue = [capacity]<typename Queue>(side<Queue>, const auto& ex) {
    return std::make_shared<Queue>(ex, capacity);
  };
  return record.fresh(queue, [body](recorded& out, const auto&, auto q) {
    return body(std::move(q), out);
  });
}

// Starts `work` beside the caller, as the row `name` on the timeline.
awaitable<void> start_task(std::string name, awaitable<void> work) {
  co_spawn(co_await asio::this_coro::executor,
           tut::traced(std::move(name), std::move(work)), detached);
}

double now_s() { return tut::seconds(tut::now().time_since_epoch()).count(); }

std::string at(const std::string& what) {
  return fmt::format("{} at {}", what, secs(now_s()));
}

std::string shown(const std::optional<std::string>& item) {
  return item ? *item : "<end>";
}

// An item as the tests write it: over 15 bytes, so that a copy that
// outlives its string shows.
std::string item(std::string_view name) {
  return fmt::format("{} (an item of the queue)", name);
}

double end_of(const tut::trace& t, std::string_view name) {
  const auto* task = t.find(name);
  return task && task->end ? task->end->count() : -1;
}

using grade::when;

// Both sides' logs must match; `what` has two {}: your log, then the
// reference's.
void expect_same_log(const compared& c, std::string_view what) {
  GRADE(c.actual.log == c.expected.log,
        fmt::format(fmt::runtime(what), grade::list(c.actual.log),
                    grade::list(c.expected.log)),
        c.actual.run, c.expected.run);
}

// The run must not stall or throw; `what` has one {}: your log.
void expect_run_ends_with_log(const compared& c, std::string_view who,
                              std::string_view what) {
  expect_run_ends(c, who,
                  fmt::format(fmt::runtime(what), grade::list(c.actual.log)));
}

// Both sides' `seen` must match; `what` has two {}: how the operation ended
// in your run (`unseen` if it never said), then in the reference's.
void expect_same_seen(const compared& c, std::string_view what,
                      std::string_view unseen = "") {
  GRADE(c.actual.seen == c.expected.seen,
        fmt::format(fmt::runtime(what),
                    c.actual.seen.empty() ? unseen
                                          : std::string_view(c.actual.seen),
                    c.expected.seen),
        c.actual.run, c.expected.run);
}

// How an operation cancelled while it waited came out, in words.
template <typename T>
std::string ending(const grade::cancelled_run<T>& r) {
  if (r.ended() && !r.exception) {
    if constexpr (std::is_same_v<T, std::optional<std::string>>)
      return fmt::format("returned {} at {}",
                         *r.value ? "\"" + **r.value + "\""
                                  : std::string("std::nullopt, the end of "
                                                "the stream"),
                         secs(r.ended_at.count()));
    else
      return fmt::format("returned at {}", secs(r.ended_at.count()));
  }
  return grade::how_it_ended(r);
}

template <typename T>
awaitable<std::string> cancelled_at(awaitable<T> work,
                                    tut::clock::duration at) {
  co_return ending(co_await grade::cancel_after(std::move(work), at));
}

}  // namespace

// ---- Task 1: push and pop ---------------------------------------------------

namespace {

template <typename Queue>
awaitable<void> pop_three(shared<Queue> q, std::vector<std::string>& log) {
  for (int i = 0; i < 3; ++i) log.push_back(at(shown(co_await q->pop())));
}

template <typename Queue>
awaitable<void> push_slowly(shared<Queue> q) {
  co_await tut::sleep(1s);
  co_await q->push(item("a"));
  co_await tut::sleep(1s);
  co_await q->push(item("b"));
  co_await q->push(item("c"));
}

constexpr auto pop_from_empty =
    with_a_queue(5, [](auto q, recorded& out) -> awaitable<void> {
      co_await start_task("consumer", pop_three(q, out.log));
      co_await start_task("producer", push_slowly(q));
    });

}  // namespace

TEST_CASE("pop waits while the queue is empty; items come out in the order "
          "they went in",
          "[lesson06][task1]") {
  auto c = compare(pop_from_empty);
  expect_run_ends_with_log(c, "push and pop",
                           "The consumer popped {} of the 3 items pushed at "
                           "1 s and 2 s, and waited for more.");
  expect_same_log(c, "the consumer popped {}; it should pop {}. pop() waits "
                     "while the queue is empty, and hands out the items "
                     "first in, first out");
}

namespace {

// A producer with nobody taking its items: four pushes into a queue of 3.
// At 1 s the main task pops one.
template <typename Queue>
awaitable<void> push_four(shared<Queue> q, std::vector<std::string>& log) {
  for (auto name : {"1", "2", "3", "4"}) {
    co_await q->push(item(name));
    log.push_back(at("pushed " + std::string(name)));
  }
}

constexpr auto fill_a_queue_of_three = with_a_queue(
    3, []<typename Queue>(shared<Queue> q, recorded& out) -> awaitable<void> {
      co_await start_task("producer", push_four(q, out.log));
      co_await tut::sleep(1s);
      auto first = co_await q->pop();
      out.log.push_back(at("popped " + shown(first)));
      co_await tut::sleep(1s);
      try {
        Queue none(co_await asio::this_coro::executor, 0);
        out.seen = "a queue of capacity 0 was made";
      } catch (const std::invalid_argument&) {
        out.seen = "a queue of capacity 0 threw std::invalid_argument";
      }
    });

}  // namespace

TEST_CASE("a queue of capacity 3 holds 3 items: the fourth push waits for a "
          "pop",
          "[lesson06][task1]") {
  auto c = compare(fill_a_queue_of_three);
  expect_run_ends_with_log(c, "push and pop",
                           "Nobody took an item until 1 s; by then the "
                           "producer had {}, and then it waited.");
  expect_same_log(c, "a producer pushed four items into a queue of capacity 3 "
                     "that nobody emptied until one pop at 1 s: {}; expected "
                     "{}. A queue of capacity N takes N items at once, and the "
                     "next push waits until a pop makes room");
  expect_same_seen(c, "{}; {}: a queue needs room for at least one item");
}

namespace {

// The log: "+p1" pushed, "-p1" popped, in order.
template <typename Queue>
awaitable<void> push_six(shared<Queue> q, std::vector<std::string>& log) {
  for (int i = 1; i <= 6; ++i) {
    auto name = fmt::format("p{}", i);
    co_await q->push(name);
    tut::note("producer", name);
    log.push_back("+" + name);
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

constexpr auto fast_producer_slow_consumer =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      co_await start_task("producer", push_six(q, out.log));
      co_await start_task("consumer", pop_one_a_second(q, out.log));
    });

// Items pushed but not yet popped, at most.
std::size_t most_waiting(const std::vector<std::string>& log) {
  long waiting = 0, most = 0;
  for (const auto& e : log) {
    waiting += e[0] == '+' ? 1 : -1;
    most = std::max(most, waiting);
  }
  return static_cast<std::size_t>(most);
}

}  // namespace

TEST_CASE("push waits while the queue is full: a fast producer is held to "
          "the consumer's pace",
          "[lesson06][task1]") {
  auto c = compare(fast_producer_slow_consumer);
  expect_run_ends(c, "push and pop",
                  "The producer and the consumer of a queue of capacity 2 "
                  "stopped before all 6 items went through.");
  auto done = end_of(c.actual.run.trace, "producer");
  auto want = end_of(c.expected.run.trace, "producer");
  GRADE(most_waiting(c.actual.log) <= most_waiting(c.expected.log) &&
            done == want,
        fmt::format("the producer pushed its 6 items and was done {}, with "
                    "up to {} items waiting in a queue of capacity 2; the "
                    "consumer takes one a second, so with backpressure the "
                    "producer is done {} and at most {} items wait. push() "
                    "waits while the queue is full",
                    when(done), most_waiting(c.actual.log), when(want),
                    most_waiting(c.expected.log)),
        c.actual.run, c.expected.run);
}

// ---- Task 2: cancelled while it waits ---------------------------------------

namespace {

// Two pops wait on an empty queue; the first is cancelled at 1 s. At 2 s
// one item is pushed: the other pop takes it. Then one more goes through.
template <typename Queue>
awaitable<void> pop_one(shared<Queue> q, std::vector<std::string>& log) {
  log.push_back(at("the other pop got " + shown(co_await q->pop())));
}

constexpr auto cancel_a_pop =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      co_spawn(co_await asio::this_coro::executor, cancelled_at(q->pop(), 1s),
               [&out](std::exception_ptr, std::string seen) {
                 out.seen = seen;
               });
      co_await start_task("other pop", pop_one(q, out.log));
      co_await tut::sleep(2s);
      co_await q->push(item("after the cancel"));
      co_await tut::sleep(1s);
      co_await q->push(item("one more"));
      out.log.push_back(at("then a pop got " + shown(co_await q->pop())));
    });

}  // namespace

TEST_CASE("pop cancelled while the queue is empty throws operation_aborted "
          "and takes no item",
          "[lesson06][task2]") {
  auto c = compare(cancel_a_pop);
  expect_same_seen(c,
                   "two pops waited on an empty queue, and the first was "
                   "cancelled at 1 s (a cancellation signal bound to it). It "
                   "{}; it should have {}: a cancelled pop took nothing, and "
                   "says so as a cancellation",
                   "never ended");
  expect_run_ends_with_log(c, "push and pop",
                           "After the cancelled pop, an item was pushed at "
                           "2 s and another at 3 s: {}.");
  expect_same_log(c, "after the cancelled pop, items pushed at 2 s and 3 s "
                     "went to {}; expected {}");
}

namespace {

// A queue of 1 holds A; a push of B waits for room and is cancelled at
// 1 s. Then A is popped, C pushed and popped.
constexpr auto cancel_a_push =
    with_a_queue(1, [](auto q, recorded& out) -> awaitable<void> {
      co_await q->push(item("A"));
      out.seen = co_await cancelled_at(q->push(item("B")), 1s);
      out.log.push_back(at(shown(co_await q->pop())));
      co_await q->push(item("C"));
      out.log.push_back(at(shown(co_await q->pop())));
    });

}  // namespace

TEST_CASE("push cancelled while the queue is full throws operation_aborted, "
          "and its item never goes in",
          "[lesson06][task2]") {
  auto c = compare(cancel_a_push);
  expect_same_seen(c, "a queue of capacity 1 held A; a push() of B waited "
                      "for room and was cancelled at 1 s. It {}; it should "
                      "have {}");
  expect_run_ends_with_log(c, "push and pop",
                           "After the cancelled push, the queue gave {} and "
                           "then nothing more.");
  expect_same_log(c, "after the cancelled push of B, two pops (with C pushed "
                     "between them) gave {}; expected {}: B never went in, "
                     "and nothing is lost or comes out twice");
}

// ---- Task 3: close, the end of the stream -----------------------------------

namespace {

// Three items and the end fill a queue of 4.
constexpr auto close_then_drain =
    with_a_queue(4, [](auto q, recorded& out) -> awaitable<void> {
      for (auto name : {"a", "b", "c"}) co_await q->push(item(name));
      co_await q->close();
      for (int i = 0; i < 5; ++i) out.log.push_back(shown(co_await q->pop()));
    });

}  // namespace

TEST_CASE("close lets every item already in the queue out before the end of "
          "the stream",
          "[lesson06][task3]") {
  auto c = compare(close_then_drain);
  expect_run_ends_with_log(c, "push, close and pop",
                           "Popped {} before the run stalled: after a, b and "
                           "c were pushed and the queue closed, five pops "
                           "should give the three items, then the end of the "
                           "stream, and the end again.");
  auto ends = [](const std::vector<std::string>& log) {
    return std::count(log.begin(), log.end(), "<end>");
  };
  GRADE(c.actual.log == c.expected.log,
        fmt::format("pushed a, b and c, closed, then popped five times: {}; "
                    "expected {}.{}",
                    grade::list(c.actual.log), grade::list(c.expected.log),
                    ends(c.actual.log) > ends(c.expected.log)
                        ? " Items pushed before close() did not come out: "
                          "the end of the stream comes after them."
                        : ""),
        c.actual.run, c.expected.run);
}

namespace {

template <typename Queue>
awaitable<void> take_until_end(shared<Queue> q, std::string name,
                               std::vector<std::string>& log) {
  while (auto it = co_await q->pop()) log.push_back(*it);
  log.push_back(at(name + " saw the end"));
}

template <typename Queue>
awaitable<void> two_items_then_close(shared<Queue> q) {
  co_await tut::sleep(1s);
  co_await q->push(item("x"));
  co_await q->push(item("y"));
  co_await tut::sleep(1s);
  co_await q->close();
}

constexpr auto three_consumers =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      for (int i = 1; i <= 3; ++i) {
        auto name = fmt::format("consumer {}", i);
        co_await start_task(name, take_until_end(q, name, out.log));
      }
      co_await start_task("producer", two_items_then_close(q));
    });

}  // namespace

TEST_CASE("every consumer sees the end of the stream, also those already "
          "waiting",
          "[lesson06][task3]") {
  auto c = compare(three_consumers);
  auto saw_end = [](const std::vector<std::string>& log) {
    return std::count_if(log.begin(), log.end(), [](const std::string& e) {
      return e.find("saw the end") != std::string::npos;
    });
  };
  expect_run_ends(c, "the consumers",
                  fmt::format("{} of the 3 consumers saw the end of the "
                              "stream; the others still waited for an item. "
                              "The end is one message for all of them: each "
                              "consumer that takes it puts it back for the "
                              "next.",
                              saw_end(c.actual.log)));
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  GRADE(sorted(c.actual.log) == sorted(c.expected.log),
        fmt::format("three consumers waited; x and y were pushed at 1 s and "
                    "the queue closed at 2 s. They saw {}; expected {}",
                    grade::list(c.actual.log), grade::list(c.expected.log)),
        c.actual.run, c.expected.run);
}

namespace {

// A queue of 2 holds a and b; close() has to wait for room. A consumer
// starts at 1 s and takes one item a second. After close() returns, a push
// is refused.
template <typename Queue>
awaitable<void> slow_drain(shared<Queue> q, std::vector<std::string>& log) {
  co_await tut::sleep(1s);
  for (;;) {
    auto next = co_await q->pop();
    log.push_back(at("popped " + shown(next)));
    if (!next) break;
    co_await tut::sleep(1s);
  }
}

constexpr auto close_a_full_queue =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      co_await q->push("a");
      co_await q->push("b");
      co_await start_task("consumer", slow_drain(q, out.log));
      co_await tut::traced("close", q->close());
      out.seen = at("close() returned");
      try {
        co_await q->push(item("late"));
        out.seen += "; a push after close() went in";
      } catch (const std::logic_error&) {
        out.seen += "; a push after close() threw std::logic_error";
      }
    });

}  // namespace

TEST_CASE("close on a full queue waits for room; the end still comes after "
          "every item, and no push is taken after it",
          "[lesson06][task3]") {
  auto c = compare(close_a_full_queue);
  expect_same_seen(c,
                   "a queue of capacity 2 held a and b, and a consumer "
                   "started taking one item a second at 1 s: {}; expected "
                   "{}. close() puts the end of the stream behind the items, "
                   "so on a full queue it waits for room",
                   "close() never returned");
  expect_run_ends_with_log(c, "close",
                           "The consumer got {} and then waited for more: the "
                           "end of the stream never came out.");
  expect_same_log(c, "the consumer got {}; expected {}");
}

// ---- Task 4: task_done and join ---------------------------------------------

namespace {

template <typename Queue>
awaitable<void> handle_slowly(shared<Queue> q, int n) {
  for (int i = 0; i < n; ++i) {
    auto next = co_await q->pop();
    co_await tut::sleep(1s);
    tut::note("consumer", "done " + shown(next));
    q->task_done();
  }
}

template <typename Queue>
awaitable<void> join_at(shared<Queue> q, tut::clock::duration start) {
  co_await tut::sleep(start);
  co_await q->join();
}

constexpr auto two_joiners =
    with_a_queue(5, [](auto q, recorded&) -> awaitable<void> {
      for (auto name : {"a", "b", "c"}) co_await q->push(item(name));
      co_await start_task("consumer", handle_slowly(q, 3));
      co_await start_task("join 1", join_at(q, 0s));
      co_await start_task("join 2", join_at(q, 1500ms));
    });

std::string join_ending(const tut::trace& t, std::string_view name) {
  const auto* task = t.find(name);
  if (!task || !task->end || task->error == "abandoned")  // a stalled run
    return "never returned";
  if (task->result == tut::outcome::done)
    return "returned at " + secs(task->end->count());
  return fmt::format("{} at {}{}",
                     task->result == tut::outcome::cancelled
                         ? "threw operation_aborted"
                         : "failed",
                     secs(task->end->count()),
                     task->error.empty() ? "" : " (" + task->error + ")");
}

}  // namespace

TEST_CASE("join waits until every item has been marked done, and wakes "
          "every task waiting in it",
          "[lesson06][task4]") {
  auto c = compare(two_joiners);
  const auto& yt = c.actual.run.trace;
  const auto& rt = c.expected.run.trace;
  expect_run_ends(c, "join",
                  fmt::format("The consumer marked all 3 items done by 3 s, "
                              "and yet 'join 1' {} and 'join 2' {}: the "
                              "task_done() that leaves no item unfinished "
                              "wakes every task in join().",
                              join_ending(yt, "join 1"),
                              join_ending(yt, "join 2")));
  auto first = join_ending(yt, "join 1"), second = join_ending(yt, "join 2");
  GRADE(first == join_ending(rt, "join 1") &&
            second == join_ending(rt, "join 2"),
        fmt::format("the consumer marks the last of the 3 items done at 3 s. "
                    "The two join() calls {}; both should have {}. join() "
                    "waits until every item pushed has been marked done with "
                    "task_done(), and then returns",
                    first == second ? "both " + first
                                    : first + " and " + second,
                    join_ending(rt, "join 1")),
        c.actual.run, c.expected.run);
}

namespace {

// Pops an item and marks it done; a join() (the row `row`) then has nothing
// left to wait for: once it returns, `returned` goes to the log, with when.
template <typename Queue>
awaitable<void> finish_one_then_join(Queue& q, std::string row,
                                     std::string returned,
                                     std::vector<std::string>& log) {
  co_await q.pop();
  q.task_done();
  co_await tut::traced(row, q.join());
  log.push_back(at(returned));
}

constexpr auto count_exactly =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      co_await tut::traced("join", q->join());
      out.log.push_back(at("join with nothing pushed returned"));
      co_await q->push(item("a"));
      co_await finish_one_then_join(
          *q, "join again", "join after one item done returned", out.log);
      try {
        q->task_done();
        out.log.push_back("a second task_done() for one item was accepted");
      } catch (const std::logic_error&) {
        out.log.push_back(
            "a second task_done() for one item threw logic_error");
      }
    });

}  // namespace

TEST_CASE("join returns at once when nothing is unfinished; one task_done "
          "too many throws",
          "[lesson06][task4]") {
  auto c = compare(count_exactly);
  expect_run_ends(c, "join and task_done",
                  fmt::format("After {}, join() waited although no item was "
                              "unfinished.",
                              c.actual.log.empty()
                                  ? "nothing was pushed"
                                  : "one item was pushed, popped and marked "
                                    "done"));
  expect_same_log(c, "{}; expected {}. task_done() for an item that was never "
                     "pushed is a bug of the consumer's: it throws "
                     "std::logic_error (asyncio raises ValueError)");
}

namespace {

// One item unfinished; a join() is cancelled at 1 s. At 2 s the item is
// popped and marked done, and a new join() returns at once.
constexpr auto cancel_a_join =
    with_a_queue(2, [](auto q, recorded& out) -> awaitable<void> {
      co_await q->push(item("unfinished"));
      out.seen = co_await cancelled_at(q->join(), 1s);
      co_await tut::sleep(1s);
      co_await finish_one_then_join(*q, "join again",
                                    "join() after the item was done returned",
                                    out.log);
    });

}  // namespace

TEST_CASE("join cancelled while items are unfinished throws "
          "operation_aborted; a later join still works",
          "[lesson06][task4]") {
  auto c = compare(cancel_a_join);
  expect_same_seen(c, "with one item unfinished, a join() was cancelled at "
                      "1 s (a cancellation signal bound to it). It {}; it "
                      "should have {}: returning says every item is done, "
                      "and one was not");
  expect_run_ends(c, "join",
                  "After the cancelled join, the item was marked done at "
                  "2 s, and a new join() never returned.");
  expect_same_log(c, "{}; expected {}");
}

namespace {

// A queue of 1 holds A; a push of B is cancelled at 1 s. At 1.5 s A is
// popped and marked done: join() has nothing left to wait for.
constexpr auto join_after_a_cancelled_push =
    with_a_queue(1, [](auto q, recorded& out) -> awaitable<void> {
      co_await q->push(item("A"));
      out.seen = co_await cancelled_at(q->push(item("B")), 1s);
      co_await tut::sleep(500ms);
      co_await finish_one_then_join(*q, "join", "join() returned", out.log);
    });

}  // namespace

TEST_CASE("a push that was cancelled is not waited for: join returns once "
          "the items that went in are done",
          "[lesson06][task4]") {
  auto c = compare(join_after_a_cancelled_push);
  expect_run_ends(c, "push and join",
                  fmt::format("A queue of capacity 1 held A; the push of B "
                              "was cancelled at 1 s ({}), and A was marked "
                              "done at 1.5 s. join() then never returned: it "
                              "waited for B, which never went in.",
                              c.actual.seen));
  expect_same_log(c, "A was marked done at 1.5 s, after the push of B was "
                     "cancelled: {}; expected {}");
}

// ---- Task 5: the pipeline ---------------------------------------------------

namespace {

// Three items and the end in the queue; your consumer handles them (1 s
// each) while the main task waits in join().
constexpr auto consume_while_joined =
    with_a_queue(4, [](auto q, recorded& out) -> awaitable<void> {
      for (auto name : {"a", "b", "c"}) co_await q->push(item(name));
      co_await q->close();
      co_await start_task("consumer", consumer(*q, out.log));
      co_await tut::traced("join", q->join());
      out.seen = at("join() returned");
    });

}  // namespace

TEST_CASE("consumer handles every item before marking it done: join "
          "returns when the work is over",
          "[lesson06][task5]") {
  auto c = compare(consume_while_joined);
  expect_run_ends_with_log(c, "consumer",
                           "Three items (1 s of handling each) and the end of "
                           "the stream were in the queue; the consumer "
                           "handled {}, and join() never returned.");
  expect_same_log(c, "the consumer's `handled` holds {}; expected {}");
  GRADE(c.actual.seen == c.expected.seen &&
            end_of(c.actual.run.trace, "consumer") ==
                end_of(c.expected.run.trace, "consumer"),
        fmt::format("three items of 1 s each: {}, and the consumer ended "
                    "{}; expected {}, when the consumer ends {}. An item is "
                    "done when its handling is over, not when it was taken",
                    c.actual.seen,
                    when(end_of(c.actual.run.trace, "consumer")),
                    c.expected.seen,
                    when(end_of(c.expected.run.trace, "consumer"))),
        c.actual.run, c.expected.run);
}

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

std::vector<std::string> rows(const tut::trace& t, std::string_view prefix,
                              bool ended) {
  std::vector<std::string> names;
  for (const auto& task : t.tasks)
    if (task.name.starts_with(prefix) &&
        (task.result == tut::outcome::done) == ended)
      names.push_back("'" + task.name + "'");
  return names;
}

// Items that went into the queue: the marks on the producers' rows.
std::size_t pushed(const tut::trace& t) {
  std::size_t n = 0;
  for (const auto& task : t.tasks)
    if (task.name.starts_with("producer")) n += task.events.size();
  return n;
}

// A pipeline that stalled, in what the trace shows: who still waited, and
// for what.
template <typename T>
void expect_pipeline_ends(const grade::outcome<T>& actual,
                          const grade::outcome<T>& expected, int consumers) {
  if (!actual.template threw<tut::deadlock_error>()) {
    grade::expect_no_exception(actual, expected, "run_pipeline");
    return;
  }
  const auto& t = actual.trace;
  auto producing = rows(t, "producer", false);
  auto waiting = rows(t, "consumer", false);
  auto exited = rows(t, "consumer", true);
  std::string what;
  if (waiting.empty() && exited.empty())
    what = fmt::format(
        "No consumer ran ({} asked for): the producers pushed {} items, "
        "filling the queue, and {} waited for room that nobody made.",
        consumers, pushed(t), fmt::join(producing, ", "));
  else if (!producing.empty())
    what = fmt::format("{} still waited to push while {} waited for items.",
                       fmt::join(producing, ", "),
                       fmt::join(waiting, ", "));
  else if (exited.empty())
    what = fmt::format(
        "Every producer was done ({} items pushed), and {} still waited for "
        "an item: none of them ever got the end of the stream, which comes "
        "out after the last item once every producer is done.",
        pushed(t), fmt::join(waiting, ", "));
  else
    what = fmt::format(
        "Every producer was done; {} got the end of the stream and exited, "
        "but {} still waited for an item: the end reached only some of the "
        "consumers.",
        fmt::join(exited, ", "), fmt::join(waiting, ", "));
  FAIL(grade::explain(
      fmt::format("your pipeline of 3 producers and {} consumer(s) never "
                  "finished (tut::run: {}). {}",
                  consumers, actual.error, what),
      actual.trace, expected.trace));
}

}  // namespace

TEST_CASE("3 producers of 5 items and 2 consumers: every item is handled "
          "exactly once",
          "[lesson06][task5]") {
  auto [actual, expected] = BOTH_SIDES(pipeline, run_pipeline, 2, 2);
  expect_pipeline_ends(actual, expected, 2);
  std::map<std::string, int> seen;
  for (const auto& name : *actual.value) ++seen[name];
  std::vector<std::string> lost, twice;
  for (const auto& name : all_items())
    if (seen[name] == 0)
      lost.push_back(name);
    else if (seen[name] > 1)
      twice.push_back(name);
  GRADE(lost.empty(),
        fmt::format("{} of the 15 items {} never handled: {}",
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
          "[lesson06][task5]") {
  struct example {
    int consumers;
  };
  // One consumer handles the 15 items in turn; three take five rounds,
  // five take three.
  std::vector<example> cases{{1}, {3}, {5}};
  for (const auto& c : cases) {
    auto [actual, expected] =
        BOTH_SIDES(pipeline, run_pipeline, c.consumers, 2);
    expect_pipeline_ends(actual, expected, c.consumers);
    auto started = rows(actual.trace, "consumer", true).size();
    GRADE(started == static_cast<std::size_t>(c.consumers),
          fmt::format("run_pipeline({}, 2) ran {} consumer(s)", c.consumers,
                      started),
          actual, expected);
    GRADE(actual.seconds() == expected.seconds(),
          fmt::format("with {} consumer(s) the pipeline handled {} of the "
                      "15 items in {}; it should handle all 15 in {}: the "
                      "consumers take one item each at a time, side by side",
                      c.consumers, actual.value->size(),
                      secs(actual.seconds()), secs(expected.seconds())),
          actual, expected);
  }
}

TEST_CASE("producers feel backpressure: with room for 2 items they finish "
          "only as the consumer catches up",
          "[lesson06][task5]") {
  auto [actual, expected] = BOTH_SIDES(pipeline, run_pipeline, 1, 2);
  expect_pipeline_ends(actual, expected, 1);
  auto last_producer = [](const tut::trace& t) {
    double last = -1;
    for (const auto& task : t.tasks)
      if (task.name.starts_with("producer") && task.end)
        last = std::max(last, task.end->count());
    return last;
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
