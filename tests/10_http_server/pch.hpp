// Lesson 10's precompiled header: the shared one (tut/pch.hpp) and the
// server core the exercise works with (lessons/common/server.hpp).
#include "tut/pch.hpp"

#include "common/server.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the lesson's server awaits, instantiated here once (see
// tut/pch.hpp).
namespace common::web::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<bool> bool_job() { co_return false; }
inline awaitable<http::response> response_job() { co_return http::response{}; }

inline awaitable<void> waits(tcp::acceptor& acceptor, tut::timer& timer) {
  auto ex = co_await asio::this_coro::executor;
  auto socket = co_await acceptor.async_accept(use_awaitable);
  co_await bool_job();
  co_await response_job();
  co_await timer.async_wait(as_tuple(use_awaitable));
  asio::co_spawn(ex, void_job(), asio::detached);
  co_await (void_job() || void_job());
}

}  // namespace common::web::pch_warm_up
#endif
