// Lesson 05 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include <asio/bind_cancellation_slot.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace asio::experimental::awaitable_operators;

namespace {

// Scenarios are templates over the semaphore type, so the same code runs
// yours::async_semaphore and reference::async_semaphore; `hold` is found by
// argument-dependent lookup in the matching namespace. The semaphore lives
// in a shared_ptr that every task keeps, so it outlives all of them.
template <typename Sem>
using shared = std::shared_ptr<Sem>;

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

// When the row `name` got its permit (the "permit" mark), or -1: never.
double granted_at(const tut::trace& t, std::string_view name) {
  const auto* task = t.find(name);
  if (!task) return -1;
  for (const auto& e : task->events)
    if (e.what == "permit") return e.at.count();
  return -1;
}

std::string when(double at) { return at < 0 ? "never" : "at " + secs(at); }

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

// ---- task 1 ---------------------------------------------------------------

struct counted {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> order;
  std::vector<std::size_t> available;  // read at checkpoints
};

template <typename Sem>
counted four_tasks_three_permits() {
  counted out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(3);
    for (int i = 1; i <= 4; ++i)
      start_user(ex, sem, fmt::format("holder {}", i), 1s, out.order);
    co_await tut::sleep(500ms);
    out.available.push_back(sem->available());
    co_await tut::sleep(2s);
    out.available.push_back(sem->available());
  });
  return out;
}

}  // namespace

TEST_CASE("a semaphore of 3 lets three tasks in; the fourth waits for a "
          "release",
          "[lesson05][task1]") {
  auto actual = four_tasks_three_permits<yours::async_semaphore>();
  auto expected = four_tasks_three_permits<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  const auto& yt = actual.run.trace;
  const auto& rt = expected.run.trace;
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "'holder 4' never got a permit. release() must hand the permit "
            "to the first task in line and wake it: set its `granted` and "
            "cancel its timer.",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the four holders");
  GRADE(peak_holding(yt) <= 3,
        fmt::format("{} tasks held a permit at the same time; a semaphore of "
                    "3 lets in three. acquire() must wait in line while no "
                    "permit is free",
                    peak_holding(yt)),
        actual.run, expected.run);
  GRADE(granted_at(yt, "holder 4") == granted_at(rt, "holder 4"),
        fmt::format("'holder 4' got its permit {}; it should get it {}, as "
                    "soon as the first holder releases",
                    when(granted_at(yt, "holder 4")),
                    when(granted_at(rt, "holder 4"))),
        actual.run, expected.run);
  GRADE(actual.available == expected.available,
        fmt::format("available() read {} (while 3 tasks held permits, then "
                    "after all gave them back); it should read {}",
                    fmt::format("{}", fmt::join(actual.available, " then ")),
                    fmt::format("{}", fmt::join(expected.available, " then "))),
        actual.run, expected.run);
}

namespace {

template <typename Sem>
counted newcomer_at_release() {
  counted out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(1);
    co_spawn(ex, greedy(sem, out.order), detached);
    co_spawn(ex, arrive(sem, "A", 100ms, out.order), detached);
    co_spawn(ex, arrive(sem, "B", 200ms, out.order), detached);
    co_spawn(ex, arrive(sem, "C", 300ms, out.order), detached);
    co_return;
  });
  return out;
}

}  // namespace

TEST_CASE("waiters are served first come, first served, even when the "
          "releasing task asks again at once",
          "[lesson05][task1]") {
  auto actual = newcomer_at_release<yours::async_semaphore>();
  auto expected = newcomer_at_release<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the five holders");
  std::string why;
  if (!actual.order.empty() && actual.order.size() > 1 &&
      actual.order[1] == "greedy again")
    why = " 'greedy' released and asked again before A could run, and got "
          "the permit back: release() must hand it to the first task in "
          "line, not put it in the pool for whoever asks first.";
  else if (actual.order.size() > 1 && actual.order[1] == "C")
    why = " The last to arrive was served first: take waiters from the "
          "front of the line.";
  // Who got the permit when, e.g. "A at 1 s".
  auto turns = [](const counted& c) {
    std::vector<std::string> out;
    for (const auto& name : c.order)
      out.push_back(name + " " + when(granted_at(c.run.trace, name)));
    return out;
  };
  if (why.empty() && turns(actual) != turns(expected))
    why = " With one permit, each task gets it only when the one before "
          "releases it.";
  GRADE(turns(actual) == turns(expected),
        fmt::format("the permit went to {}; first come, first served gives "
                    "{}.{}",
                    grade::list(turns(actual)), grade::list(turns(expected)), why),
        actual.run, expected.run);
}

namespace {

template <typename Sem>
counted one_release_three_waiters() {
  counted out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(0);
    for (int i = 1; i <= 3; ++i) {
      auto name = fmt::format("waiter {}", i);
      co_spawn(ex, tut::traced(name, take(sem, name, out.order)), detached);
    }
    co_await tut::sleep(1s);
    out.available.push_back(out.order.size());
    sem->release();
    co_await tut::sleep(1s);
    out.available.push_back(out.order.size());
    sem->release();
    sem->release();
    co_await tut::sleep(1s);
    out.available.push_back(out.order.size());
  });
  return out;
}

}  // namespace

TEST_CASE("one release wakes exactly one waiting task", "[lesson05][task1]") {
  auto actual = one_release_three_waiters<yours::async_semaphore>();
  auto expected = one_release_three_waiters<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the three waiters");
  const auto& through = actual.available;  // tasks through, at 1, 2, 3 s
  std::string what;
  if (!through.empty() && through[0] > 0)
    what = fmt::format("{} task(s) got through a semaphore of 0 before any "
                       "release: acquire() must wait while no permit is "
                       "free. ",
                       through[0]);
  else if (through.size() > 1 && through[1] > 1)
    what = fmt::format("one release() let {} waiting tasks through; it gives "
                       "back one permit, so it must wake exactly one task. ",
                       through[1]);
  else if (through.size() > 1 && through[1] == 0)
    what = "release() woke nobody: hand the permit to the first task in line "
           "and cancel its timer. ";
  GRADE(actual.available == expected.available,
        fmt::format("{}Tasks through the semaphore: {} before any release, "
                    "after one release, after three; expected {}",
                    what, fmt::join(actual.available, ", "),
                    fmt::join(expected.available, ", ")),
        actual.run, expected.run);
}

// ---- task 2 ---------------------------------------------------------------

namespace {

struct cancelled_outcome {
  grade::outcome<grade::nothing> run;
  std::vector<std::string> order;
  std::string impatient;             // what the impatient task saw
  std::vector<std::size_t> waiting;  // waiting() at checkpoints
  std::vector<std::size_t> available;
};

template <typename Sem>
cancelled_outcome gives_up_after_1s() {
  cancelled_outcome out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(1);
    start_user(ex, sem, "holder", 2s, out.order);
    co_spawn(ex, tut::traced("impatient", impatient(sem, out.impatient)),
             detached);
    start_user(ex, sem, "patient", 1s, out.order);
    co_await tut::sleep(500ms);
    out.waiting.push_back(sem->waiting());
    co_await tut::sleep(1s);
    out.waiting.push_back(sem->waiting());
    co_await tut::sleep(2s);
    out.waiting.push_back(sem->waiting());
    out.available.push_back(sem->available());
  });
  return out;
}

}  // namespace

TEST_CASE("a task that gives up waiting takes no permit and leaves the line",
          "[lesson05][task2]") {
  auto actual = gives_up_after_1s<yours::async_semaphore>();
  auto expected = gives_up_after_1s<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  GRADE(actual.impatient == expected.impatient,
        fmt::format("'holder' kept the only permit until 2 s, and the task "
                    "waiting with `acquire() || tut::sleep(1s)` {}; it "
                    "should have {}",
                    actual.impatient.empty() ? "never finished"
                    : actual.impatient == "gave up" ? "gave up at 1 s"
                                                    : "got a permit",
                    expected.impatient == "gave up" ? "given up at 1 s"
                                                    : "got a permit"),
        actual.run, expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "'patient' never got the permit. The task that gave up at 1 s "
            "stayed in line, so release() handed the permit to a task that "
            "no longer waits and it was lost. When the wait ends without "
            "`granted`, leave the line: std::erase(s->line, me).",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the three tasks");
  GRADE(actual.waiting == expected.waiting,
        fmt::format("waiting() read {} at 0.5 s, 1.5 s and 3.5 s; it should "
                    "read {}: a task that gave up is no longer in line",
                    fmt::join(actual.waiting, ", "),
                    fmt::join(expected.waiting, ", ")),
        actual.run, expected.run);
  GRADE(actual.order == expected.order &&
            granted_at(actual.run.trace, "patient") ==
                granted_at(expected.run.trace, "patient"),
        fmt::format("the permit went to {}, to 'patient' {}; expected {}, "
                    "to 'patient' {}",
                    grade::list(actual.order),
                    when(granted_at(actual.run.trace, "patient")),
                    grade::list(expected.order),
                    when(granted_at(expected.run.trace, "patient"))),
        actual.run, expected.run);
  GRADE(actual.available == expected.available,
        fmt::format("at the end available() is {}; it should be {}: the "
                    "task that gave up must not take or lose a permit",
                    fmt::join(actual.available, ""),
                    fmt::join(expected.available, "")),
        actual.run, expected.run);
}

namespace {

// 'first' waits for the only permit; at 1 s the holder releases it, which
// hands it to 'first', and in the same instant 'first' is cancelled (a
// cancellation_signal), before it could run.
template <typename Sem>
cancelled_outcome cancelled_as_it_is_handed_the_permit() {
  cancelled_outcome out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(1);
    co_await sem->acquire();
    asio::cancellation_signal cancel_first;
    co_spawn(ex, tut::traced("first", use(sem, "first", 1s, out.order)),
             asio::bind_cancellation_slot(cancel_first.slot(), detached));
    start_user(ex, sem, "second", 1s, out.order);
    co_await tut::sleep(1s);
    sem->release();
    cancel_first.emit(asio::cancellation_type::terminal);
    co_await tut::sleep(3s);
    out.waiting.push_back(sem->waiting());
    out.available.push_back(sem->available());
  });
  return out;
}

}  // namespace

TEST_CASE("a task cancelled just as release hands it the permit passes the "
          "permit on",
          "[lesson05][task2]") {
  auto actual = cancelled_as_it_is_handed_the_permit<yours::async_semaphore>();
  auto expected =
      cancelled_as_it_is_handed_the_permit<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  const auto* first = actual.run.trace.find("first");
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "'second' never got the permit. release() handed it to 'first', "
            "which was cancelled before it could run: the wait ended with "
            "`granted` set, but the task is cancelled, so it will never use "
            "or release the permit. Check "
            "(co_await asio::this_coro::cancellation_state).cancelled() and "
            "pass the permit on with release() before throwing.",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the two tasks");
  GRADE(first && first->result == tut::outcome::cancelled,
        "'first' asked for the only permit while the main task held it, "
        "and was cancelled at 1 s while it waited. Its acquire() should "
        "have thrown operation_aborted; instead 'first' went on as if it "
        "held the permit",
        actual.run, expected.run);
  GRADE(actual.order == expected.order &&
            actual.available == expected.available,
        fmt::format("the permit went to {} and available() ends at {}; "
                    "expected {} and {}",
                    grade::list(actual.order), fmt::join(actual.available, ""),
                    grade::list(expected.order), fmt::join(expected.available, "")),
        actual.run, expected.run);
}

// ---- task 3 ---------------------------------------------------------------

namespace {

template <typename Sem>
awaitable<void> hold_then_fail(shared<Sem> sem) {
  auto p = co_await hold(*sem);
  co_await tut::sleep(1s);
  throw std::runtime_error("parse error");
}

template <typename Sem>
counted permit_through_exception() {
  counted out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto sem = std::make_shared<Sem>(1);
    co_spawn(ex, tut::traced("failing", hold_then_fail(sem)), detached);
    start_user(ex, sem, "next", 1s, out.order);
    co_await tut::sleep(3s);
    out.available.push_back(sem->available());
  });
  return out;
}

}  // namespace

TEST_CASE("a permit goes back when its holder's scope ends, even by an "
          "exception",
          "[lesson05][task3]") {
  auto actual = permit_through_exception<yours::async_semaphore>();
  auto expected = permit_through_exception<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  GRADE(!actual.run.threw<tut::deadlock_error>(),
        grade::stalled(actual.run) +
            "'next' never got the permit: 'failing' held it in a `permit` "
            "and threw at 1 s, and the permit never went back. The "
            "destructor of `permit` must release it.",
        actual.run, expected.run);
  grade::expect_no_exception(actual.run, expected.run, "the two tasks");
  GRADE(granted_at(actual.run.trace, "next") ==
                granted_at(expected.run.trace, "next") &&
            actual.available == expected.available,
        fmt::format("'next' got the permit {} and available() ends at {}; "
                    "expected {} and {}. hold() must acquire before it "
                    "returns the permit",
                    when(granted_at(actual.run.trace, "next")),
                    fmt::join(actual.available, ""),
                    when(granted_at(expected.run.trace, "next")),
                    fmt::join(expected.available, "")),
        actual.run, expected.run);
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

template <typename Sem>
counted permits_released_once() {
  counted out;
  out.run = grade::run([&]() -> awaitable<void> {
    auto sem = std::make_shared<Sem>(2);
    co_await tut::traced("juggler", juggle_permits(sem, out.available));
  });
  return out;
}

}  // namespace

TEST_CASE("a permit goes back exactly once: after release(), after a move",
          "[lesson05][task3]") {
  auto actual = permits_released_once<yours::async_semaphore>();
  auto expected = permits_released_once<reference::async_semaphore>();
  grade::reference_runs(expected.run);
  grade::expect_no_exception(actual.run, expected.run, "hold()");
  GRADE(actual.available == expected.available,
        fmt::format("with a semaphore of 2, available() read [{}]; it should "
                    "read [{}]. Taken: hold(); release() then end of scope; "
                    "a move then end of scope; two held, one moved onto the "
                    "other, end of scope. A permit gives back one permit, "
                    "once: release() forgets the semaphore",
                    fmt::join(actual.available, ", "),
                    fmt::join(expected.available, ", ")),
        actual.run, expected.run);
}

// ---- task 4 ---------------------------------------------------------------

namespace {

std::vector<std::string> numbered_urls(int n) {
  std::vector<std::string> urls;
  for (int i = 1; i <= n; ++i) urls.push_back(fmt::format("u{}", i));
  return urls;
}

// A fetch takes 1 s; with `fail_every` > 0, every such url (u5, u10, ...)
// throws "503 Service Unavailable" after its second.
awaitable<std::string> fetch_page(std::string url, int fail_every) {
  co_await tut::sleep(1s);
  if (fail_every > 0 && std::stoi(url.substr(1)) % fail_every == 0)
    throw std::runtime_error("503 Service Unavailable");
  co_return "page of " + url;
}

yours::fetcher traced_fetch(int fail_every) {
  return [fail_every](std::string url) {
    return tut::traced("fetch " + url, fetch_page(url, fail_every));
  };
}

template <typename FetchAll>
auto run_fetch_all(FetchAll fetch_all, int n, std::size_t limit,
                   int fail_every = 0) {
  return grade::run([=] {
    return tut::traced("fetch_all",
                       fetch_all(numbered_urls(n), limit,
                                 traced_fetch(fail_every)));
  });
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

std::size_t started(const tut::trace& t) {
  return std::count_if(t.tasks.begin(), t.tasks.end(), [](const auto& task) {
    return task.name.starts_with("fetch u");
  });
}

}  // namespace

TEST_CASE("100 fetches of 1 s through a limit of 10 take 10 s, 10 at a time",
          "[lesson05][task4]") {
  auto actual = run_fetch_all(yours::fetch_all, 100, 10);
  auto expected = run_fetch_all(reference::fetch_all, 100, 10);
  grade::reference_runs(expected);
  grade::expect_no_exception(actual, expected, "fetch_all");
  auto peak = actual.trace.peak_of("fetch u");
  auto want_peak = expected.trace.peak_of("fetch u");
  std::string why;
  if (started(actual.trace) < 100)
    why = fmt::format(" Only {} of the 100 fetches ran: one fetch_one per "
                      "url, all of them in the jobs you gather.",
                      started(actual.trace));
  else if (peak > want_peak)
    why = " Nothing held them back: take a permit before each fetch "
          "(co_await hold(limit)) and keep it until the fetch is over.";
  else if (peak == 1)
    why = " One fetch at a time: the semaphore must have `limit` permits, "
          "and the fetches must run side by side (gather), not one "
          "co_await after the other.";
  GRADE(peak == want_peak && actual.seconds() == expected.seconds(),
        fmt::format("your 100 fetches took {} with up to {} at once; through "
                    "a limit of 10 they take {} with exactly {} at once.{}\n"
                    "(the first 20 of 100 fetches are shown)",
                    secs(actual.seconds()), peak, secs(expected.seconds()),
                    want_peak, why),
        first_rows(actual, 21), first_rows(expected, 21));
}

TEST_CASE("fetch_all returns every page in the order of the urls",
          "[lesson05][task4]") {
  auto actual = run_fetch_all(yours::fetch_all, 12, 5);
  auto expected = run_fetch_all(reference::fetch_all, 12, 5);
  grade::reference_runs(expected);
  grade::expect_no_exception(actual, expected, "fetch_all");
  GRADE(actual.value == expected.value,
        fmt::format("fetch_all of 12 urls returned {}; expected {}",
                    grade::list(*actual.value), grade::list(*expected.value)),
        actual, expected);
}

TEST_CASE("fetches that throw give their permits back: the run does not "
          "stall",
          "[lesson05][task4]") {
  // u5, u10, ... u100 fail: 20 failures, twice the limit.
  auto actual = run_fetch_all(yours::fetch_all, 100, 10, 5);
  auto expected = run_fetch_all(reference::fetch_all, 100, 10, 5);
  grade::reference_runs(expected);
  if (actual.threw<tut::deadlock_error>()) {
    auto failed = fetches(actual.trace, tut::outcome::failed);
    FAIL(grade::explain(
        fmt::format(
            "your run stalled at {} and never finished. {} fetches threw, "
            "and each of them kept its permit: the release() after the "
            "fetch never ran. Once {} permits were lost, the other {} "
            "fetches waited for a permit that nobody would give back.\n"
            "tut::run says: {}\n"
            "Hold the permit in a `permit` (co_await hold(limit)): its "
            "destructor gives it back however the scope ends.\n"
            "(the first 20 of 100 fetches are shown)",
            secs(actual.seconds()), failed, failed, 100 - started(actual.trace),
            actual.error),
        first_rows(actual, 21).trace, first_rows(expected, 21).trace));
  }
  grade::expect_no_exception(actual, expected, "fetch_all");
  GRADE(actual.value == expected.value,
        fmt::format("fetch_all returned {}; expected {}: a fetch that "
                    "throws gives \"failed: <what()>\"",
                    grade::list(*actual.value), grade::list(*expected.value)),
        first_rows(actual, 21), first_rows(expected, 21));
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("with 20 of the 100 fetches failing, yours took {}; "
                    "through a limit of 10 it takes {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        first_rows(actual, 21), first_rows(expected, 21));
}
