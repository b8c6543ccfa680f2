// Lesson 07's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson07) and once for the reference, renamed to
// lesson07_reference, so both can run side by side.
//
// The timeout error. Every function here reports a timeout by throwing
//   asio::system_error(asio::error::timed_out, "<function name>")
// and a caller recognises it by its code:
//   catch (const asio::system_error& e) {
//     if (e.code() == asio::error::timed_out) ...
//   }
// asio::error::timed_out is ETIMEDOUT, the errno behind Python's
// TimeoutError. Any other error passes through unchanged, when it happens.
#include "tut/tut.hpp"

#include <functional>
#include <string>
#include <vector>

namespace lesson07 {

// Task 1: the result of `op` if it finishes within `limit`; otherwise
// cancel it (its cleanup runs; nothing of it keeps running) and throw the
// timeout error. Uses the `||` operator against a timer. Cancelled by its
// caller, it cancels `op` and throws asio::system_error(operation_aborted).
// Task 2: an error of `op` comes out as it is, when it happens.
asio::awaitable<std::string> with_timeout(asio::awaitable<std::string> op,
                                          tut::clock::duration limit);

// Task 3: the same promise as with_timeout, built from a timer that fires
// an asio::cancellation_signal bound to the operation.
// Task 4: cancelled by its caller, it cancels `op` too, at once, and throws
// asio::system_error(operation_aborted).
asio::awaitable<std::string> with_timeout_signal(
    asio::awaitable<std::string> op, tut::clock::duration limit);

// Task 5: run `steps` one after the other under ONE deadline, `limit` from
// the call (asyncio.timeout as a scope). Returns their results in order;
// when the deadline passes, cancels the step that is running and throws
// the timeout error.
asio::awaitable<std::vector<std::string>> run_within(
    std::vector<asio::awaitable<std::string>> steps,
    tut::clock::duration limit);

// Task 6: call attempt(1), attempt(2), ... each with a timeout of its own,
// `per_attempt`. After an attempt times out, wait `backoff` and double it
// for the next wait (0.5 s, 1 s, 2 s, ...). After `attempts` timed-out
// attempts, throw the timeout error. Other errors are not retried, and a
// cancellation (during an attempt or a wait) ends it with operation_aborted.
using attempt_fn = std::function<asio::awaitable<std::string>(int)>;
asio::awaitable<std::string> fetch_with_retry(attempt_fn attempt,
                                              int attempts,
                                              tut::clock::duration per_attempt,
                                              tut::clock::duration backoff);

}  // namespace lesson07
