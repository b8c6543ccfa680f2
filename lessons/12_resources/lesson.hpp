// Lesson 12's interface: what your exercise.cpp defines, and serve(), given
// (given/app.cpp), which the tests start for task 8. The tests call the
// rest directly, on virtual time, with the database of given/fake_db.hpp.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson12) and once for the reference, renamed to
// lesson12_reference, so both can run side by side.
#include "common/server.hpp"
#include "given/fake_db.hpp"
#include "tut/tut.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace lesson12 {

namespace http = common::http;
namespace web = common::web;
using fakedb::connection;
using duration = tut::clock::duration;
using namespace std::chrono_literals;

// ---- Tasks 1 to 3: a cleanup that waits -----------------------------------

// A piece of work to start: a coroutine not started yet.
using step = std::function<asio::awaitable<void>()>;

// Python's
//     try:
//         await use()
//     finally:
//         await release()     # with a deadline of its own
//
// Task 1. Runs `use`, then `release`, however `use` ended. What `use`
// threw comes out once `release` has run; if only `release` failed, its
// error comes out.
// Task 2. Also when the helper is cancelled while `use` waits: `release`
// still runs to its end, then operation_aborted comes out.
// Task 3. `release` gets `release_limit` of its own. One that takes longer
// is cancelled then, and the helper ends: with what `use` threw, or else
// asio::error::timed_out. A release that fails ends the helper at once.
asio::awaitable<void> use_then_release(step use, step release,
                                       duration release_limit);

// ---- Tasks 4 to 6: a pool of connections ----------------------------------

struct pool_options {
  std::size_t size = 4;  // at most this many connections at once
  duration acquire_timeout = 1s;     // the longest acquire() waits in line
  duration release_timeout = 100ms;  // with_connection's limit on release
};

// What asyncpg's pool and httpx.AsyncClient keep: connections opened once
// and used again, at most `size` of them.
class connection_pool {
public:
  connection_pool(fakedb::service db, pool_options options);

  // Task 4. A connection: an idle one, or a new one while fewer than `size`
  // are out; else waits in line for a place, first come, first served.
  // Task 5. A connection that cannot be opened: its error comes out and
  // its place is free again.
  // Task 6. Waits at most acquire_timeout, then throws
  // asio::system_error(timed_out). Cancelled while it waits: leaves the
  // line, takes no place, throws operation_aborted.
  asio::awaitable<std::shared_ptr<connection>> acquire();

  // Task 4. Gives a connection back: resets it (awaited), keeps it idle for
  // the next user, and frees its place for the first in line.
  // Task 5. A broken connection is let go instead: it is never handed out
  // again. Its place is freed all the same.
  asio::awaitable<void> release(std::shared_ptr<connection> c);

  std::size_t idle() const;     // open, and free for the next user
  std::size_t in_use() const;   // places taken (handed out, opening, reset)
  std::size_t waiting() const;  // acquirers in line
  const pool_options& options() const;

  struct state;  // defined in exercise.cpp

private:
  std::shared_ptr<state> state_;
};

// ---- Task 7: async with pool.acquire() as conn ----------------------------

using user = std::function<asio::awaitable<void>(connection&)>;

// Runs `use` with a connection from `pool`, and gives it back, however
// `use` ends (tasks 1 to 3, with options().release_timeout): it is back
// in the pool, or let go, when with_connection returns.
asio::awaitable<void> with_connection(connection_pool& pool, user use);

// ---- Task 8: FastAPI's Depends with yield ---------------------------------

// An endpoint that needs a connection: FastAPI's
//     async def read_item(item_id: int, conn = Depends(get_conn)): ...
using endpoint = std::function<asio::awaitable<http::response>(
    web::request_context&, connection&)>;

// A route's handler: runs `run` with a connection from `pool`, held until
// the reply has gone out (or the request ended otherwise: the handler
// threw, the client went away, the server cancelled it), then released
// once. No connection free within acquire_timeout: 503.
asio::awaitable<http::response> with_dependency(connection_pool& pool,
                                                endpoint run,
                                                web::request_context& ctx);

// Given (given/app.cpp). Serves the app of given/app.hpp on cfg.address
// and cfg.port (0: any free port, in stats.port once listening), its routes
// behind with_dependency on `pool`, until cancelled; then closes every
// connection, waits for them to end, and throws operation_aborted.
asio::awaitable<void> serve(web::config cfg, connection_pool& pool,
                            web::server_stats& stats);

}  // namespace lesson12
