// Lesson 02's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson02) and once for the reference, renamed to
// lesson02_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <string>
#include <vector>

namespace lesson02 {

// Task 1: run the jobs one after the other, each to its end. Cancelled,
// it ends with operation_aborted, and the jobs after the one it was
// waiting for never start.
asio::awaitable<void> run_in_turn(std::vector<asio::awaitable<void>> jobs);

// Task 2: start every job as a task of its own on `ex` and return at once;
// the loop runs them side by side.
void start_together(asio::any_io_executor ex,
                    std::vector<asio::awaitable<void>> jobs);

// Task 3: append "<name>1" .. "<name><n>" to `log`, letting the other tasks
// run after each number.
asio::awaitable<void> count(std::string name, int n,
                            std::vector<std::string>& log);

// Task 4: append `message` to `log` soon, not now: after the task that
// called log_later gives the loop back. `log` outlives the callback;
// nothing else passed in is sure to.
void log_later(asio::any_io_executor ex, std::vector<std::string>& log,
               std::string message);

// Task 5: answer "reply <id>" after `work` of waiting (a database call, say),
// without holding up the loop meanwhile. Cancelled while it waits, it ends
// with operation_aborted.
asio::awaitable<std::string> handle_request(int id,
                                            tut::clock::duration work);

}  // namespace lesson02
