// Lesson 14's precompiled header: the shared one (tut/pch.hpp), the given
// headers outside the lesson's namespace (SQLite made safe, the lanes, the
// dashboard's data), lesson 10's server for the demo, and the parts of Asio
// the lesson uses.
#include "tut/pch.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>

#include "common/semaphore.hpp"
#include "common/serve.hpp"
#include "given/app.hpp"
#include "given/lanes.hpp"
#include "given/sqlite.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the lesson awaits, instantiated here once (see tut/pch.hpp).
namespace db::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<sqlite::rows> rows_job() { co_return sqlite::rows{}; }

inline awaitable<void> waits(common::async_semaphore& lock) {
  auto initiation = [](auto handler) {
    std::move(handler)(std::exception_ptr(), sqlite::rows{});
  };
  co_await asio::async_initiate<decltype(use_awaitable),
                                void(std::exception_ptr, sqlite::rows)>(
      initiation, use_awaitable);
  co_await (rows_job() && rows_job() && rows_job());
  co_await (rows_job() && rows_job());
  co_await (rows_job() || tut::sleep(tut::clock::duration{}));
  auto permit = co_await common::hold(lock);
  co_await asio::this_coro::reset_cancellation_state(
      asio::disable_cancellation());
  co_await tut::traced("", rows_job());
}

}  // namespace db::pch_warm_up
#endif
