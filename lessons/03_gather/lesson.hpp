// Lesson 03's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson03) and once for the reference, renamed to
// lesson03_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lesson03 {

// What the dashboard page of task 1 shows.
struct dashboard {
  std::string user;
  std::vector<std::string> orders;
  std::vector<std::string> notifications;
};

// Given: three services of 200 ms each.
asio::awaitable<std::string> fetch_user(int user_id);
asio::awaitable<std::vector<std::string>> fetch_orders(int user_id);
asio::awaitable<std::vector<std::string>> fetch_notifications(int user_id);

// Given: the dashboard, one service after the other (600 ms).
asio::awaitable<dashboard> load_dashboard_in_turn(int user_id);

// Task 1: the same dashboard, the three services called at once (200 ms).
asio::awaitable<dashboard> load_dashboard(int user_id);

// Tasks 2 and 3: run every job at once and return their results in the
// order of `jobs` (task 2). The first job to throw ends the gather: the
// others are cancelled, and once they have all ended, its exception is
// rethrown as itself (task 3). Cancelled while it waits, gather cancels
// every job, waits for them to end, and throws operation_aborted.
asio::awaitable<std::vector<std::string>> gather(
    std::vector<asio::awaitable<std::string>> jobs);

// One job's outcome in gather_settled: its value, or what it threw.
struct settled {
  std::optional<std::string> value;
  std::exception_ptr error;
};

// Task 4: asyncio.gather(*jobs, return_exceptions=True). Run every job at
// once, each to its end; return each one's value or error, in order.
// Cancelled while it waits, it cancels every job, waits for them to end,
// and throws operation_aborted.
asio::awaitable<std::vector<settled>> gather_settled(
    std::vector<asio::awaitable<std::string>> jobs);

// Task 5: two jobs at once; both results, or the exception of the job that
// failed first (not the cancellation of the other one). Cancelled while it
// waits, it cancels both, and throws operation_aborted once they have ended.
asio::awaitable<std::pair<std::string, std::string>> gather_pair(
    asio::awaitable<std::string> first, asio::awaitable<std::string> second);

}  // namespace lesson03
