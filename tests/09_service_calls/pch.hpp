// Lesson 09's precompiled header: the shared one (tut/pch.hpp), the given
// HTTP/1.1 client code and cpp-httplib, which the lesson's demo uses.
#include "tut/pch.hpp"

#include <httplib.h>

#include "given/dashboard.hpp"
#include "common/http_client.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the lesson's client awaits, instantiated here once (see
// tut/pch.hpp).
namespace common::http::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<received> response_job() { co_return received{}; }

inline awaitable<services::section> section_job() {
  co_return services::section{};
}

inline awaitable<void> waits() {
  auto ex = co_await asio::this_coro::executor;
  auto work = asio::co_spawn(ex, response_job(), as_tuple(use_awaitable));
  co_await (std::move(work) || tut::sleep(tut::clock::duration{}));
  co_await (string_job() && section_job() && section_job());
}

}  // namespace common::http::pch_warm_up
#endif
