// Lesson 08's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson08) and once for the reference, renamed to
// lesson08_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <asio/thread_pool.hpp>

#include <functional>
#include <string>
#include <utility>

namespace lesson08 {

// Task 1: tick `ticks` times, every `interval`, and return the most any
// tick came late: the longest the loop kept a timer waiting past its time.
asio::awaitable<tut::clock::duration> worst_lag(tut::clock::duration interval,
                                                int ticks);

// Given: GET http://127.0.0.1:<port><path> with the blocking cpp-httplib
// client. Returns the body of a 200 answer; throws std::runtime_error when
// the server cannot be reached or answers anything else. It holds the
// calling thread until the answer comes.
std::string blocking_get(int port, const std::string& path);

// Task 2: asyncio.to_thread. Run `work` on a thread of `pool`; the caller
// waits without holding the loop, then continues on the loop with what
// `work` returned, or with the exception it threw.
// Task 3: cancelled while it waits, it still waits for the work (which
// cannot be stopped, and may use the caller's data) to end, then throws
// asio::system_error(operation_aborted) instead of returning the result.
asio::awaitable<std::string> to_thread(asio::thread_pool& pool,
                                       std::function<std::string()> work);

// Task 4: blocking_get(port, path) without blocking the loop.
asio::awaitable<std::string> fetch(asio::thread_pool& pool, int port,
                                   std::string path);

// Task 5: fetch `first` and `second` at the same time; their bodies in
// that order.
asio::awaitable<std::pair<std::string, std::string>> fetch_both(
    asio::thread_pool& pool, int port, std::string first, std::string second);

}  // namespace lesson08
