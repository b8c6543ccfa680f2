// Lesson 03: gather. asyncio.gather(*jobs) runs a list of coroutines at
// once and hands back their results in the order you gave them: it takes as
// long as the slowest job, not the sum of all of them. Asio 1.22 gathers a
// fixed handful of awaitables (the `&&` operator, make_parallel_group), but
// not a std::vector of them, so you build that gather here: spawn every job
// as a task of its own, count them as they end, and when one fails, cancel
// the others and wait for them before you report its error.
//
// Reference solution: spawn everything first, then wait for everything; the
// first error cancels the rest, and is reported only once they have ended.
#include "lesson.hpp"

#include <chrono>
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
using namespace std::chrono_literals;

namespace lesson03 {

// Given. Three services of 200 ms each, as a web page's backend calls them.
awaitable<std::string> fetch_user(int user_id) {
  co_await tut::traced("user service", tut::sleep(200ms));
  co_return "Ada Lovelace (#" + std::to_string(user_id) + ")";
}

awaitable<std::vector<std::string>> fetch_orders(int user_id) {
  co_await tut::traced("orders service", tut::sleep(200ms));
  co_return std::vector<std::string>{"order 1843", "order 1852"};
}

awaitable<std::vector<std::string>> fetch_notifications(int user_id) {
  co_await tut::traced("notifications service", tut::sleep(200ms));
  co_return std::vector<std::string>{"your order shipped"};
}

// Given. The dashboard, one call after the other: 3 x 200 ms.
awaitable<dashboard> load_dashboard_in_turn(int user_id) {
  dashboard page;
  page.user = co_await fetch_user(user_id);
  page.orders = co_await fetch_orders(user_id);
  page.notifications = co_await fetch_notifications(user_id);
  co_return page;
}

// Task 1: the three calls at once.
awaitable<dashboard> load_dashboard(int user_id) {
  auto [user, orders, notifications] =
      co_await (fetch_user(user_id) && fetch_orders(user_id) &&
                fetch_notifications(user_id));
  co_return dashboard{user, orders, notifications};
}

// Given. What the jobs of one gather share. `cancel[i]` is the signal that
// reaches job i. `all_ended` is a timer used as an event: it never expires
// by itself, and `all_ended.cancel()` wakes whoever waits on it.
struct gather_state {
  gather_state(asio::any_io_executor ex, std::size_t jobs,
               bool keep_going)
      : executor(ex),
        outcomes(jobs),
        cancel(jobs),
        running(jobs),
        return_exceptions(keep_going),
        all_ended(ex, tut::timer::time_point::max()) {}

  asio::any_io_executor executor;
  std::vector<settled> outcomes;                  // by position in `jobs`
  std::vector<asio::cancellation_signal> cancel;  // one per job
  std::size_t running;                            // jobs not ended yet
  bool return_exceptions;          // false: the first error ends it all
  std::exception_ptr first_error;  // the error that did
  tut::timer all_ended;
};

// Given. Asks every job to stop: the wait it is in ends with
// operation_aborted. A job that has already ended is not bothered.
void cancel_all(gather_state& s) {
  for (auto& signal : s.cancel) signal.emit(asio::cancellation_type::terminal);
}

// Given. Waits until every job has ended. If the gather itself is cancelled
// meanwhile (its caller gave up), it passes that on to the jobs, still waits
// for them, and then reports the cancellation. (A cancelled coroutine can't
// co_await again until it resets its cancellation state: Asio throws.)
awaitable<void> wait_all_ended(gather_state& s) {
  bool cancelled = false;
  while (s.running > 0) {
    co_await s.all_ended.async_wait(as_tuple(use_awaitable));
    auto me = co_await asio::this_coro::cancellation_state;
    if (me.cancelled() != asio::cancellation_type::none) {
      cancelled = true;
      cancel_all(s);
      co_await asio::this_coro::reset_cancellation_state();
    }
  }
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
}

// Tasks 2 and 3: job `i` has ended, with an `error` or with its `value`.
void job_ended(gather_state& s, std::size_t i, std::exception_ptr error,
               std::string value) {
  if (error) {
    s.outcomes[i].error = error;
    if (!s.return_exceptions && !s.first_error) {
      s.first_error = error;
      cancel_all(s);
    }
  } else {
    s.outcomes[i].value = std::move(value);
  }
  if (--s.running == 0) s.all_ended.cancel();
}

// Tasks 2 and 3: start every job now, each as a task of its own.
void start_jobs(std::shared_ptr<gather_state> s,
                std::vector<awaitable<std::string>> jobs) {
  for (std::size_t i = 0; i < jobs.size(); ++i)
    co_spawn(s->executor, std::move(jobs[i]),
             asio::bind_cancellation_slot(
                 s->cancel[i].slot(),
                 [s, i](std::exception_ptr error, std::string value) {
                   job_ended(*s, i, error, std::move(value));
                 }));
}

// Tasks 2 and 3: asyncio.gather(*jobs), cancelling the rest on an error.
awaitable<std::vector<std::string>> gather(
    std::vector<awaitable<std::string>> jobs) {
  auto s = std::make_shared<gather_state>(co_await asio::this_coro::executor,
                                          jobs.size(), false);
  start_jobs(s, std::move(jobs));
  co_await wait_all_ended(*s);
  if (s->first_error) std::rethrow_exception(s->first_error);
  std::vector<std::string> results;
  for (auto& outcome : s->outcomes)
    results.push_back(std::move(*outcome.value));
  co_return results;
}

// Task 4: asyncio.gather(*jobs, return_exceptions=True).
awaitable<std::vector<settled>> gather_settled(
    std::vector<awaitable<std::string>> jobs) {
  auto s = std::make_shared<gather_state>(co_await asio::this_coro::executor,
                                          jobs.size(), true);
  start_jobs(s, std::move(jobs));
  co_await wait_all_ended(*s);
  co_return std::move(s->outcomes);
}

// Task 5: two jobs at once; both results, or the error of the job that
// failed first.
awaitable<std::pair<std::string, std::string>> gather_pair(
    awaitable<std::string> first, awaitable<std::string> second) {
  using asio::experimental::deferred;
  auto ex = co_await asio::this_coro::executor;
  auto [order, error1, value1, error2, value2] =
      co_await asio::experimental::make_parallel_group(
          co_spawn(ex, std::move(first), deferred),
          co_spawn(ex, std::move(second), deferred))
          .async_wait(asio::experimental::wait_for_one_error(),
                      use_awaitable);
  // The first to fail is the real error; the other one may have ended with
  // the operation_aborted of its cancellation.
  std::exception_ptr errors[] = {error1, error2};
  for (std::size_t i : order)
    if (errors[i]) std::rethrow_exception(errors[i]);
  co_return std::pair{std::move(value1), std::move(value2)};
}

}  // namespace lesson03
