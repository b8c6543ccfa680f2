// Lesson 15's precompiled header: the shared one (tut/pch.hpp), the server
// core (lessons/common/server.hpp) and the given session with its frames
// (given/session.hpp), outside the lesson's namespace.
#include "tut/pch.hpp"

#include <asio/write.hpp>

#include "common/server.hpp"
#include "given/session.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the lesson's session awaits, instantiated here once (see
// tut/pch.hpp).
namespace wsapp::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs

inline awaitable<void> waits(session& s, const frame& f, web::server& srv) {
  co_await s.out.async_receive(as_tuple(use_awaitable));
  co_await asio::async_write(s.socket, asio::buffer(*f),
                             as_tuple(use_awaitable));
  co_await read_more(s);
  co_await closing(s);
  co_await (tut::sleep(tut::clock::duration{}) || closing(s));
  co_await ((void_job() && void_job() && void_job()) || void_job());
  co_await (web::connections_closed(srv) ||
            tut::sleep(tut::clock::duration{}));
}

}  // namespace wsapp::pch_warm_up
#endif
