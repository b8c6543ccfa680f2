// Lesson 05 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include "recording.hpp"

#include <asio/bind_cancellation_slot.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace asio::experimental::awaitable_operators;

namespace {

// ---- Running a scenario on both sides --------------------------------------

// A scenario runs the same code on yours::async_semaphore and on
// reference::async_semaphore; `hold` is found by argument-dependent lookup
// in the matching namespace. The semaphore lives in a shared_ptr that every
// task keeps, so it outlives all of them.
template <typename Sem>
using shared = std::shared_ptr<Sem>;

using grade::side;

// What one run of a scenario did.
struct recorded {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> order;      // who got a permit, in turn
  std::vector<std::size_t> readings;   // available() or waiting(), as read
  std::string seen;                    // what a task saw of its own wait
};

// record(body): runs `body(out)`, a coroutine, on virtual time.
constexpr grade::recorder<recorded> record{};
using compared = grade::compared<recorded>;

// compare(scenario): `scenario(side<Sem>{})` for both sides; the
// reference must pass it.
constexpr grade::comparer<yours::async_semaphore,
                          reference::async_semaphore>
    compare{};

// scenario(permits, body): a scenario for compare(). On virtual time it
// runs `body(out, ex, sem)`, a coroutine, with the loop's executor and a
// fresh semaphore of `permits` of the side's type (a shared<Sem>). A
// scenario is a constant, so it needs no anonymous namespace of its own.
template <typename Body>
constexpr auto scenario(std::size_t permits, Body body) {
  auto semaphore = [permits]<typename Sem>(side<Sem>, const auto&) {
    return std::make_shared<Sem>(permits);
  };
  return record.fresh(semaphore, body);
}

// ---- Tasks on the timeline --------------------------------------------------

// The row `name` on the timeline: waits for a permit, marks the moment it
// gets one ("permit"), holds it for `d` and gives it back. `order` records
// who got a permit, in turn.
template <typename Sem>
awaitable<void> use(shared<Sem> sem, std::string name, tut::clock::duration d,
                    std::vector<std::string>& order) {
  co_await sem->acquire();
  order.push_back(name);
  tut::note(name, "permit");
  co_await tut::sleep(d);
  sem->release();
}

template <typename Sem>
void start_user(asio::any_io_executor ex, shared<Sem> sem, std::string name,
                tut::clock::duration d, std::vector<std::string>& order) {
  co_spawn(ex, tut::traced(name, use(sem, name, d, order)), detached);
}

// Arrives at `at`, then uses a permit for 1 s.
template <typename Sem>
awaitable<void> arrive(shared<Sem> sem, std::string name,
                       tut::clock::duration at,
                       std::vector<std::string>& order) {
  co_await tut::sleep(at);
  co_await tut::traced(name, use(sem, name, 1s, order));
}

// Holds a permit for 1 s, releases it and asks again at once.
template <typename Sem>
awaitable<void> greedy(shared<Sem> sem, std::vector<std::string>& order) {
  co_await tut::traced("greedy", use(sem, "greedy", 1s, order));
  co_await tut::traced("greedy again", use(sem, "greedy again", 1s, order));
}

// Takes a permit and keeps it.
template <typename Sem>
awaitable<void> take(shared<Sem> sem, std::string name,
                     std::vector<std::string>& got) {
  co_await sem->acquire();
  got.push_back(name);
}

// Reads waiting(), then available(), into out.readings.
template <typename Sem>
void read_waiting_and_available(recorded& out, const shared<Sem>& sem) {
  out.readings.push_back(sem->waiting());
  out.readings.push_back(sem->available());
}

// How a task cancelled while it waited came out, in words.
std::string ending(const grade::cancelled_run<grade::nothing>& r) {
  if (r.ended() && !r.exception)
    return fmt::format("returned at {}, as if it held a permit",
                       secs(r.ended_at.count()));
  return grade::how_it_ended(r);
}

// Runs `work` as a task whose cancellation slot is bound to a signal, and
// emits it at `at` (loop time from now); `seen` says how the work ended.
awaitable<void> cancel_at(awaitable<void> work, tut::clock::duration at,
                          std::string& seen) {
  seen = ending(co_await grade::cancel_after(std::move(work), at));
}

// When the row `name` got its permit (the "permit" mark), or -1: never.
double granted_at(const tut::trace& t, std::string_view name) {
  const auto* task = t.find(name);
  if (!task) return -1;
  for (const auto& e : task->events)
    if (e.what == "permit") return e.at.count();
  return -1;
}

using grade::when;

// Who got the permit when, e.g. "A at 1 s".
std::vector<std::string> turns(const recorded& r) {
  std::vector<std::string> out;
  for (const auto& name : r.order)
    out.push_back(name + " " + when(granted_at(r.run.trace, name)));
  return out;
}

// Most rows holding a permit at once: from their mark to their end.
std::size_t peak_holding(const tut::trace& t) {
  tut::trace holding;
  for (const auto& task : t.tasks)
    if (granted_at(t, task.name) >= 0) {
      holding.tasks.push_back(task);
      holding.tasks.back().start = tut::seconds{granted_at(t, task.name)};
    }
  holding.elapsed = t.elapsed;
  return holding.peak_of("");
}

std::string readings(const std::vector<std::size_t>& r) {
  return fmt::format("{}", fmt::join(r, ", "));
}

// Both sides' readings must match; `what` has two {}: your readings, then
// the reference's.
void expect_same_readings(const compared& c, std::string_view what) {
  GRADE(c.actual.readings == c.expected.readings,
        fmt::format(fmt::runtime(what), readings(c.actual.readings),
                    readings(c.expected.readings)),
        c.actual.run, c.expected.run);
}

// Both sides gave the permit to the same tasks at the same moments; `what`
// has two {}: your turns, then the reference's.
void expect_same_turns(const compared& c, std::string_view what) {
  GRADE(turns(c.actual) == turns(c.expected),
        fmt::format(fmt::runtime(what), grade::list(turns(c.actual)),
                    grade::list(turns(c.expected))),
        c.actual.run, c.expected.run);
}

// Nobody cancels anyone in a scenario that calls this (but `except`), so a
// task whose acquire() threw operation_aborted was not cancelled: it woke
// from its wait and took the wake-up for a cancellation.
void expect_nobody_aborted(const compared& c, std::string_view except = "") {
  for (const auto& task : c.actual.run.trace.tasks)
    if (task.result == tut::outcome::cancelled && task.name != except &&
        task.error != "abandoned")  // still waiting when a stalled run ended
      FAIL(grade::explain(
          fmt::format("'{}' ended with operation_aborted at {}, though nothing "
                      "cancelled it{}. A wait that release() ends is a "
                      "permit handed over, not a cancellation: the waiter "
                      "it wakes must be able to tell (`granted`)",
                      task.name, secs(task.end ? task.end->count() : 0),
                      granted_at(c.actual.run.trace, task.name) < 0
                          ? ", and it never got a permit"
                          : ""),
          c.actual.run.trace, c.expected.run.trace));
}

}  // namespace


// ---- Task 1: take a free permit, give it back -------------------------------

// Three acquire() in a row on a semaphore of 3, then three release().
constexpr auto take_and_give_back =
    scenario(3, [](recorded& out, auto, auto sem) -> awaitable<void> {
      for (int i = 1; i <= 3; ++i) {
        co_await tut::traced(fmt::format("acquire {}", i), sem->acquire());
        out.readings.push_back(sem->available());
      }
      for (int i = 1; i <= 3; ++i) {
        sem->release();
        out.readings.push_back(sem->available());
      }
    });

TEST_CASE("a semaphore of 3 gives out three permits at once and takes them "
          "back",
          "[lesson05][task1]") {
  auto c = compare(take_and_give_back);
  expect_run_ends(c, "acquire and release",
                  "An acquire() waited although the semaphore of 3 still had "
                  "a free permit: a free permit is taken at once.");
  GRADE(c.actual.run.seconds() == 0,
        fmt::format("the three acquire() on a semaphore of 3 took {}; with a "
                    "permit free, acquire() returns at once",
                    secs(c.actual.run.seconds())),
        c.actual.run, c.expected.run);
  expect_same_readings(c, "a semaphore of 3: available() read [{}] after each "
                          "of three acquire() and then after each of three "
                          "release(); it should read [{}]: each acquire() "
                          "takes a permit, each release() gives one back");
}

// ---- Task 2: wait in line; release hands the permit over --------------------

constexpr auto four_tasks_three_permits =
    scenario(3, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      for (int i = 1; i <= 4; ++i)
        start_user(ex, sem, fmt::format("holder {}", i), 1s, out.order);
      for (auto at : {500ms, 2000ms}) {
        co_await tut::sleep(at);
        out.readings.push_back(sem->available());
        out.readings.push_back(sem->waiting());
      }
    });

TEST_CASE("a semaphore of 3 lets three tasks in; the fourth waits for a "
          "release",
          "[lesson05][task2]") {
  auto c = compare(four_tasks_three_permits);
  expect_nobody_aborted(c);
  const auto& yt = c.actual.run.trace;
  const auto& rt = c.expected.run.trace;
  expect_run_ends(c, "the four holders",
                  fmt::format("The permit went to {}; the first three gave "
                              "theirs back at 1 s, and the task still in "
                              "line never got one.",
                              grade::list(turns(c.actual))));
  GRADE(peak_holding(yt) <= 3,
        fmt::format("{} tasks held a permit at the same time; a semaphore of "
                    "3 lets in three, and the fourth waits in line",
                    peak_holding(yt)),
        c.actual.run, c.expected.run);
  GRADE(granted_at(yt, "holder 4") == granted_at(rt, "holder 4"),
        fmt::format("'holder 4' got its permit {}; it should get it {}, as "
                    "soon as the first holder releases",
                    when(granted_at(yt, "holder 4")),
                    when(granted_at(rt, "holder 4"))),
        c.actual.run, c.expected.run);
  expect_same_readings(c, "available() and waiting() read [{}] at 0.5 s, "
                          "while three held permits and one waited, then at "
                          "2.5 s, after all gave them back; they should read "
                          "[{}]");
}

constexpr auto newcomer_at_release =
    scenario(1, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      co_spawn(ex, greedy(sem, out.order), detached);
      co_spawn(ex, arrive(sem, "A", 100ms, out.order), detached);
      co_spawn(ex, arrive(sem, "B", 200ms, out.order), detached);
      co_spawn(ex, arrive(sem, "C", 300ms, out.order), detached);
      co_return;
    });

TEST_CASE("waiters are served first come, first served, even when the "
          "releasing task asks again at once",
          "[lesson05][task2]") {
  auto c = compare(newcomer_at_release);
  expect_nobody_aborted(c);
  expect_run_ends(c, "the five holders",
                  fmt::format("The permit went to {} before the run "
                              "stalled.",
                              grade::list(turns(c.actual))));
  const auto& order = c.actual.order;
  std::string why;
  if (order.size() > 1 && order[1] == "greedy again")
    why = " 'greedy' released and asked again before A could run, and got "
          "the permit back: release() must hand it to the first task in "
          "line, not leave it for whoever asks first.";
  else if (order.size() > 1 && order[1] == "C")
    why = " The last to arrive was served first: the line is first come, "
          "first served.";
  else if (turns(c.actual) != turns(c.expected))
    why = " With one permit, each task gets it only when the one before "
          "releases it.";
  GRADE(turns(c.actual) == turns(c.expected),
        fmt::format("the permit went to {}; first come, first served gives "
                    "{}.{}",
                    grade::list(turns(c.actual)),
                    grade::list(turns(c.expected)), why),
        c.actual.run, c.expected.run);
}

// Three tasks wait on a semaphore of 0; then one release, then two. The
// readings: how many got through at 1, 2 and 3 s.
constexpr auto one_release_three_waiters =
    scenario(0, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      for (int i = 1; i <= 3; ++i) {
        auto name = fmt::format("waiter {}", i);
        co_spawn(ex, tut::traced(name, take(sem, name, out.order)), detached);
      }
      for (int releases : {0, 1, 2}) {
        for (int i = 0; i < releases; ++i) sem->release();
        co_await tut::sleep(1s);
        out.readings.push_back(out.order.size());
      }
    });

TEST_CASE("one release wakes exactly one waiting task", "[lesson05][task2]") {
  auto c = compare(one_release_three_waiters);
  expect_nobody_aborted(c);
  grade::expect_no_exception(c.actual.run, c.expected.run, "the three waiters");
  const auto& through = c.actual.readings;
  std::string what;
  if (!through.empty() && through[0] > 0)
    what = fmt::format("{} task(s) got through a semaphore of 0 before any "
                       "release. ",
                       through[0]);
  else if (through.size() > 1 && through[1] > 1)
    what = fmt::format("One release() let {} waiting tasks through; it gives "
                       "back one permit, so it wakes exactly one task. ",
                       through[1]);
  else if (through.size() > 1 && through[1] == 0)
    what = "One release() let no waiting task through. ";
  GRADE(c.actual.readings == c.expected.readings,
        fmt::format("{}Tasks through the semaphore: {} before any release, "
                    "after one release, after three; expected {}",
                    what, readings(c.actual.readings),
                    readings(c.expected.readings)),
        c.actual.run, c.expected.run);
}

// ---- Task 3: cancelled while it waits ---------------------------------------

namespace {

// Waits for a permit for at most 1 s (the `||` operator).
template <typename Sem>
awaitable<void> impatient(shared<Sem> sem, std::string& what) {
  auto first = co_await (sem->acquire() || tut::sleep(1s));
  if (first.index() == 0) {
    what = "got a permit";
    sem->release();
  } else {
    what = "gave up";
  }
}

}  // namespace

constexpr auto gives_up_after_1s =
    scenario(1, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      start_user(ex, sem, "holder", 2s, out.order);
      co_spawn(ex, tut::traced("impatient", impatient(sem, out.seen)),
               detached);
      start_user(ex, sem, "patient", 1s, out.order);
      for (auto at : {500ms, 1000ms, 2000ms}) {
        co_await tut::sleep(at);
        out.readings.push_back(sem->waiting());
      }
      out.readings.push_back(sem->available());
    });

TEST_CASE("a task that gives up waiting takes no permit and leaves the line",
          "[lesson05][task3]") {
  auto c = compare(gives_up_after_1s);
  expect_nobody_aborted(c);
  const auto& [actual, expected] = c;
  GRADE(actual.seen == expected.seen,
        fmt::format("'holder' kept the only permit until 2 s, and the task "
                    "waiting with `acquire() || tut::sleep(1s)` {}; it "
                    "should have {}",
                    actual.seen.empty()         ? "never finished"
                    : actual.seen == "gave up" ? "gave up at 1 s"
                                                : "got a permit",
                    expected.seen == "gave up" ? "given up at 1 s"
                                               : "got a permit"),
        actual.run, expected.run);
  expect_run_ends(c, "the three tasks",
                  "'patient' never got the permit that 'holder' gave back at "
                  "2 s. The task that gave up at 1 s was cancelled while it "
                  "waited: it must leave the line and take no permit.");
  GRADE(actual.readings == expected.readings,
        fmt::format("waiting() read {} at 0.5 s, 1.5 s and 3.5 s, then "
                    "available() {}; they should read {}, then {}: a task "
                    "that gave up is no longer in line, and took no permit",
                    readings({actual.readings.begin(),
                              actual.readings.end() - 1}),
                    actual.readings.back(),
                    readings({expected.readings.begin(),
                              expected.readings.end() - 1}),
                    expected.readings.back()),
        actual.run, expected.run);
  expect_same_turns(c, "the permit went to {}; expected {}");
}

// 'second' waits for a permit as a task whose cancellation slot is bound to
// a signal, and the signal is emitted at 1 s, while 'first' and 'third'
// wait in line on both sides of it. The main task holds the only permit
// until 1.5 s.
constexpr auto cancel_the_middle_waiter =
    scenario(1, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      co_await sem->acquire();
      start_user(ex, sem, "first", 1s, out.order);
      co_spawn(ex,
               cancel_at(tut::traced("second",
                                     use(sem, "second", 1s, out.order)),
                         1s, out.seen),
               detached);
      start_user(ex, sem, "third", 1s, out.order);
      co_await tut::sleep(1500ms);
      read_waiting_and_available(out, sem);
      sem->release();
      co_await tut::sleep(3s);
      read_waiting_and_available(out, sem);
    });

TEST_CASE("acquire() cancelled while it waits throws operation_aborted, "
          "leaves the line and loses no permit",
          "[lesson05][task3]") {
  auto c = compare(cancel_the_middle_waiter);
  const auto& [actual, expected] = c;
  GRADE(actual.seen == expected.seen,
        fmt::format("'second' waited in line between 'first' and 'third' "
                    "and was cancelled at 1 s (a cancellation signal bound "
                    "to it). Its acquire() {}; it should have {}: a "
                    "cancelled wait comes out as cancellation",
                    actual.seen.empty() ? "never ended" : actual.seen,
                    expected.seen),
        actual.run, expected.run);
  GRADE(granted_at(actual.run.trace, "second") ==
            granted_at(expected.run.trace, "second"),
        fmt::format("'second' was cancelled at 1 s while it waited in line, "
                    "and yet it got a permit {}: its acquire() returned, and "
                    "'second' went on as if it held the permit. A cancelled "
                    "acquire() takes no permit and throws operation_aborted",
                    when(granted_at(actual.run.trace, "second"))),
        actual.run, expected.run);
  expect_nobody_aborted(c, "second");
  expect_run_ends(c, "the three waiters",
                  fmt::format("After 'second' was cancelled, the permit went "
                              "to {}; 'first' and 'third' should get it at "
                              "1.5 s and 2.5 s. Only the cancelled task "
                              "leaves the line.",
                              grade::list(turns(actual))));
  GRADE(actual.readings == expected.readings,
        fmt::format("after the cancellation waiting() and available() read "
                    "{} and {}; they should read {} and {}. At the end they "
                    "read {} and {}; they should read {} and {}",
                    actual.readings[0], actual.readings[1],
                    expected.readings[0], expected.readings[1],
                    actual.readings[2], actual.readings[3],
                    expected.readings[2], expected.readings[3]),
        actual.run, expected.run);
  expect_same_turns(c, "the permit went to {}; expected {}: the waiters on "
                       "both sides of the cancelled one keep their places");
}

// 'first' waits for the only permit; at 1 s the main task releases it,
// which hands it to 'first', and in the same instant 'first' is cancelled
// (a cancellation_signal), before it could run.
constexpr auto cancelled_as_it_is_handed_the_permit =
    scenario(1, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      co_await sem->acquire();
      asio::cancellation_signal cancel_first;
      co_spawn(ex, tut::traced("first", use(sem, "first", 1s, out.order)),
               asio::bind_cancellation_slot(cancel_first.slot(), detached));
      start_user(ex, sem, "second", 1s, out.order);
      co_await tut::sleep(1s);
      sem->release();
      cancel_first.emit(asio::cancellation_type::terminal);
      co_await tut::sleep(3s);
      read_waiting_and_available(out, sem);
    });

TEST_CASE("a task cancelled just as release hands it the permit passes the "
          "permit on",
          "[lesson05][task3]") {
  auto c = compare(cancelled_as_it_is_handed_the_permit);
  const auto& [actual, expected] = c;
  const auto* first = actual.run.trace.find("first");
  expect_run_ends(c, "the two tasks",
                  "'second' never got the permit. At 1 s release() handed "
                  "it to 'first', and 'first' was cancelled in the same "
                  "instant, before it ran: a task that is granted a permit "
                  "but cancelled will never use or release it, so it must "
                  "pass it on before it throws (its cancellation state "
                  "says whether it was cancelled).");
  GRADE(first && first->result == tut::outcome::cancelled,
        fmt::format("'first' waited for the only permit and was cancelled at "
                    "1 s, in the instant release() handed the permit to it. "
                    "Its acquire() should throw operation_aborted; 'first' "
                    "{}",
                    first && first->result == tut::outcome::done
                        ? "went on as if it held the permit"
                        : "ended otherwise"),
        actual.run, expected.run);
  GRADE(turns(actual) == turns(expected) &&
            actual.readings == expected.readings,
        fmt::format("the permit went to {}, and waiting() and available() "
                    "end at {}; expected {} and {}",
                    grade::list(turns(actual)), readings(actual.readings),
                    grade::list(turns(expected)),
                    readings(expected.readings)),
        actual.run, expected.run);
}

// ---- Task 4: permit and hold ------------------------------------------------

namespace {

// 'failing' holds the only permit and throws at 1 s; 'cancelled' then holds
// it and is cancelled at 1.5 s; 'next' waits for it after both.
template <typename Sem>
awaitable<void> hold_then_fail(shared<Sem> sem) {
  auto p = co_await hold(*sem);
  tut::note("failing", "permit");
  co_await tut::sleep(1s);
  throw std::runtime_error("parse error in a page over 15 bytes");
}

template <typename Sem>
awaitable<void> hold_a_while(shared<Sem> sem) {
  auto p = co_await hold(*sem);
  tut::note("cancelled", "permit");
  co_await tut::sleep(10s);
}

}  // namespace

constexpr auto permit_through_exception_and_cancellation =
    scenario(1, [](recorded& out, auto ex, auto sem) -> awaitable<void> {
      co_spawn(ex, tut::traced("failing", hold_then_fail(sem)), detached);
      co_spawn(ex,
               cancel_at(tut::traced("cancelled", hold_a_while(sem)), 1500ms,
                         out.seen),
               detached);
      start_user(ex, sem, "next", 1s, out.order);
      co_await tut::sleep(3s);
      out.readings.push_back(sem->available());
    });

TEST_CASE("a permit goes back when its holder's scope ends, by an exception "
          "or a cancellation",
          "[lesson05][task4]") {
  auto c = compare(permit_through_exception_and_cancellation);
  // When each got the permit.
  auto grants = [](const tut::trace& t) {
    return std::vector<double>{granted_at(t, "failing"),
                               granted_at(t, "cancelled"),
                               granted_at(t, "next")};
  };
  auto shown = [](const std::vector<double>& g) {
    return fmt::format("'failing' got the permit {}, 'cancelled' {}, 'next' "
                       "{}",
                       when(g[0]), when(g[1]), when(g[2]));
  };
  auto got = grants(c.actual.run.trace);
  auto want = grants(c.expected.run.trace);
  expect_run_ends(c, "the three tasks",
                  fmt::format("{}. Each held the permit in a `permit`: "
                              "'failing' threw at 1 s, 'cancelled' was "
                              "cancelled at 1.5 s, and a task waiting after "
                              "them never got the permit back.",
                              shown(got)));
  GRADE(got == want && c.actual.readings == c.expected.readings,
        fmt::format("{}, and available() ends at {}; expected: {}, and {}",
                    shown(got), readings(c.actual.readings), shown(want),
                    readings(c.expected.readings)),
        c.actual.run, c.expected.run);
}

namespace {

template <typename Sem>
awaitable<void> juggle_permits(shared<Sem> sem,
                               std::vector<std::size_t>& available) {
  auto note = [&] { available.push_back(sem->available()); };
  {
    auto p = co_await hold(*sem);
    note();  // 1
    p.release();
    note();  // 2
  }
  note();  // 2: released already, the destructor does nothing
  {
    auto a = co_await hold(*sem);
    auto b = std::move(a);
    note();  // 1
  }
  note();  // 2: one permit, given back once
  {
    auto c = co_await hold(*sem);
    auto d = co_await hold(*sem);
    note();  // 0
    c = std::move(d);
    note();  // 1: c's old permit went back
  }
  note();  // 2
}

}  // namespace

constexpr auto permits_released_once =
    scenario(2, [](recorded& out, auto, auto sem) -> awaitable<void> {
      co_await tut::traced("juggler", juggle_permits(sem, out.readings));
    });

TEST_CASE("a permit goes back exactly once: after release(), after a move",
          "[lesson05][task4]") {
  auto c = compare(permits_released_once);
  expect_run_ends(c, "hold()",
                  "hold() waited on a semaphore of 2 although a permit was "
                  "free.");
  expect_same_readings(c, "with a semaphore of 2, available() read [{}]; it "
                          "should read [{}]. Taken: hold(); release() then "
                          "end of scope; a move then end of scope; two held, "
                          "one moved onto the other, end of scope. A permit "
                          "gives back one permit, once");
}

// ---- Task 5: fetch_all ------------------------------------------------------

namespace {

std::vector<std::string> numbered_urls(int n) {
  std::vector<std::string> urls;
  for (int i = 1; i <= n; ++i)
    urls.push_back(fmt::format("https://example.com/u{}", i));
  return urls;
}

int number_of(const std::string& url) {
  return std::stoi(url.substr(url.rfind('u') + 1));
}

// A fetch takes 1 s; with `fail_every` > 0, every such url (u5, u10, ...)
// throws "503 Service Unavailable" after its second.
awaitable<std::string> fetch_page(std::string url, int fail_every) {
  co_await tut::sleep(1s);
  if (fail_every > 0 && number_of(url) % fail_every == 0)
    throw std::runtime_error("503 Service Unavailable");
  co_return "the page of " + url;
}

yours::fetcher traced_fetch(int fail_every) {
  return [fail_every](std::string url) {
    return tut::traced(fmt::format("fetch u{}", number_of(url)),
                       fetch_page(url, fail_every));
  };
}

awaitable<std::vector<std::string>> traced_fetch_all(
    auto fetch_all, int n, std::size_t limit, int fail_every) {
  return tut::traced("fetch_all", fetch_all(numbered_urls(n), limit,
                                            traced_fetch(fail_every)));
}

template <typename FetchAll>
auto run_fetch_all(FetchAll fetch_all, int n, std::size_t limit,
                   int fail_every = 0) {
  return grade::run(
      [=] { return traced_fetch_all(fetch_all, n, limit, fail_every); });
}

// The first rows of a long timeline; the totals stay the whole run's, and
// the peak counts fetches only.
template <typename T>
grade::outcome<T> first_rows(grade::outcome<T> run, std::size_t rows) {
  run.trace.peak = run.trace.peak_of("fetch u");
  if (run.trace.tasks.size() > rows) run.trace.tasks.resize(rows);
  return run;
}

std::size_t fetches(const tut::trace& t, tut::outcome result) {
  return std::count_if(t.tasks.begin(), t.tasks.end(), [&](const auto& task) {
    return task.name.starts_with("fetch u") && task.result == result;
  });
}

// Where two lists of pages differ: "page 1 is "" (expected "the page of
// ..."), ...", at most three.
std::string differences(const std::vector<std::string>& got,
                        const std::vector<std::string>& want) {
  if (got.size() != want.size())
    return fmt::format("{} pages for {} urls", got.size(), want.size());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < got.size() && out.size() < 3; ++i)
    if (got[i] != want[i])
      out.push_back(fmt::format("page {} is \"{}\" (expected \"{}\")", i + 1,
                                got[i], want[i]));
  return fmt::format("{}", fmt::join(out, ", "));
}

std::size_t started(const tut::trace& t) {
  return std::count_if(t.tasks.begin(), t.tasks.end(), [](const auto& task) {
    return task.name.starts_with("fetch u");
  });
}

}  // namespace

TEST_CASE("100 fetches of 1 s through a limit of 10 take 10 s, 10 at a time",
          "[lesson05][task5]") {
  auto [actual, expected] = BOTH_SIDES(run_fetch_all, fetch_all, 100, 10);
  grade::expect_no_exception(actual, expected, "fetch_all");
  auto peak = actual.trace.peak_of("fetch u");
  auto want_peak = expected.trace.peak_of("fetch u");
  std::string why;
  if (started(actual.trace) < 100)
    why = fmt::format(" Only {} of the 100 fetches ran: fetch_all fetches "
                      "every url.",
                      started(actual.trace));
  else if (peak > want_peak)
    why = " Each fetch holds a permit from before it starts until it has "
          "ended, so no more than 10 run at once.";
  else if (peak == 1)
    why = " They ran one at a time.";
  GRADE(peak == want_peak && actual.seconds() == expected.seconds(),
        fmt::format("your 100 fetches took {} with up to {} at once; through "
                    "a limit of 10 they take {} with exactly {} at once.{}\n"
                    "(the first 20 of 100 fetches are shown)",
                    secs(actual.seconds()), peak, secs(expected.seconds()),
                    want_peak, why),
        first_rows(actual, 21), first_rows(expected, 21));
}

TEST_CASE("fetch_all returns every page in the order of the urls",
          "[lesson05][task5]") {
  auto [actual, expected] = BOTH_SIDES(run_fetch_all, fetch_all, 12, 5);
  grade::expect_no_exception(actual, expected, "fetch_all");
  GRADE(actual.value == expected.value,
        fmt::format("fetch_all of 12 urls returned pages in which {}: the "
                    "page of urls[i] goes in pages[i]",
                    differences(*actual.value, *expected.value)),
        actual, expected);
}

TEST_CASE("fetches that throw give their permits back: the run does not "
          "stall",
          "[lesson05][task5]") {
  // u5, u10, ... u100 fail: 20 failures, twice the limit.
  auto [actual, expected] = BOTH_SIDES(run_fetch_all, fetch_all, 100, 10, 5);
  if (actual.threw<tut::deadlock_error>()) {
    auto failed = fetches(actual.trace, tut::outcome::failed);
    FAIL(grade::explain(
        fmt::format(
            "your run stalled at {} and never finished: {} fetches threw, "
            "and {} of the 100 never started, waiting for a permit.\n"
            "tut::run says: {}\n"
            "A permit held in a `permit` goes back however the scope ends, "
            "also when the fetch throws.\n"
            "(the first 20 of 100 fetches are shown)",
            secs(actual.seconds()), failed, 100 - started(actual.trace),
            actual.error),
        first_rows(actual, 21).trace, first_rows(expected, 21).trace));
  }
  grade::expect_no_exception(actual, expected, "fetch_all");
  GRADE(actual.value == expected.value,
        fmt::format("fetch_all returned pages in which {}: a fetch that "
                    "throws gives \"failed: <what()>\"",
                    differences(*actual.value, *expected.value)),
        first_rows(actual, 21), first_rows(expected, 21));
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("with 20 of the 100 fetches failing, yours took {}; "
                    "through a limit of 10 it takes {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        first_rows(actual, 21), first_rows(expected, 21));
}

namespace {

struct cancelled_fetch_all {
  grade::outcome<grade::nothing> run;
  std::string seen;                   // how fetch_all ended
  std::vector<std::string> running;   // rows still running 1 s later
};

template <typename FetchAll>
cancelled_fetch_all cancel_fetch_all(FetchAll fetch_all) {
  cancelled_fetch_all out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto r = co_await grade::cancel_after(
        traced_fetch_all(fetch_all, 100, 10, 0), 1500ms);
    out.seen = grade::how_it_ended(r);
    if (r.value) out.seen = "returned its pages";
    co_await tut::sleep(1s);
    out.running = grade::unfinished_now();
  });
  return out;
}

}  // namespace

TEST_CASE("fetch_all cancelled while fetches run and wait: it comes out as "
          "cancellation, and every fetch stops",
          "[lesson05][task5]") {
  auto [actual, expected] = BOTH_SIDES(cancel_fetch_all, fetch_all);
  grade::expect_no_exception(actual, expected, "fetch_all");
  GRADE(actual.seen == expected.seen,
        fmt::format("fetch_all of 100 urls through a limit of 10 was "
                    "cancelled at 1.5 s (by then 10 fetches have ended, 10 "
                    "run and 80 wait for a permit). It {}; it should have {}",
                    actual.seen, expected.seen),
        first_rows(actual.run, 21), first_rows(expected.run, 21));
  GRADE(actual.running == expected.running,
        fmt::format("1 s after fetch_all was cancelled, {} still ran",
                    grade::list(actual.running)),
        first_rows(actual.run, 21), first_rows(expected.run, 21));
}
