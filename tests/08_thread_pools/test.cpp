// Lesson 08 grading. Task 1 runs on virtual time, like the lessons before.
// Tasks 2-4 use a real thread pool and a real HTTP server on 127.0.0.1, so
// they run in real time: a few tens of milliseconds each. They are judged
// by what was seen, never by a stopwatch: which thread ran the work, and
// how many times the loop's lag monitor ticked while the work held its
// thread (none at all means the work held the loop).
#include "sides.hpp"
#include "httplib_start.hpp"
#include "real_time.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using duration = tut::clock::duration;

double ms_of(duration d) { return tut::seconds(d).count(); }

// ---- Task 1, on virtual time ---------------------------------------------

// A request handler that holds the loop's thread: it waits `after` like a
// good task, then computes for `hold` without giving the loop back.
awaitable<void> greedy_handler(duration after, duration hold) {
  co_await tut::sleep(after);
  tut::block_for(hold);
}

// When worst_lag returned, in seconds of loop time.
double watched_until(const tut::trace& t) {
  const auto* row = t.find("worst_lag");
  return row && row->end ? row->end->count() : 0;
}

// worst_lag(10 ms, 10): a tick every 10 ms. With the greedy handlers, one
// holds the loop from 25 ms to 145 ms (the tick due at 30 ms comes 115 ms
// late), and one from 212 ms to 220 ms (the last tick, due at 215 ms, comes
// 5 ms late).
template <typename WorstLag>
auto measure(WorstLag worst_lag, bool with_greedy_handlers) {
  return grade::run([=]() -> awaitable<duration> {
    auto ex = co_await asio::this_coro::executor;
    if (with_greedy_handlers) {
      co_spawn(ex, tut::traced("greedy handler", greedy_handler(25ms, 120ms)),
               detached);
      co_spawn(ex, tut::traced("short handler", greedy_handler(212ms, 8ms)),
               detached);
    }
    co_return co_await tut::traced("worst_lag", worst_lag(10ms, 10));
  });
}

// ---- Real time: the loop seen from other threads --------------------------

// The lag monitor's ticks read from other threads, a watchdog, and
// real_time::run: tests/support/real_time.hpp (these tests grew them).
using real_time::expect_finished;
using real_time::loop_watch;
using real_time::watched_loop;

// ---- Task 2: to_thread ----------------------------------------------------

// What the work saw of itself, on whichever thread ran it.
struct work_seen {
  std::mutex mutex;
  bool ran = false;
  std::thread::id thread;
  std::size_t loop_ticks = 0;  // while the work held its thread
};

// Work that holds its thread for 40 ms (CPU-heavy or blocking: a password
// hash, a blocking call), then answers "hashed: a digest of the password"
// or throws.
std::function<std::string()> hold_for_40ms(work_seen& seen, loop_watch& w,
                                           bool fail) {
  return [&seen, &w, fail] {
    auto before = w.ticks();
    tut::block_for(40ms);
    auto after = w.ticks_after(before, 1s);
    {
      std::lock_guard lock(seen.mutex);
      seen.ran = true;
      seen.thread = std::this_thread::get_id();
      seen.loop_ticks = after - before;
    }
    if (fail) throw std::invalid_argument("bad input: 42 is not a password");
    return std::string("hashed: a digest of the password");
  };
}

struct to_thread_run {
  grade::outcome<std::string> run;
  std::thread::id loop_thread, resumed_on;
  bool ran_before_return = false;
  std::thread::id work_thread;
  std::size_t loop_ticks = 0;
  duration max_lag{0};
};

template <typename ToThread>
to_thread_run run_to_thread(ToThread to_thread, bool fail) {
  to_thread_run out;
  work_seen seen;
  loop_watch watch;
  asio::thread_pool pool(2);
  out.run = real_time::run([&]() -> awaitable<std::string> {
    watched_loop loop(co_await asio::this_coro::executor, watch);
    out.loop_thread = std::this_thread::get_id();
    std::string value;
    try {
      value = co_await tut::traced(
          "to_thread", to_thread(pool, hold_for_40ms(seen, watch, fail)));
    } catch (...) {
      out.resumed_on = std::this_thread::get_id();
      throw;
    }
    out.resumed_on = std::this_thread::get_id();
    {
      std::lock_guard lock(seen.mutex);
      out.ran_before_return = seen.ran;
    }
    out.max_lag = loop.monitor.max_lag();
    co_return value;
  });
  pool.join();  // whatever is still running on it
  out.work_thread = seen.thread;
  out.loop_ticks = seen.loop_ticks;
  return out;
}

const to_thread_run& your_to_thread() {
  static const auto r = run_to_thread(yours::to_thread, false);
  return r;
}
const to_thread_run& reference_to_thread() {
  static const auto r = run_to_thread(reference::to_thread, false);
  return r;
}

void check_waited(const to_thread_run& actual, const to_thread_run& expected) {
  expect_finished(actual.run, expected.run, "to_thread");
  grade::expect_no_exception(actual.run, expected.run, "to_thread");
  GRADE(actual.ran_before_return,
        fmt::format("to_thread returned \"{}\" before the work had run: the "
                    "caller must wait for it. Await the spawned work "
                    "(co_spawn(pool, ..., use_awaitable))",
                    actual.run.value.value_or("")),
        actual.run, expected.run);
}

// Work that nobody awaits has nowhere to throw to: its exception would end
// the program on the pool's thread. Tests of errors check this first.
void require_waiting_to_thread() {
  if (your_to_thread().run.error_type == "hang")
    FAIL("to_thread never finished in the to_thread tests, so this test "
         "cannot use it: make those pass first");
  if (!your_to_thread().ran_before_return)
    FAIL("to_thread does not wait for the work (see the to_thread tests), "
         "so an exception thrown by the work has nowhere to go: on a pool "
         "thread it ends the program. Await the spawned work");
}

// ---- Tasks 3 and 4: a real server on 127.0.0.1 ----------------------------

// A local HTTP server for the fetch tasks, on a port of its own: GET
// /pages/<name> answers "page <name>" after `delay`; anything else is a
// 404. It counts the requests it holds at once, and how many times the
// loop ticked while it held each one.
class upstream {
public:
  upstream(std::chrono::milliseconds delay, loop_watch& watch)
      : delay_(delay), watch_(watch) {
    server_.set_keep_alive_max_count(1);
    server_.set_read_timeout(2s);
    server_.Get(R"(/pages/(\w+))", [this](const httplib::Request& req,
                                          httplib::Response& res) {
      auto before = watch_.ticks();
      {
        std::lock_guard lock(mutex_);
        peak_ = std::max(peak_, ++held_);
      }
      // A slow service: a real one, on cpp-httplib's thread, because the
      // learner's fetch blocks a pool thread on a real socket; virtual time
      // cannot reach another thread.
      std::this_thread::sleep_for(delay_);
      auto after = watch_.ticks_after(before, 1s);
      {
        std::lock_guard lock(mutex_);
        --held_;
        loop_ticks_.push_back(after - before);
      }
      res.set_content("page " + req.matches[1].str(), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ < 0) throw std::runtime_error("cannot listen on 127.0.0.1");
    if (!grade::start_listening(server_, thread_,
                                CPPHTTPLIB_THREAD_POOL_COUNT)) {
      server_.stop();
      thread_.join();
      throw std::runtime_error("the slow upstream did not start within 2 s");
    }
  }
  ~upstream() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  // The most requests the server held at the same time.
  std::size_t peak() {
    std::lock_guard lock(mutex_);
    return peak_;
  }
  // For each request held: how many times the loop ticked meanwhile.
  std::vector<std::size_t> loop_ticks() {
    std::lock_guard lock(mutex_);
    return loop_ticks_;
  }

private:
  std::chrono::milliseconds delay_;
  loop_watch& watch_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::size_t held_ = 0, peak_ = 0;
  std::vector<std::size_t> loop_ticks_;
};

template <typename T>
struct fetch_run {
  grade::outcome<T> run;
  std::size_t peak = 0;
  std::vector<std::size_t> loop_ticks;
  duration max_lag{0};
};

// Runs `call(pool, port)` against a fresh server that holds each request
// for `delay`, with the loop watched.
template <typename Call>
auto run_fetch(std::chrono::milliseconds delay, Call call) {
  using T = typename std::invoke_result_t<Call&, asio::thread_pool&,
                                          int>::value_type;
  fetch_run<T> out;
  loop_watch watch;
  upstream server(delay, watch);
  asio::thread_pool pool(4);
  out.run = real_time::run([&]() -> awaitable<T> {
    watched_loop loop(co_await asio::this_coro::executor, watch);
    auto value = co_await call(pool, server.port());
    out.max_lag = loop.monitor.max_lag();
    co_return value;
  });
  pool.join();
  out.peak = server.peak();
  out.loop_ticks = server.loop_ticks();
  return out;
}

template <typename Fetch>
auto fetch_page(Fetch fetch, std::chrono::milliseconds delay,
                std::string path) {
  return run_fetch(delay, [=](asio::thread_pool& pool, int port) {
    return tut::traced("fetch " + path, fetch(pool, port, path));
  });
}

template <typename FetchBoth>
auto fetch_two_pages(FetchBoth fetch_both) {
  return run_fetch(80ms, [=](asio::thread_pool& pool, int port) {
    return tut::traced("fetch_both",
                       fetch_both(pool, port, "/pages/news", "/pages/weather"));
  });
}

std::string shown(const std::optional<std::string>& s) {
  return s ? fmt::format("\"{}\"", *s) : "nothing";
}
std::string shown(
    const std::optional<std::pair<std::string, std::string>>& p) {
  return p ? fmt::format("(\"{}\", \"{}\")", p->first, p->second) : "nothing";
}

// The fetch `call` finished, without an exception, and returned what the
// reference's did; `expected_is` leads in the reference's value in the
// message ("the server answered", "expected").
template <typename Fetched>
void expect_fetched(const Fetched& actual, const Fetched& expected,
                    std::string_view call, std::string_view expected_is) {
  expect_finished(actual.run, expected.run, call);
  grade::expect_no_exception(actual.run, expected.run, call);
  GRADE(actual.run.value == expected.run.value,
        fmt::format("{} returned {}; {} {}", call, shown(actual.run.value),
                    expected_is, shown(expected.run.value)),
        actual.run, expected.run);
}

}  // namespace

TEST_CASE("with nothing blocking the loop, every tick is on time: the worst "
          "lag is 0",
          "[lesson08][task1]") {
  auto [actual, expected] = BOTH_SIDES(measure, worst_lag, false);
  grade::expect_no_exception(actual, expected, "worst_lag");
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("worst_lag(10 ms, 10) returned after {}; ticking 10 "
                    "times every 10 ms, it watches the loop for {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
  GRADE(actual.value == expected.value,
        fmt::format("worst_lag reported {} on a free loop, where every tick "
                    "fires on time. Measure from when the tick was due "
                    "(tut::now() + interval, noted before the sleep), not "
                    "from when the sleep began",
                    secs(ms_of(*actual.value))),
        actual, expected);
}

TEST_CASE("a handler that holds the loop for 120 ms makes a tick 115 ms "
          "late, and worst_lag reports the worst tick",
          "[lesson08][task1]") {
  auto [actual, expected] = BOTH_SIDES(measure, worst_lag, true);
  grade::expect_no_exception(actual, expected, "worst_lag");
  GRADE(actual.value == expected.value,
        fmt::format("worst_lag reported {}; the greedy handler held the "
                    "loop from 25 ms to 145 ms, so the tick due at 30 ms "
                    "came {} late (and a short handler made the last tick "
                    "5 ms late).{}",
                    secs(ms_of(*actual.value)), secs(ms_of(*expected.value)),
                    watched_until(actual.trace) < 0.145
                        ? " Yours stopped watching before that tick came: "
                          "each tick sleeps `interval` on the loop"
                    : *actual.value == 5ms
                        ? " That is the last tick's lateness: keep the "
                          "largest of all the ticks"
                    : *actual.value < 1ms
                        ? " On the loop's clock (tut::now()) that tick is "
                          "due at 30 ms and fires at 145 ms"
                        : ""),
        actual, expected);
}

TEST_CASE("to_thread runs the work on a pool thread while the loop keeps "
          "ticking",
          "[lesson08][task2]") {
  const auto& actual = your_to_thread();
  const auto& expected = reference_to_thread();
  check_waited(actual, expected);
  GRADE(actual.work_thread != actual.loop_thread,
        fmt::format("the work ran on the loop's own thread: for its 40 ms "
                    "the loop ticked {} times and stalled for {}. It must "
                    "run on a thread of the pool: spawned on the pool's "
                    "executor (awaiting asio::post(pool, ...) hops to the "
                    "pool and straight back, and the coroutine's own "
                    "executor is the loop's)",
                    actual.loop_ticks, secs(ms_of(actual.max_lag))),
        actual.run, expected.run);
  GRADE(actual.loop_ticks > 0,
        fmt::format("the work ran on another thread, but the loop did not "
                    "tick once in its 40 ms, nor while it then waited up "
                    "to a second for one (the lag monitor saw a stall of {}): "
                    "something held the loop while it waited",
                    secs(ms_of(actual.max_lag))),
        actual.run, expected.run);
}

TEST_CASE("to_thread hands the work's result back, on the loop's thread",
          "[lesson08][task2]") {
  const auto& actual = your_to_thread();
  const auto& expected = reference_to_thread();
  check_waited(actual, expected);
  GRADE(actual.run.value == expected.run.value,
        fmt::format("to_thread returned {}; the work returned {}",
                    shown(actual.run.value), shown(expected.run.value)),
        actual.run, expected.run);
  GRADE(actual.resumed_on == actual.loop_thread,
        "after `co_await to_thread(...)` the caller went on on another "
        "thread than the loop's: the rest of the task now runs beside the "
        "loop instead of on it. Await with use_awaitable, which resumes "
        "the caller on its own executor",
        actual.run, expected.run);
}

TEST_CASE("an exception thrown by the work comes out of co_await to_thread "
          "as itself, on the loop",
          "[lesson08][task2]") {
  require_waiting_to_thread();
  auto actual = run_to_thread(yours::to_thread, true);
  auto expected = run_to_thread(reference::to_thread, true);
  expect_finished(actual.run, expected.run, "to_thread");
  GRADE(actual.run.threw<std::invalid_argument>() &&
            actual.run.error == expected.run.error,
        actual.run.exception
            ? fmt::format("to_thread threw {} (\"{}\"); the work threw "
                          "std::invalid_argument (\"{}\"), and that is what "
                          "the caller should catch",
                          actual.run.error_type, actual.run.error,
                          expected.run.error)
            : fmt::format("the work threw std::invalid_argument (\"{}\"), "
                          "but to_thread returned {}: the error was lost on "
                          "the way back. Let it out of co_await (don't turn "
                          "it into a value and drop it)",
                          expected.run.error, shown(actual.run.value)),
        actual.run, expected.run);
  GRADE(actual.resumed_on == actual.loop_thread,
        "the work's exception came out of `co_await to_thread(...)` on "
        "another thread than the loop's: the caller's catch block ran beside "
        "the loop instead of on it",
        actual.run, expected.run);
}

namespace {

// What the cancelled caller's work saw. The caller keeps a label (over 15
// bytes) in its frame, and the work reads it by reference after 40 ms, as
// work on a pool often reads the caller's data. A marker in the caller's
// frame, destroyed before the label, says when the frame is gone, under
// the same lock the work reads with: the work never reads a label that is
// gone, it reports it.
struct cancelled_work {
  std::mutex mutex;
  bool caller_gone = false;
  bool ended = false;
  std::string read;        // the label as the work read it, or "<gone>"
  tut::seconds ended_at{0};
};

struct frame_marker {
  cancelled_work& seen;
  ~frame_marker() {
    std::lock_guard lock(seen.mutex);
    seen.caller_gone = true;
  }
};

template <typename ToThread>
awaitable<std::string> caller_of(ToThread to_thread, asio::thread_pool& pool,
                                 cancelled_work& seen) {
  std::string label = "the label in the caller's frame";
  frame_marker marker{seen};
  std::function<std::string()> work = [&label, &seen] {
    tut::block_for(40ms);
    std::lock_guard lock(seen.mutex);
    seen.read = seen.caller_gone ? std::string("<gone>") : label;
    seen.ended = true;
    seen.ended_at = tut::seconds(tut::now().time_since_epoch());
    return "hashed: " + seen.read;
  };
  co_return co_await to_thread(pool, std::move(work));
}

struct cancelled_run {
  grade::outcome<std::string> run;  // value: how to_thread ended
  bool work_ended = false;
  std::string read;
  double work_ended_after = 0;      // seconds after the scenario began
  double caller_ended_after = -1;
};

// to_thread with work of 40 ms, cancelled at 10 ms through a signal bound
// to the caller. The loop stays up until the work has ended, and the pool
// is joined before the loop goes away.
template <typename ToThread>
cancelled_run cancel_to_thread(ToThread to_thread) {
  cancelled_run out;
  cancelled_work seen;
  asio::thread_pool pool(2);
  auto start = tut::seconds(tut::now().time_since_epoch());
  out.run = real_time::run([&]() -> awaitable<std::string> {
    auto r = co_await grade::cancel_after(
        tut::traced("to_thread", caller_of(to_thread, pool, seen)), 10ms);
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(seen.mutex);
        if (seen.ended) break;
      }
      co_await tut::sleep(2ms);
    }
    pool.join();  // what the work posts back must find the loop
    co_await tut::yield();
    if (r.ended()) out.caller_ended_after = (r.ended_at - start).count();
    // In words, without the (real) time.
    if (r.value) co_return "returned \"" + *r.value + "\"";
    if (r.aborted) co_return "ended with operation_aborted";
    if (r.exception)
      co_return fmt::format("threw {}: {}", grade::type_name(r.exception),
                            r.error);
    co_return "never ended";
  });
  pool.join();
  out.work_ended = seen.ended;
  out.read = seen.read;
  out.work_ended_after = (seen.ended_at - start).count();
  return out;
}

std::string ms_after(double s) {
  return fmt::format("{:.0f} ms", s * 1000);
}

}  // namespace

TEST_CASE("to_thread cancelled while the work runs: it waits for the work, "
          "then comes out as operation_aborted",
          "[lesson08][task3]") {
  require_waiting_to_thread();
  auto [actual, expected] = BOTH_SIDES(cancel_to_thread, to_thread);
  expect_finished(actual.run, expected.run, "to_thread");
  grade::expect_no_exception(actual.run, expected.run, "the cancelled caller");
  GRADE(actual.work_ended,
        "the caller was cancelled at 10 ms, and the work on the pool never "
        "ended: work on a thread cannot be stopped, and runs to its end",
        actual.run, expected.run);
  GRADE(actual.read == expected.read,
        fmt::format("the caller was cancelled at 10 ms; its to_thread came "
                    "back {} after the start, while the work ran on the pool "
                    "until {}. The work then read the caller's label "
                    "(captured by reference), and the caller's frame was "
                    "gone: it read {}. A cancelled to_thread still waits "
                    "for the work to end",
                    ms_after(actual.caller_ended_after),
                    ms_after(actual.work_ended_after),
                    actual.read == "<gone>" ? "nothing, the label was gone"
                                            : "\"" + actual.read + "\""),
        actual.run, expected.run);
  GRADE(*actual.run.value == *expected.run.value,
        fmt::format("the caller was cancelled at 10 ms, while the work ran "
                    "(40 ms); its to_thread {}; it should have {}: the work "
                    "ran to its end, but a cancelled caller hears the "
                    "cancellation, not the result",
                    *actual.run.value, *expected.run.value),
        actual.run, expected.run);
}

TEST_CASE("while the server holds a request, the loop keeps running: fetch "
          "does not block it",
          "[lesson08][task4]") {
  auto [actual, expected] =
      BOTH_SIDES(fetch_page, fetch, 60ms, "/pages/report");
  expect_fetched(actual, expected, "fetch", "the server answered");
  auto ticks = actual.loop_ticks.empty() ? 0 : actual.loop_ticks.front();
  GRADE(ticks > 0,
        fmt::format("while the server held your request for 60 ms (and "
                    "up to a second more, waiting for a tick) the loop "
                    "ticked {} times, and the lag monitor saw it stalled "
                    "for {}: the request was waited for on the loop's "
                    "thread. blocking_get goes through to_thread, and "
                    "to_thread (task 2) runs it on the pool",
                    ticks, secs(ms_of(actual.max_lag))),
        actual.run, expected.run);
}

TEST_CASE("a page the server does not have comes out of fetch as "
          "std::runtime_error",
          "[lesson08][task4]") {
  require_waiting_to_thread();
  auto actual = fetch_page(yours::fetch, 0ms, "/missing");
  auto expected = fetch_page(reference::fetch, 0ms, "/missing");
  expect_finished(actual.run, expected.run, "fetch");
  GRADE(actual.run.threw<std::runtime_error>() &&
            actual.run.error == expected.run.error,
        actual.run.exception
            ? fmt::format("fetch threw {} (\"{}\"); expected "
                          "std::runtime_error (\"{}\") from blocking_get",
                          actual.run.error_type, actual.run.error,
                          expected.run.error)
            : fmt::format("fetch returned {}; the server answered 404, and "
                          "blocking_get threw std::runtime_error (\"{}\"): "
                          "the caller should get that error",
                          shown(actual.run.value), expected.run.error),
        actual.run, expected.run);
}

TEST_CASE("two fetches started together overlap: the server holds both at "
          "once, and the bodies come back in order",
          "[lesson08][task5]") {
  auto [actual, expected] = BOTH_SIDES(fetch_two_pages, fetch_both);
  expect_fetched(actual, expected, "fetch_both", "expected");
  auto loop_held = std::all_of(actual.loop_ticks.begin(),
                               actual.loop_ticks.end(),
                               [](std::size_t t) { return t == 0; });
  GRADE(actual.peak == expected.peak,
        loop_held
            ? fmt::format("the server held at most {} of your requests at "
                          "a time, and the loop did not tick while it held "
                          "them: fetch holds the loop, so nothing else can "
                          "start meanwhile. Make fetch pass (task 4) first",
                          actual.peak)
            : fmt::format("the server held at most {} of your requests at "
                          "a time: the second fetch started when the first "
                          "had ended. Start both with the && operator and "
                          "the pool runs them side by side",
                          actual.peak),
        actual.run, expected.run);
}
