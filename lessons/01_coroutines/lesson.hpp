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

// Given: waits a little, then returns "Hello, <name>!".
asio::awaitable<std::string> greet(std::string name);

// Given: parses a TCP port ("8080" -> 8080) after a short wait; throws
// std::invalid_argument when the text is not a port from 1 to 65535.
asio::awaitable<int> parse_port(std::string text);

// Task 1: wait `delay` on the loop, then return a + b.
asio::awaitable<int> add_slowly(int a, int b, tut::clock::duration delay);

// Task 2: greet `first`, then `second`, one after the other; return both.
asio::awaitable<std::vector<std::string>> greet_both(std::string first,
                                                     std::string second);

// Task 3: the port in `text`, or `fallback` if parse_port throws.
asio::awaitable<int> port_or(std::string text, int fallback);

// Task 4: start `job` as a task of its own on `ex` and return at once,
// without waiting for it.
void start_in_background(asio::any_io_executor ex, asio::awaitable<void> job);

// Task 5: asyncio.run(add_slowly(20, 22, 1 s)) from a plain function.
int run_add();

}  // namespace lesson01
