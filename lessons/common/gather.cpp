// Lesson 03's gather, written once for the lessons after it.
#include "common/gather.hpp"

#include "tut/clock.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/error.hpp>
#include <asio/system_error.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <memory>

namespace common {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;

awaitable<void> gather(std::vector<awaitable<void>> jobs) {
  // What the jobs share: a signal each, the count still running, the first
  // error, and a timer parked at time_point::max() that the last job to
  // end cancels to wake gather.
  struct group {
    group(asio::any_io_executor ex, std::size_t n)
        : all_ended(ex, tut::clock::time_point::max()), cancel(n),
          running(n) {}
    tut::timer all_ended;
    std::vector<asio::cancellation_signal> cancel;
    std::size_t running;
    std::exception_ptr first_error;
  };
  auto ex = co_await asio::this_coro::executor;
  auto g = std::make_shared<group>(ex, jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i)
    asio::co_spawn(ex, std::move(jobs[i]),
                   asio::bind_cancellation_slot(
                       g->cancel[i].slot(), [g](std::exception_ptr e) {
                         if (e && !g->first_error) g->first_error = e;
                         if (--g->running == 0) g->all_ended.cancel();
                       }));
  bool cancelled = false;
  while (g->running > 0) {
    co_await g->all_ended.async_wait(as_tuple(use_awaitable));
    auto me = co_await asio::this_coro::cancellation_state;
    if (me.cancelled() != asio::cancellation_type::none && !cancelled) {
      // Our caller gave up: pass it on, and still wait for every job.
      cancelled = true;
      for (auto& signal : g->cancel)
        signal.emit(asio::cancellation_type::terminal);
      co_await asio::this_coro::reset_cancellation_state();
    }
  }
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
  if (g->first_error) std::rethrow_exception(g->first_error);
}

}  // namespace common
