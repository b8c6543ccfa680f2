// Lesson 07 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using duration = tut::clock::duration;

// However a fetch ends (an answer, an error, a cancellation), it cleans up
// on the way out, like a `finally:` that closes its connection; the
// timeline shows a "cleanup" mark on its row when that happens.
struct cleanup_on_exit {
  std::string task;
  ~cleanup_on_exit() { tut::note(task, "cleanup"); }
};

// A fetch that takes `work`, then answers "<name>: 200 OK, a page" (over 15
// bytes, so that a reply read after its string is gone shows), or throws
// std::runtime_error(failure) when `failure` is not empty.
awaitable<std::string> fetch(std::string name, duration work,
                             std::string failure) {
  cleanup_on_exit cleanup{name};
  co_await tut::sleep(work);
  if (!failure.empty()) throw std::runtime_error(failure);
  co_return name + ": 200 OK, a page";
}

// The fetch as a named task on the timeline.
awaitable<std::string> traced_fetch(std::string name, duration work) {
  return tut::traced(name, fetch(name, work, ""));
}
awaitable<std::string> failing_fetch(std::string name, duration work,
                                     std::string failure) {
  return tut::traced(name, fetch(name, work, std::move(failure)));
}

// The row of the task called `name`, or nullptr.
const tut::task_record* row(const tut::trace& t, std::string_view name) {
  return t.find(name);
}

// When the task ended, in seconds; -1 if it never started or never ended.
double end_of(const tut::trace& t, std::string_view name) {
  const auto* r = row(t, name);
  return r && r->end ? r->end->count() : -1;
}

// When the task's "cleanup" mark was made, if it was.
std::optional<double> cleanup_of(const tut::trace& t, std::string_view name) {
  if (const auto* r = row(t, name))
    for (const auto& e : r->events)
      if (e.what == "cleanup") return e.at.count();
  return std::nullopt;
}

// "ran to its end at 5 s", "was cancelled at 2 s", "never ran" ...
std::string fate(const tut::trace& t, std::string_view name) {
  const auto* r = row(t, name);
  if (!r) return "never ran";
  if (!r->end) return "was still running";
  std::string how = r->result == tut::outcome::done      ? "ran to its end"
                    : r->result == tut::outcome::failed  ? "failed"
                    : r->result == tut::outcome::cancelled ? "was cancelled"
                                                           : "was running";
  return fmt::format("{} at {}", how, secs(r->end->count()));
}

template <typename T>
bool timed_out(const grade::outcome<T>& o) {
  if (!o.exception) return false;
  try {
    std::rethrow_exception(o.exception);
  } catch (const asio::system_error& e) {
    return e.code() == asio::error::timed_out;
  } catch (...) {
    return false;
  }
}

std::string shown(const std::string& s) { return fmt::format("\"{}\"", s); }
std::string shown(const std::vector<std::string>& v) {
  return fmt::format("[{}]", fmt::join(v, ", "));
}

// How a run ended, in a few words.
template <typename T>
std::string ending(const grade::outcome<T>& o) {
  if (o.value) return "returned " + shown(*o.value);
  if (timed_out(o)) return "threw the timeout error";
  return fmt::format("threw {} (\"{}\")", o.error_type, o.error);
}

// with_timeout or with_timeout_signal around one fetch, as a task called
// `call` on the timeline.
template <typename Timeout>
auto fetch_within(Timeout with_timeout, std::string call, duration work,
                  duration limit) {
  return grade::run([=] {
    return tut::traced(call, with_timeout(traced_fetch("fetch", work), limit));
  });
}

template <typename Timeout>
auto failing_fetch_within(Timeout with_timeout, std::string call,
                          duration work, duration limit) {
  return grade::run([=] {
    return tut::traced(call, with_timeout(failing_fetch("fetch", work,
                                                        "connection refused"),
                                          limit));
  });
}

// Shared checks, each running its scenario through your function and the
// reference's: a 1 s fetch that ends in time (within `limit`) is returned
// as soon as it ends.
template <typename Timeout>
void check_in_time(Timeout yours_f, Timeout reference_f,
                   const std::string& call, duration limit) {
  auto actual = fetch_within(yours_f, call, 1s, limit);
  auto expected = fetch_within(reference_f, call, 1s, limit);
  grade::expect_no_exception(actual, expected, call);
  GRADE(actual.value == expected.value,
        fmt::format("{} {}; expected it to return {}", call, ending(actual),
                    shown(*expected.value)),
        actual, expected);
  GRADE(end_of(actual.trace, call) == end_of(expected.trace, call) &&
            actual.seconds() == expected.seconds(),
        fmt::format("the fetch ended at {}, but {} returned at {} and the "
                    "run took {}: when the work wins the race, the timer "
                    "is cancelled and nothing waits for it",
                    secs(end_of(actual.trace, "fetch")), call,
                    secs(end_of(actual.trace, call)),
                    secs(actual.seconds())),
        actual, expected);
}

// Shared checks: a fetch that fails at 0.5 s, before the limit of 2 s,
// passes its error on, when it happens.
template <typename Timeout>
void check_error_passes(Timeout yours_f, Timeout reference_f,
                        const std::string& call, const std::string& fix) {
  auto actual = failing_fetch_within(yours_f, call, 500ms, 2s);
  auto expected = failing_fetch_within(reference_f, call, 500ms, 2s);
  bool same_error = !actual.value && !timed_out(actual) &&
                    actual.error == expected.error;
  double failed_at = end_of(actual.trace, "fetch");
  GRADE(same_error,
        fmt::format("the fetch failed at {} with \"connection refused\", but "
                    "{} {} at {}. An error that is not a timeout must come "
                    "out as it is.{}",
                    secs(failed_at), call, ending(actual),
                    secs(end_of(actual.trace, call)),
                    timed_out(actual) ? " " + fix : ""),
        actual, expected);
  GRADE(end_of(actual.trace, call) == end_of(expected.trace, call),
        fmt::format("the fetch failed at {}, but {} passed the error on only "
                    "at {}: it should come out at once",
                    secs(failed_at), call, secs(end_of(actual.trace, call))),
        actual, expected);
}

// A 5 s fetch with a limit of 2 s: at 2 s the fetch is cancelled and
// cleans up, the timeout error comes out, and nothing is left running.
// `not_cancelled` says what makes the cancellation happen.
template <typename Timeout>
void check_times_out(Timeout yours_f, Timeout reference_f,
                     const std::string& call,
                     const std::string& not_cancelled) {
  auto actual = fetch_within(yours_f, call, 5s, 2s);
  auto expected = fetch_within(reference_f, call, 5s, 2s);
  const auto* fetched = row(actual.trace, "fetch");
  bool cancelled = fetched && fetched->result == tut::outcome::cancelled &&
                   end_of(actual.trace, "fetch") == 2;
  double returned = end_of(actual.trace, call);
  std::string why = !cancelled ? " Nothing cancelled the fetch at 2 s. " +
                                     not_cancelled
                    : actual.value && returned == 2
                        ? " A placeholder hides the timeout from the caller."
                        : "";
  GRADE(timed_out(actual) && returned == end_of(expected.trace, call),
        fmt::format("a 5 s fetch with a limit of 2 s: {} {} at {}; past the "
                    "limit it throws asio::system_error("
                    "asio::error::timed_out), at 2 s.{}",
                    call, ending(actual), secs(returned), why),
        actual, expected);
  auto cleanup = cleanup_of(actual.trace, "fetch");
  GRADE(cancelled && cleanup == cleanup_of(expected.trace, "fetch"),
        fmt::format("a 5 s fetch with a limit of 2 s: {} reported the timeout "
                    "at {}, but the fetch {}{}. At the limit it is cancelled "
                    "and cleans up, before the timeout is reported. {}",
                    call, secs(returned), fate(actual.trace, "fetch"),
                    cleanup ? fmt::format(" and cleaned up at {}",
                                          secs(*cleanup))
                            : ", without cleaning up",
                    not_cancelled),
        actual, expected);
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("the run went on until {}; once the timeout is reported "
                    "at 2 s nothing of the fetch should be left",
                    secs(actual.seconds())),
        actual, expected);
}

// Before a test of what a timeout does besides, the timeout itself: a
// fetch of `work` (failing with "connection refused" if `fails`) with a
// limit of 2 s times out at 2 s. `what` says which task makes it so.
template <typename Timeout>
void expect_still_times_out(Timeout yours_f, Timeout reference_f,
                            const std::string& call, duration work,
                            bool fails, const std::string& what) {
  auto actual = fails ? failing_fetch_within(yours_f, call, work, 2s)
                      : fetch_within(yours_f, call, work, 2s);
  auto expected = fails ? failing_fetch_within(reference_f, call, work, 2s)
                        : fetch_within(reference_f, call, work, 2s);
  if (!timed_out(expected))
    FAIL("the reference solution failed this scenario: " + ending(expected));
  GRADE(timed_out(actual) &&
            end_of(actual.trace, call) == end_of(expected.trace, call),
        fmt::format("a fetch that would {} at {}, with a limit of 2 s: {} {} "
                    "at {}; it should throw the timeout error at 2 s. {}",
                    fails ? "fail" : "answer", secs(tut::seconds(work).count()),
                    call, ending(actual), secs(end_of(actual.trace, call)),
                    what),
        actual, expected);
}

// The attempts of fetch_with_retry, in order.
std::vector<const tut::task_record*> attempts_of(const tut::trace& t) {
  std::vector<const tut::task_record*> out;
  for (const auto& task : t.tasks)
    if (task.name.starts_with("attempt ")) out.push_back(&task);
  return out;
}

// The waits between one attempt's end and the next one's start.
std::vector<std::string> waits_between(const tut::trace& t) {
  auto attempts = attempts_of(t);
  std::vector<std::string> out;
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    const auto* before = attempts[i - 1];
    double ended = before->end ? before->end->count() : 0;
    out.push_back(secs(attempts[i]->start.count() - ended));
  }
  return out;
}

std::string attempt_name(int n) { return fmt::format("attempt {}", n); }

// Attempts 1 to 3 hang (10 s, far past any timeout); later ones answer
// after 200 ms.
awaitable<std::string> flaky_attempt(int n) {
  return traced_fetch(attempt_name(n), n <= 3 ? duration(10s) : 200ms);
}
awaitable<std::string> hanging_attempt(int n) {
  return traced_fetch(attempt_name(n), 10s);
}
awaitable<std::string> refused_attempt(int n) {
  return failing_fetch(attempt_name(n), 300ms, "404 not found");
}

// Every attempt that hangs (10 s) is cancelled after its own 1 s.
template <typename T>
void check_attempts_cut(const grade::outcome<T>& actual,
                        const grade::outcome<T>& expected) {
  for (const auto* a : attempts_of(actual.trace)) {
    if (a->result == tut::outcome::done && a->end &&
        (*a->end - a->start).count() < 1)
      continue;  // answered in time
    bool cut = a->result == tut::outcome::cancelled && a->end &&
               (*a->end - a->start).count() == 1;
    GRADE(cut,
          fmt::format("{} started at {} and {}: each attempt has a timeout "
                      "of its own, 1 s, after which it is cancelled. Await "
                      "with_timeout(attempt(n), per_attempt)",
                      a->name, secs(a->start.count()),
                      fate(actual.trace, a->name)),
          actual, expected);
  }
}

// The waits between attempts, against the reference's.
template <typename T>
void check_backoff(const grade::outcome<T>& actual,
                   const grade::outcome<T>& expected) {
  auto waits = waits_between(actual.trace);
  auto expected_waits = waits_between(expected.trace);
  GRADE(waits == expected_waits && actual.seconds() == expected.seconds(),
        fmt::format("your retries waited [{}] between attempts and took {} "
                    "in all; the backoff starts at 500 ms and doubles after "
                    "each wait: [{}], {} in all",
                    fmt::join(waits, ", "), secs(actual.seconds()),
                    fmt::join(expected_waits, ", "),
                    secs(expected.seconds())),
        actual, expected);
}

template <typename Retry>
auto retry_run(Retry fetch_with_retry, yours::attempt_fn attempt,
               int attempts) {
  return grade::run([=] {
    return tut::traced("fetch_with_retry",
                       fetch_with_retry(attempt, attempts, 1s, 500ms));
  });
}

// ---- Cancelled by the caller ------------------------------------------------

// Runs `call()` as the row `name`, a task whose cancellation slot is bound
// to a signal (the way a task group or `||` reaches it), and emits the
// signal at `at`. The run's value says how the call ended.
template <typename Call>
auto cancel_call(std::string name, Call call, duration at) {
  return grade::run([=]() -> awaitable<std::string> {
    auto r = co_await grade::cancel_after(tut::traced(name, call()), at);
    if (r.ended() && r.exception && !r.aborted) {
      try {
        std::rethrow_exception(r.exception);
      } catch (const asio::system_error& e) {
        if (e.code() == asio::error::timed_out)
          co_return fmt::format("threw the timeout error at {}",
                                secs(r.ended_at.count()));
      } catch (...) {
      }
    }
    if (r.value)
      co_return fmt::format("returned {} at {}", shown(*r.value),
                            secs(r.ended_at.count()));
    co_return grade::how_it_ended(r);
  });
}

// `call(function)` on both sides, as the task `name`, cancelled by its
// caller at `at`.
template <typename Yours, typename Reference, typename Call>
auto cancel_both(std::string name, Yours yours_function,
                 Reference reference_function, Call call, duration at) {
  auto run = [=](auto function) {
    return cancel_call(name, [=] { return call(function); }, at);
  };
  return grade::both(run, yours_function, reference_function);
}

// with_timeout or with_timeout_signal around a 5 s fetch with a limit of
// 3 s, as the task `call`, cancelled by its caller at 1 s.
template <typename Timeout>
auto cancelled_fetch_within(Timeout with_timeout, std::string call) {
  return cancel_call(
      call, [=] { return with_timeout(traced_fetch("fetch", 5s), 3s); }, 1s);
}

// `call`, cancelled by its caller at 1 s while `work` (a row that would run
// on) still ran: it ends then, as a cancellation, and so does `work`.
template <typename T>
void check_cancelled_by_caller(const grade::outcome<T>& actual,
                               const grade::outcome<T>& expected,
                               const std::string& call,
                               const std::string& work,
                               const std::string& why) {
  grade::reference_runs(expected);
  grade::expect_no_exception(actual, expected, call);
  GRADE(actual.value == expected.value,
        fmt::format("{} was cancelled by its caller at 1 s (a cancellation "
                    "signal bound to it), while {} still ran. It {}; it "
                    "should have {}.{}",
                    call, work, *actual.value, *expected.value,
                    *actual.value == *expected.value ? ""
                    : actual.value->find("multiple_exceptions") !=
                            std::string::npos
                        ? " Both sides of `||` failed (the cancelled work and "
                          "the cancelled timer), and `||` reports both. With "
                          "the work's failure as a value, the work's side "
                          "ends the race, with the cancellation as its "
                          "result."
                        : " " + why),
        actual, expected);
  const auto* r = row(actual.trace, work);
  bool stopped = r && r->result == tut::outcome::cancelled &&
                 end_of(actual.trace, work) == end_of(expected.trace, work) &&
                 cleanup_of(actual.trace, work) ==
                     cleanup_of(expected.trace, work);
  GRADE(stopped,
        fmt::format("{} was cancelled at 1 s, and {} {}{}; it should be "
                    "cancelled with it, and clean up, at 1 s",
                    call, work, fate(actual.trace, work),
                    cleanup_of(actual.trace, work) ? ""
                                                   : " without cleaning up"),
        actual, expected);
}

// ---- Code that crashes, in a process of its own ----------------------------

// What a scenario run in a child process gave: its result, or what ended
// the child.
struct isolated {
  bool crashed = false;
  std::string result;  // what the scenario returned, or how the child died
};

// Runs `scenario()` (which returns a std::string) in a child process, so
// that code which crashes there fails the test with a message instead of
// ending the test program. The child's own output is thrown away.
template <typename Scenario>
isolated in_child_process(Scenario scenario) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {true, "no pipe for the child process"};
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return {true, "fork() failed"};
  if (pid == 0) {
    close(pipe_fds[0]);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
      std::signal(s, SIG_DFL);
    std::string result;
    try {
      result = scenario();
    } catch (const std::exception& e) {
      result = std::string("threw ") + e.what();
    }
    for (std::size_t done = 0; done < result.size();) {
      auto n = write(pipe_fds[1], result.data() + done, result.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(pipe_fds[1]);
  isolated out;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    out.result.append(buffer, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    out = {true, fmt::format("it was killed by {}",
                             strsignal(WTERMSIG(status)))};
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out = {true, fmt::format("it stopped with exit status {}, as a "
                             "sanitizer does when it finds an error",
                             WEXITSTATUS(status))};
  }
  return out;
}

// with_timeout_signal around a fetch of 2 s with a limit of 2 s, while `k`
// other timers started before it also expire at 2 s. The loop takes expired
// timers from its queue in an order that depends on how many it holds; for
// some `k` the fetch's comes first: the fetch answers and
// with_timeout_signal returns, and its timer's callback runs after that,
// in the same instant, with no error code. Each `k` from 0 to 4 is tried.
template <typename Timeout>
std::string timer_fires_as_the_fetch_answers(Timeout with_timeout_signal) {
  std::vector<std::string> endings;
  for (int k = 0; k <= 4; ++k) {
    auto r = grade::run([=]() -> awaitable<std::string> {
      auto ex = co_await asio::this_coro::executor;
      for (int i = 0; i < k; ++i) co_spawn(ex, tut::sleep(2s), detached);
      co_await tut::yield();
      auto value = co_await tut::traced(
          "with_timeout_signal",
          with_timeout_signal(traced_fetch("fetch", 2s), 2s));
      co_await tut::sleep(100ms);  // the late callback runs meanwhile
      co_return value;
    });
    endings.push_back(ending(r));
  }
  return fmt::format("{}", fmt::join(endings, "; "));
}

}  // namespace

// ---- Task 1: with_timeout, the `||` operator against a timer -------------

TEST_CASE("with_timeout: a fetch that ends in time gives its result as soon "
          "as it ends",
          "[lesson07][task1]") {
  check_in_time(yours::with_timeout, reference::with_timeout, "with_timeout",
                2s);
}

TEST_CASE("with_timeout: a fetch that runs past the limit is cancelled and "
          "cleans up at the limit, and the timeout error comes out then",
          "[lesson07][task1]") {
  check_times_out(yours::with_timeout, reference::with_timeout,
                  "with_timeout",
                  "A timeout must cancel the work: `||` cancels the loser "
                  "and waits for it to stop.");
}

TEST_CASE("with_timeout cancelled by its caller: the fetch is cancelled at "
          "once, and the cancellation comes out as operation_aborted",
          "[lesson07][task2]") {
  check_cancelled_by_caller(
      cancelled_fetch_within(yours::with_timeout, "with_timeout"),
      cancelled_fetch_within(reference::with_timeout, "with_timeout"),
      "with_timeout", "fetch",
      "A caller's cancellation is not a timeout: it reaches both sides of "
      "the race, and comes out as what it is.");
}

TEST_CASE("with_timeout: an error inside the fetch comes out at once, not "
          "as a timeout at the limit",
          "[lesson07][task2]") {
  expect_still_times_out(yours::with_timeout, reference::with_timeout,
                         "with_timeout", 3s, true,
                         "An error that comes after the limit is too late: "
                         "the timer has won by then, and the race keeps its "
                         "timer.");
  check_error_passes(
      yours::with_timeout, reference::with_timeout, "with_timeout",
      "`||` waits for the first *success*: the failed fetch did not end the "
      "race, the timer won it at 2 s, and the error was lost. Spawn the "
      "operation with as_tuple(use_awaitable) so its error is a value "
      "that ends the race");
}

// ---- Task 3: with_timeout_signal, a timer firing a cancellation signal ---

TEST_CASE("with_timeout_signal: a fetch that ends in time gives its result "
          "as soon as it ends",
          "[lesson07][task3]") {
  check_in_time(yours::with_timeout_signal, reference::with_timeout_signal,
                "with_timeout_signal", 3s);
}

TEST_CASE("with_timeout_signal: at the limit the signal cancels the fetch, "
          "it cleans up, and the timeout error comes out",
          "[lesson07][task3]") {
  check_times_out(yours::with_timeout_signal, reference::with_timeout_signal,
                  "with_timeout_signal",
                  "For the timer to cancel it, the timer must be started "
                  "(async_wait), its callback must emit "
                  "cancellation_type::terminal (a coroutine ignores partial "
                  "and total), and the signal's slot must be bound to the "
                  "spawned operation.");
}

TEST_CASE("with_timeout_signal: an error inside the fetch is passed on as "
          "it is, not reported as a timeout",
          "[lesson07][task3]") {
  check_error_passes(yours::with_timeout_signal,
                     reference::with_timeout_signal, "with_timeout_signal",
                     "Only an error after the timer fired is a timeout; "
                     "rethrow any other with std::rethrow_exception");
}

TEST_CASE("with_timeout_signal: the timer's callback may run after "
          "with_timeout_signal has returned, and what it uses is still "
          "there",
          "[lesson07][task3]") {
  auto actual = in_child_process([] {
    return timer_fires_as_the_fetch_answers(yours::with_timeout_signal);
  });
  auto expected = in_child_process([] {
    return timer_fires_as_the_fetch_answers(reference::with_timeout_signal);
  });
  if (expected.crashed)
    FAIL("the reference solution failed this scenario: " + expected.result);
  if (actual.crashed)
    FAIL(fmt::format(
        "with_timeout_signal crashed ({}) with a 2 s fetch and a limit of "
        "2 s, while other timers also expired at 2 s. Then the fetch answers "
        "in the instant the timer expires, and the timer's callback can run "
        "after with_timeout_signal has returned, with no error code: what "
        "the callback uses must still be there. Keep it in the shared state "
        "and let the callback hold that state itself (captured by value), not "
        "a local of the coroutine or a reference to one.",
        actual.result));
  if (actual.result != expected.result)
    FAIL(fmt::format("a 2 s fetch with a limit of 2 s, with 0 to 4 other "
                     "timers expiring at 2 s too: with_timeout_signal {}; "
                     "expected {}",
                     actual.result, expected.result));
}

// ---- Task 4: with_timeout_signal, the caller's cancellation ----------------

TEST_CASE("with_timeout_signal cancelled by its caller: the fetch is "
          "cancelled at once, not when the timer fires",
          "[lesson07][task4]") {
  expect_still_times_out(yours::with_timeout_signal,
                         reference::with_timeout_signal, "with_timeout_signal",
                         5s, false,
                         "Passing the caller's cancellation on comes on top "
                         "of the timer's (task 3).");
  check_cancelled_by_caller(
      cancelled_fetch_within(yours::with_timeout_signal, "with_timeout_signal"),
      cancelled_fetch_within(reference::with_timeout_signal,
                             "with_timeout_signal"),
      "with_timeout_signal", "fetch",
      "The operation listens to the signal's slot, which the caller's "
      "cancellation does not reach by itself: pass it on to the signal.");
}

// ---- Task 5: run_within, one deadline over several awaits ----------------

namespace {

// Three steps of 800 ms, "step 1" to "step 3": 2.4 s in all.
std::vector<awaitable<std::string>> three_steps_of_800ms() {
  std::vector<awaitable<std::string>> steps;
  for (int n = 1; n <= 3; ++n)
    steps.push_back(traced_fetch(fmt::format("step {}", n), 800ms));
  return steps;
}

}  // namespace

TEST_CASE("run_within: steps that fit in the deadline all run, one after "
          "the other, results in order",
          "[lesson07][task5]") {
  auto scenario = [](auto run_within) {
    return grade::run([=] {
      std::vector<awaitable<std::string>> steps;
      steps.push_back(traced_fetch("step 1", 500ms));
      steps.push_back(traced_fetch("step 2", 1s));
      steps.push_back(traced_fetch("step 3", 300ms));
      return tut::traced("run_within", run_within(std::move(steps), 2s));
    });
  };
  auto actual = scenario(yours::run_within);
  auto expected = scenario(reference::run_within);
  grade::expect_no_exception(actual, expected, "run_within");
  GRADE(actual.value == expected.value,
        fmt::format("steps of 500 ms, 1 s and 300 ms within 2 s: run_within "
                    "{}; expected {}",
                    ending(actual), shown(*expected.value)),
        actual, expected);
  GRADE(actual.seconds() == expected.seconds() &&
            actual.trace.peak_of("step") == 1,
        fmt::format("the steps took {} with up to {} at once; one after the "
                    "other they take {}",
                    secs(actual.seconds()), actual.trace.peak_of("step"),
                    secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("run_within: one deadline covers every step: three steps of "
          "800 ms within 2 s time out at 2 s, in the third",
          "[lesson07][task5]") {
  auto scenario = [](auto run_within) {
    return grade::run([=] {
      return tut::traced("run_within", run_within(three_steps_of_800ms(), 2s));
    });
  };
  auto actual = scenario(yours::run_within);
  auto expected = scenario(reference::run_within);
  bool all_ran = true;
  for (int n = 1; n <= 3; ++n) {
    const auto* step = row(actual.trace, fmt::format("step {}", n));
    all_ran = all_ran && step && step->result == tut::outcome::done;
  }
  GRADE(timed_out(actual) &&
            end_of(actual.trace, "run_within") ==
                end_of(expected.trace, "run_within"),
        fmt::format("three steps of 800 ms need 2.4 s; with a 2 s deadline "
                    "run_within should throw the timeout error at 2 s. "
                    "Yours {} at {}{}",
                    ending(actual), secs(end_of(actual.trace, "run_within")),
                    !actual.value ? ""
                    : all_ran     ? ": every step ran to its end, past the "
                                    "deadline. A deadline is one moment, "
                                    "tut::now() + limit, fixed before the "
                                    "first step; each step gets what is left "
                                    "of it"
                                  : ": past the deadline it must throw, not "
                                    "return what it has"),
        actual, expected);
  const auto* third = row(actual.trace, "step 3");
  GRADE(third && third->result == tut::outcome::cancelled &&
            cleanup_of(actual.trace, "step 3") ==
                cleanup_of(expected.trace, "step 3"),
        fmt::format("at the deadline the step that is running is cancelled "
                    "and cleans up; step 3 {}",
                    fate(actual.trace, "step 3")),
        actual, expected);
}

TEST_CASE("run_within cancelled by its caller: the running step is "
          "cancelled, no other starts, and the cancellation comes out",
          "[lesson07][task5]") {
  auto [actual, expected] = cancel_both(
      "run_within", yours::run_within, reference::run_within,
      [](auto run_within) { return run_within(three_steps_of_800ms(), 2s); },
      1s);
  check_cancelled_by_caller(actual, expected, "run_within", "step 2",
                            "The step that runs is cancelled with it.");
  GRADE(!row(actual.trace, "step 3"),
        fmt::format("run_within was cancelled at 1 s, in step 2, and yet "
                    "step 3 started at {}",
                    secs(row(actual.trace, "step 3")
                             ? row(actual.trace, "step 3")->start.count()
                             : 0)),
        actual, expected);
}

// ---- Task 6: fetch_with_retry, a timeout per attempt and a backoff -------

TEST_CASE("fetch_with_retry: attempts that time out are retried after a "
          "backoff that doubles: 500 ms, 1 s, 2 s",
          "[lesson07][task6]") {
  auto actual = retry_run(yours::fetch_with_retry, flaky_attempt, 5);
  auto expected = retry_run(reference::fetch_with_retry, flaky_attempt, 5);
  grade::expect_no_exception(actual, expected, "fetch_with_retry");
  auto tried = attempts_of(actual.trace).size();
  GRADE(actual.value == expected.value && tried == 4,
        fmt::format("attempts 1 to 3 hang, attempt 4 answers in 200 ms; "
                    "with 1 s per attempt fetch_with_retry should return "
                    "{} after 4 attempts. Yours {} after {} attempt{}",
                    shown(*expected.value), ending(actual), tried,
                    tried == 1 ? "" : "s"),
        actual, expected);
  check_attempts_cut(actual, expected);
  check_backoff(actual, expected);
}

TEST_CASE("fetch_with_retry: after the last attempt times out, the timeout "
          "error comes at once, without one more backoff",
          "[lesson07][task6]") {
  auto actual = retry_run(yours::fetch_with_retry, hanging_attempt, 3);
  auto expected = retry_run(reference::fetch_with_retry, hanging_attempt, 3);
  auto tried = attempts_of(actual.trace).size();
  GRADE(timed_out(actual) && tried == 3,
        fmt::format("three attempts that all hang: fetch_with_retry should "
                    "try 3 times, then throw the timeout error. Yours {} "
                    "after {} attempt{}",
                    ending(actual), tried, tried == 1 ? "" : "s"),
        actual, expected);
  check_attempts_cut(actual, expected);
  double last = end_of(actual.trace, "attempt 3");
  double gave_up = end_of(actual.trace, "fetch_with_retry");
  GRADE(gave_up == last,
        fmt::format("the last attempt timed out at {}, but the timeout "
                    "error came only at {}; after the last attempt there is "
                    "nothing to wait for",
                    secs(last), secs(gave_up)),
        actual, expected);
  check_backoff(actual, expected);
}

TEST_CASE("fetch_with_retry: an error that is not a timeout is not retried",
          "[lesson07][task6]") {
  auto actual = retry_run(yours::fetch_with_retry, refused_attempt, 3);
  auto expected = retry_run(reference::fetch_with_retry, refused_attempt, 3);
  auto tried = attempts_of(actual.trace).size();
  GRADE(tried == 1 && !actual.value && actual.error == expected.error,
        fmt::format("attempt 1 failed with \"404 not found\" after 300 ms; "
                    "fetch_with_retry made {} attempt{} and {} at {}. {}",
                    tried, tried == 1 ? "" : "s", ending(actual),
                    secs(end_of(actual.trace, "fetch_with_retry")),
                    timed_out(actual)
                        ? "The 404 came out of with_timeout as a timeout: "
                          "with_timeout must pass other errors on (task 2)"
                        : "Asking again will not make a 404 go away: retry "
                          "only asio::error::timed_out and rethrow anything "
                          "else"),
        actual, expected);
}

TEST_CASE("fetch_with_retry cancelled while it waits between attempts: no "
          "attempt more, and the cancellation comes out",
          "[lesson07][task6]") {
  // Attempt 1 hangs and times out at 1 s; the backoff then runs until
  // 1.5 s, and the caller cancels at 1.25 s.
  auto [actual, expected] = cancel_both(
      "fetch_with_retry", yours::fetch_with_retry, reference::fetch_with_retry,
      [](auto fetch_with_retry) {
        return fetch_with_retry(hanging_attempt, 3, 1s, 500ms);
      },
      1250ms);
  grade::expect_no_exception(actual, expected, "fetch_with_retry");
  auto tried = attempts_of(actual.trace).size();
  GRADE(*actual.value == *expected.value && tried == 1,
        fmt::format("attempt 1 timed out at 1 s, and fetch_with_retry was "
                    "cancelled at 1.25 s, while it waited to try again. It "
                    "{} after {} attempt{}; it should have {} after 1: a "
                    "cancellation is not a timeout, and is never retried",
                    *actual.value, tried, tried == 1 ? "" : "s",
                    *expected.value),
        actual, expected);
}
