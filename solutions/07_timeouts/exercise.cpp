// Lesson 07: timeouts. A timeout is a race between the work and a timer.
// When the timer wins, the work must not just be abandoned: it is
// cancelled, its cleanup runs, and only then does the caller hear
// "timed out". Asio offers two ways to run that race: the `||` operator,
// and a cancellation signal that a timer fires.
//
// Reference solution: a timeout cancels the work and waits for it to stop,
// and every cancellation, the timer's or the caller's, reaches the work.
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

// Tasks 1 and 2: race the operation against a timer with `||`. Whichever
// ends first wins; `||` cancels the other and waits until it has stopped.
// `||` waits for the first *success*, so the operation is spawned with
// as_tuple: an error becomes a value and ends the race at once.
awaitable<std::string> with_timeout(awaitable<std::string> op,
                                    tut::clock::duration limit) {
  auto ex = co_await asio::this_coro::executor;
  auto work = co_spawn(ex, std::move(op), as_tuple(use_awaitable));
  auto winner = co_await (std::move(work) || tut::sleep(limit));
  if (winner.index() == 1)
    throw asio::system_error(asio::error::timed_out, "with_timeout");
  auto [error, value] = std::get<0>(std::move(winner));
  if (error) std::rethrow_exception(error);
  co_return value;
}

// What the timer's callback shares with the coroutine. It lives on the
// heap: the callback may run after this coroutine has returned.
struct timeout_signal {
  asio::cancellation_signal signal;
  bool fired = false;
};

// Tasks 3 and 4: a timer fires a cancellation signal; the operation is
// spawned with the signal's slot bound to it, so the signal reaches its
// co_await. A coroutine reacts to `terminal` cancellation only.
awaitable<std::string> with_timeout_signal(awaitable<std::string> op,
                                           tut::clock::duration limit) {
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<timeout_signal>();
  tut::timer timer(ex, limit);
  timer.async_wait([state](asio::error_code ec) {
    if (ec) return;  // cancelled: the operation ended in time
    state->fired = true;
    state->signal.emit(asio::cancellation_type::terminal);
  });
  // The operation listens to the signal's slot instead of this coroutine's:
  // a cancellation of this coroutine goes on to it through the signal.
  auto caller = (co_await asio::this_coro::cancellation_state).slot();
  if (caller.is_connected())
    caller.assign(
        [state](asio::cancellation_type type) { state->signal.emit(type); });
  auto [error, value] = co_await co_spawn(
      ex, std::move(op),
      asio::bind_cancellation_slot(state->signal.slot(),
                                   as_tuple(use_awaitable)));
  // Leaving the coroutine destroys the timer, which cancels its wait.
  if (!error) co_return value;
  if (state->fired)
    throw asio::system_error(asio::error::timed_out, "with_timeout_signal");
  std::rethrow_exception(error);
}

// Task 5: one deadline for the whole block. Each step gets what is left of
// it, not a fresh `limit` of its own.
awaitable<std::vector<std::string>> run_within(
    std::vector<awaitable<std::string>> steps, tut::clock::duration limit) {
  auto deadline = tut::now() + limit;
  std::vector<std::string> results;
  for (auto& step : steps)
    results.push_back(
        co_await with_timeout(std::move(step), deadline - tut::now()));
  co_return results;
}

// Task 6: a timeout per attempt, and a wait that doubles between attempts.
awaitable<std::string> fetch_with_retry(attempt_fn attempt, int attempts,
                                        tut::clock::duration per_attempt,
                                        tut::clock::duration backoff) {
  for (int n = 1;; ++n) {
    try {
      co_return co_await with_timeout(attempt(n), per_attempt);
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::timed_out || n == attempts) throw;
    }
    co_await tut::sleep(backoff);
    backoff *= 2;
  }
}

}  // namespace lesson07
