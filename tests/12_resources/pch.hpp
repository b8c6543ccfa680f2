// Lesson 12's precompiled header: the shared one (tut/pch.hpp), the server
// core (lessons/common/server.hpp), lesson 05's semaphore and the given
// database (given/fake_db.hpp).
#include "tut/pch.hpp"

#include "common/semaphore.hpp"
#include "common/server.hpp"
#include "given/fake_db.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the lesson awaits, instantiated here once (see tut/pch.hpp).
namespace fakedb::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<std::shared_ptr<connection>> connection_job() {
  co_return nullptr;
}
inline awaitable<common::http::response> response_job() {
  co_return common::http::response{};
}

inline awaitable<void> waits(service& db, connection& c) {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::this_coro::reset_cancellation_state();
  auto a = co_await (asio::co_spawn(ex, void_job(),
                                    as_tuple(use_awaitable)) ||
                     tut::sleep(tut::clock::duration{}));
  (void)a;
  auto b = co_await db.connect();
  (void)b;
  co_await c.query("", {});
  co_await c.reset();
  co_await connection_job();
  co_await response_job();
  asio::co_spawn(ex, void_job(), asio::detached);
}

}  // namespace fakedb::pch_warm_up
#endif
