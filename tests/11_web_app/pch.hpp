// Lesson 11's precompiled header: the shared one (tut/pch.hpp), lesson 10's
// server as lessons/common has it, the lesson's given headers outside its
// namespace, and the parts of Asio the web app uses.
#include "tut/pch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/signal_set.hpp>
#include <asio/thread_pool.hpp>

#include "common/serve.hpp"
#include "common/to_thread.hpp"
#include "given/web_app.hpp"
#include "given/work.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the web app awaits, instantiated here once (see tut/pch.hpp).
namespace webapp::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<std::uint64_t> number_job() { co_return 0; }
inline awaitable<common::http::response> response_job() {
  co_return common::http::response{};
}

inline awaitable<void> waits(asio::signal_set& signals, asio::thread_pool& pool,
                             asio::experimental::channel<void(
                                 asio::error_code, std::string)>& jobs,
                             common::web::request_context& ctx) {
  co_await (void_job() ||
            signals.async_wait(use_awaitable));
  co_await (void_job() ||
            signals.async_wait(as_tuple(use_awaitable)));
  co_await common::to_thread(pool, [] {});
  co_await common::to_thread(pool, [] { return std::uint64_t{}; });
  co_await ctx.body();
  co_await response_job();
  jobs.try_send(asio::error_code{}, std::string());
  co_await jobs.async_send(asio::error_code{}, std::string(), use_awaitable);
  co_await jobs.async_receive(as_tuple(use_awaitable));
  co_await asio::this_coro::reset_cancellation_state();
}

}  // namespace webapp::pch_warm_up
#endif
