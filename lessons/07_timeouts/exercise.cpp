// Lesson 07: timeouts. A timeout is a race between the work and a timer.
// When the timer wins, the work must not just be abandoned: it is
// cancelled, its cleanup runs, and only then does the caller hear
// "timed out". Asio offers two ways to run that race: the `||` operator,
// and a cancellation signal that a timer fires.
//
// Fill in the TODOs of tasks 1 to 6; `scripts/tutor` grades each as you save.
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
awaitable<std::string> with_timeout(awaitable<std::string> op,
                                    tut::clock::duration limit) {
  // TODO (task 1): race `op` against tut::sleep(limit) with the `||`
  // operator. Its result is a std::variant whose index says which side won;
  // by the time you have it, the other side has been cancelled and has
  // stopped. The timer won: throw the timeout error (lesson.hpp says which).
  // The operation won: return its value.

  // TODO (task 2): `||` waits for the first side to *succeed*. An operation
  // that fails early leaves the race to the timer, and its error is lost.
  // Race a co_spawn of the operation instead (on this coroutine's
  // executor), whose completion token is use_awaitable wrapped in as_tuple:
  // the spawned operation always succeeds, with its exception as a value,
  // a std::exception_ptr beside the result. Rethrow it when it is set.
  co_return co_await std::move(op);
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
  // TODO (task 3): start the timer with async_wait and a callback. When the
  // timer expires (the callback gets no error code), the callback notes that
  // it fired and emits cancellation_type::terminal on the signal: by
  // default a coroutine lets only terminal cancellation through. What the
  // callback uses must live as long as the callback: capture the shared
  // state itself, by value.

  // TODO (task 3): the signal reaches only an operation whose cancellation
  // slot is the signal's: wrap the completion token of the co_spawn below
  // with asio::bind_cancellation_slot.

  // TODO (task 4): with a slot of its own, the operation no longer hears
  // this coroutine's cancellation: a caller that cancels
  // with_timeout_signal would wait for the timer. Pass it on to the signal.
  // asio::this_coro::cancellation_state gives this coroutine's cancellation
  // state; its slot() takes a handler (assign) that is called with the
  // type of the cancellation, when there is a caller to cancel it
  // (is_connected).
  auto [error, value] =
      co_await co_spawn(ex, std::move(op), as_tuple(use_awaitable));
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
  // TODO: the deadline is one moment, fixed before the first step: each
  // step goes through with_timeout with what is left until then (tut::now()
  // is the loop's clock).
  std::vector<std::string> results;
  for (auto& step : steps) results.push_back(co_await std::move(step));
  co_return results;
}

// Task 6: a timeout per attempt, and a wait that doubles between attempts.
awaitable<std::string> fetch_with_retry(attempt_fn attempt, int attempts,
                                        tut::clock::duration per_attempt,
                                        tut::clock::duration backoff) {
  // TODO: attempt 1, 2, ... each through with_timeout with `per_attempt`.
  // A timeout with attempts left is retried, after a wait of `backoff`
  // that doubles for the next one. Anything else goes out as it is: another
  // error, the timeout of the last attempt, a cancellation. (C++ has no
  // co_await inside a catch block: decide there, wait after it.)
  co_return co_await attempt(1);
}

}  // namespace lesson07
