// Taught in lesson 08 (thread pools). asyncio.to_thread: runs `work()` on a
// thread of `pool`; the coroutine waits for its result (or its exception)
// without holding the loop, and goes on on the loop when it comes.
//
//   auto sum = co_await common::to_thread(pool, [n] { return compute(n); });
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
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
  co_return co_await asio::co_spawn(pool, detail::call(std::move(work)),
                                    asio::use_awaitable);
}

}  // namespace common
