// Lesson 03: gather. asyncio.gather(*jobs) runs a list of coroutines at
// once and hands back their results in the order you gave them: it takes as
// long as the slowest job, not the sum of all of them. Asio 1.22 gathers a
// fixed handful of awaitables (the `&&` operator, make_parallel_group), but
// not a std::vector of them, so you build that gather here: spawn every job
// as a task of its own, count them as they end, and when one fails, cancel
// the others and wait for them before you report its error.
//
// Fill in the TODOs; `scripts/tutor` grades each task as you save.
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
  // TODO: await the three fetches together with the `&&` operator of
  // `asio::experimental::awaitable_operators` (its `using namespace` is
  // above): `a && b` runs both at once and gives a std::tuple of their
  // results, which a structured binding takes apart.
  co_return co_await load_dashboard_in_turn(user_id);
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
  // TODO (task 2): keep the value in job i's own slot of `s.outcomes`,
  // whatever order the jobs end in. Then count the job out of `s.running`;
  // the last one to end wakes the waiting gather through `s.all_ended`.
  // TODO (task 3): a job that failed leaves its error in its slot instead.
  // The first error, unless `s.return_exceptions`, is the gather's: keep it
  // in `s.first_error` and stop the other jobs (`cancel_all`).
}

// Tasks 2 and 3: start every job now, each as a task of its own.
void start_jobs(std::shared_ptr<gather_state> s,
                std::vector<awaitable<std::string>> jobs) {
  // TODO (task 2): `co_spawn` each job on `s->executor`. Its completion
  // token is a handler, called with `(std::exception_ptr, std::string)`
  // when the job ends, that reports to job_ended. The handler runs after
  // start_jobs has returned: let it hold a copy of `s` (the shared_ptr
  // keeps the state alive) and of the index.
  // TODO (task 3): a signal reaches a task only through a cancellation
  // slot bound to its completion handler: wrap the handler in
  // `asio::bind_cancellation_slot`, with the slot of job i's signal in
  // `s->cancel`.
}

// Tasks 2 and 3: asyncio.gather(*jobs), cancelling the rest on an error.
awaitable<std::vector<std::string>> gather(
    std::vector<awaitable<std::string>> jobs) {
  auto s = std::make_shared<gather_state>(co_await asio::this_coro::executor,
                                          jobs.size(), false);
  // TODO (task 2): start the jobs, wait for all of them with the given
  // wait_all_ended (it also handles a gather that is itself cancelled), and
  // return the values of `s->outcomes` in order.
  // TODO (task 3): when a job failed, rethrow the gather's first error, as
  // itself (`std::rethrow_exception`), instead of returning values.
  co_return std::vector<std::string>{};
}

// Task 4: asyncio.gather(*jobs, return_exceptions=True).
awaitable<std::vector<settled>> gather_settled(
    std::vector<awaitable<std::string>> jobs) {
  auto s = std::make_shared<gather_state>(co_await asio::this_coro::executor,
                                          jobs.size(), true);
  // TODO: the same machinery as gather; every outcome comes back as it is.
  co_return std::vector<settled>{};
}

// Task 5: two jobs at once; both results, or the error of the job that
// failed first.
awaitable<std::pair<std::string, std::string>> gather_pair(
    awaitable<std::string> first, awaitable<std::string> second) {
  // TODO: `asio::experimental::make_parallel_group` runs a fixed set of
  // operations together: give it each job spawned with the
  // `asio::experimental::deferred` token, and `co_await` its `async_wait`
  // with `asio::experimental::wait_for_one_error()` (the first error
  // cancels the other job) and `use_awaitable`. The result starts with
  // `order`, the jobs' indexes in the order they ended, then each job's
  // error and value. The job that ended first with an error is the real
  // failure; the other may end with just the operation_aborted of its
  // cancellation. (`first && second` looks at the errors by argument order
  // instead, and would report that one.)
  co_return std::pair<std::string, std::string>{};
}

}  // namespace lesson03
