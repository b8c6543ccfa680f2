// Lesson 08's precompiled header: the shared one (tut/pch.hpp), the thread
// pool and cpp-httplib's blocking client, which the lesson wraps.
#include "tut/pch.hpp"

#include <asio/thread_pool.hpp>
#include <httplib.h>

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// Instantiated here once (see tut/pch.hpp): the pool's executor as the
// loop's kind of executor, as co_spawn(pool, ...) makes it.
namespace tut::pch_warm_up {

inline void pool_executor(asio::thread_pool& pool) {
  asio::any_io_executor ex = pool.get_executor();
  (void)ex;
}

}  // namespace tut::pch_warm_up
#endif
