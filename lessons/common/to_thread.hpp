// Taught in lesson 08 (thread pools). asyncio.to_thread: runs `work()` on a
// thread of `pool`; the coroutine waits for its result (or its exception)
// without holding the loop, and goes on on the loop when it comes. Work on
// a thread cannot be stopped: a caller cancelled meanwhile still waits for
// its end, then hears operation_aborted, not the result.
//
//   auto sum = co_await common::to_thread(pool, [n] { return compute(n); });
#pragma once

#include <asio/awaitable.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/system_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <type_traits>

namespace common {

namespace detail {
template <typename F>
asio::awaitable<std::invoke_result_t<F&>> call(F work) {
  co_return work();
}
}  // namespace detail

template <typename F>
asio::awaitable<std::invoke_result_t<F&>> to_thread(asio::thread_pool& pool,
                                                    F work) {
  auto cancelled = [](asio::cancellation_state cs) {
    if (cs.cancelled() != asio::cancellation_type::none)
      throw asio::system_error(asio::error::operation_aborted, "to_thread");
  };
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    co_await asio::co_spawn(pool, detail::call(std::move(work)), asio::use_awaitable);
    cancelled(co_await asio::this_coro::cancellation_state);
  } else {
    auto result = co_await asio::co_spawn(pool, detail::call(std::move(work)),
                                          asio::use_awaitable);
    cancelled(co_await asio::this_coro::cancellation_state);
    co_return result;
  }
}

}  // namespace common
