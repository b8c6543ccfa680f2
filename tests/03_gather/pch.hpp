// Lesson 03's precompiled header: the shared one (tut/pch.hpp), and what
// the lesson's gathers await, instantiated here once.
#include "tut/pch.hpp"

#include <string>
#include <vector>

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
namespace tut::pch_warm_up {

inline awaitable<std::vector<std::string>> strings_job() {
  co_return std::vector<std::string>{};
}

inline awaitable<void> gathers() {
  using asio::experimental::deferred;
  auto ex = co_await asio::this_coro::executor;
  co_await (string_job() && strings_job() && strings_job());
  co_await asio::experimental::make_parallel_group(
      asio::co_spawn(ex, string_job(), deferred),
      asio::co_spawn(ex, string_job(), deferred))
      .async_wait(asio::experimental::wait_for_one_error(), use_awaitable);
}

}  // namespace tut::pch_warm_up
#endif
