// Lesson 07: timeouts. A timeout is a race between the work and a timer.
// When the timer wins, the work must not just be abandoned: it is
// cancelled, its cleanup runs, and only then does the caller hear
// "timed out". Asio offers two ways to run that race: the `||` operator,
// and a cancellation signal that a timer fires.
//
// Fill in the four TODOs; `scripts/tutor` grades each one as you save.
#include "lesson.hpp"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson07 {

// Task 1: race the operation against a timer with `||`. Whichever ends
// first wins; `||` cancels the other and waits until it has stopped.
// `||` waits for the first *success*, so the operation is spawned with
// as_tuple: an error becomes a value and ends the race at once.
awaitable<std::string> with_timeout(awaitable<std::string> op,
                                    tut::clock::duration limit) {
  // TODO: race `co_spawn(ex, std::move(op), as_tuple(use_awaitable))`
  // (ex is `co_await asio::this_coro::executor`) against
  // `tut::sleep(limit)` with `||`. If the timer wins (index 1), throw
  // asio::system_error(asio::error::timed_out, "with_timeout"); otherwise
  // unpack [error, value]: rethrow the error or return the value.
  co_return co_await std::move(op);
}

// What the timer's callback shares with the coroutine. It lives on the
// heap: the callback may run after this coroutine has returned.
struct timeout_signal {
  asio::cancellation_signal signal;
  bool fired = false;
};

// Task 2: a timer fires a cancellation signal; the operation is spawned
// with the signal's slot bound to it, so the signal reaches its co_await.
// A coroutine reacts to `terminal` cancellation only.
awaitable<std::string> with_timeout_signal(awaitable<std::string> op,
                                           tut::clock::duration limit) {
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<timeout_signal>();
  tut::timer timer(ex, limit);
  // TODO: start the timer with `timer.async_wait(callback)`. When it
  // expires (no error code), the callback sets `state->fired` and calls
  // `state->signal.emit(asio::cancellation_type::terminal)`.

  // TODO: bind the signal to the operation: wrap the completion token in
  // `asio::bind_cancellation_slot(state->signal.slot(), ...)`.
  auto [error, value] =
      co_await co_spawn(ex, std::move(op), as_tuple(use_awaitable));
  // Leaving the coroutine destroys the timer, which cancels its wait.
  if (!error) co_return value;
  if (state->fired)
    throw asio::system_error(asio::error::timed_out, "with_timeout_signal");
  std::rethrow_exception(error);
}

// Task 3: one deadline for the whole block. Each step gets what is left of
// it, not a fresh `limit` of its own.
awaitable<std::vector<std::string>> run_within(
    std::vector<awaitable<std::string>> steps, tut::clock::duration limit) {
  // TODO: fix the deadline once, `tut::now() + limit`, and await each step
  // through with_timeout with what is left of it: `deadline - tut::now()`.
  std::vector<std::string> results;
  for (auto& step : steps) results.push_back(co_await std::move(step));
  co_return results;
}

// Task 4: a timeout per attempt, and a wait that doubles between attempts.
awaitable<std::string> fetch_with_retry(attempt_fn attempt, int attempts,
                                        tut::clock::duration per_attempt,
                                        tut::clock::duration backoff) {
  // TODO: for n = 1, 2, ...: return `co_await with_timeout(attempt(n),
  // per_attempt)`. Catch asio::system_error: rethrow it unless its code is
  // asio::error::timed_out and attempts are left; then `co_await
  // tut::sleep(backoff)`, double `backoff`, and try again.
  co_return co_await attempt(1);
}

}  // namespace lesson07
