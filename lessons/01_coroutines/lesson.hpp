// Lesson 01's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson01) and once for the reference, renamed to
// lesson01_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <string>
#include <vector>

namespace lesson01 {

// Given: waits 100 ms, then returns "Hello, <name>!".
asio::awaitable<std::string> greet(std::string name);

// Given: parses a TCP port ("8080" -> 8080) after 10 ms; throws
// std::invalid_argument when the text is not a port from 1 to 65535.
asio::awaitable<int> parse_port(std::string text);

// Task 1: wait `delay` on the loop, then return a + b. Cancelled while it
// waits, it ends with operation_aborted (asyncio's CancelledError).
asio::awaitable<int> add_slowly(int a, int b, tut::clock::duration delay);

// Task 2: greet `first`, then `second`, one after the other; return both.
// Cancelled while it waits, it ends with operation_aborted.
asio::awaitable<std::vector<std::string>> greet_both(std::string first,
                                                     std::string second);

// Task 3: the port in `text`, or `fallback` if parse_port throws
// std::invalid_argument. Any other exception (a cancellation, say) passes
// through unchanged.
asio::awaitable<int> port_or(std::string text, int fallback);

// Task 4: start `job` as a task of its own on `ex` and return at once,
// without waiting for it.
void start_in_background(asio::any_io_executor ex, asio::awaitable<void> job);

// Task 5: start a task on `ex` that appends `message` to `log` after
// `delay`, and return at once. `log` outlives the task; nothing else passed
// in is sure to.
void remind_later(asio::any_io_executor ex, std::vector<std::string>& log,
                  tut::clock::duration delay, std::string message);

// Task 6: asyncio.run(add_slowly(20, 22, 1 s)) from a plain function.
int run_add();

}  // namespace lesson01
