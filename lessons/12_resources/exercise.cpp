// Lesson 12: resources that must be released. A destructor cannot
// co_await, and neither can a catch block, so a cleanup that waits
// (closing a connection politely, resetting it for the next user) needs a
// shape of its own: use_then_release, Python's try/finally with an await
// in the finally. On it stand a pool of connections, the way asyncpg and
// httpx keep theirs, and FastAPI's Depends with yield on lesson 10's
// server.
//
// The database is a fake (given/fake_db.hpp): its connections take time to
// open, to query and to reset, and can break. Fill in the TODOs, task by
// task; `scripts/tutor` grades each one as you save, and `scripts/tutor run
// 12` shows your code at work.
#include "lesson.hpp"

#include "common/semaphore.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <exception>
#include <memory>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson12 {

// ---- Tasks 1 to 3: a cleanup that waits -----------------------------------

awaitable<void> use_then_release(step use, step release,
                                 duration release_limit) {
  // TODO (task 1): release runs only if use returns. It must run however
  // use ends, after it, and then what use threw goes out as it was. A
  // catch block cannot co_await: catch everything, keep it in a
  // std::exception_ptr (std::current_exception), leave the block, await the
  // release, then std::rethrow_exception what you kept.
  //
  // TODO (task 2): when this coroutine is cancelled while use waits, use
  // throws operation_aborted, and the coroutine stays cancelled: any await
  // after that throws at once, the release's first one too. Clear that
  // before the release, with asio::this_coro::reset_cancellation_state().
  //
  // TODO (task 3): a release can hang (the other side never answers). Race
  // it against tut::sleep(release_limit) with the || operator; the timer
  // winning means asio::error::timed_out, unless use's error goes out.
  // A release that fails must end the race at once, and `a || b` waits
  // for the first to succeed: run the release with co_spawn and
  // as_tuple(use_awaitable), which makes its exception a value (lesson 07).
  co_await use();
  (void)release;
  (void)release_limit;
}

// ---- Tasks 4 to 6: a pool of connections ----------------------------------

// Given. The pool's state: a place is a permit of lesson 05's semaphore
// (lessons/common/semaphore.hpp), held by every connection out, being
// opened or being reset; idle connections hold none.
struct connection_pool::state {
  fakedb::service db;
  pool_options options;
  common::async_semaphore places;
  std::vector<std::shared_ptr<connection>> idle;
  std::size_t in_use = 0;
};

connection_pool::connection_pool(fakedb::service db, pool_options options)
    : state_(std::make_shared<state>(
          state{db, options, common::async_semaphore(options.size), {}, 0})) {}

std::size_t connection_pool::idle() const { return state_->idle.size(); }
std::size_t connection_pool::in_use() const { return state_->in_use; }
std::size_t connection_pool::waiting() const {
  return state_->places.waiting();
}
const pool_options& connection_pool::options() const { return state_->options; }

namespace {

// The work of acquire(): a place, then a connection to go out with it.
awaitable<std::shared_ptr<connection>> take(
    std::shared_ptr<connection_pool::state> s) {
  // TODO (task 4): this opens a new connection for every user, without
  // limit, and none is ever used again. Take a place first (the semaphore
  // s->places waits in line, first come, first served), count it in
  // s->in_use, then hand out an idle connection (the back of s->idle) if
  // there is one, and open one (s->db.connect()) only if there is not.
  //
  // TODO (task 5): a connect can throw. Its place must not be lost: catch
  // it, give the place back (s->in_use, s->places.release()) and rethrow
  // it (a bare throw needs no await).
  //
  // TODO (task 6): the wait for a place gets s->options.acquire_timeout:
  // race it against tut::sleep with ||, and throw
  // asio::system_error(asio::error::timed_out) when the timer wins. A
  // cancelled acquire must come out as operation_aborted: a plain `a || b`
  // whose both sides are cancelled throws asio::multiple_exceptions
  // instead, so run the wait with co_spawn and as_tuple(use_awaitable), as
  // the release of task 3, and rethrow its error.
  co_return co_await s->db.connect();
}

// The work of release(): the connection kept for the next user, and its
// place freed.
awaitable<void> give_back(std::shared_ptr<connection_pool::state> s,
                          std::shared_ptr<connection> c) {
  // TODO (task 4): this lets every connection go. Reset it first (the
  // connection's reset(), awaited: the next user must not see this one's
  // state), keep it in s->idle, then free its place (s->in_use,
  // s->places.release()), last: until the reset has ended, the connection
  // is not idle yet.
  //
  // TODO (task 5): a broken connection (c->broken()) is let go instead,
  // never kept idle and not reset, and its place freed all the same. A
  // reset that throws breaks the connection too: keep its exception (a
  // catch block cannot co_await, and there is none to do), free the place,
  // then rethrow it.
  (void)s;
  (void)c;
  co_return;
}

}  // namespace

// Given: the work is take's and give_back's, whose frames hold the pool's
// state, so that a release spawned late (task 8) never outlives it.
awaitable<std::shared_ptr<connection>> connection_pool::acquire() {
  return take(state_);
}

awaitable<void> connection_pool::release(std::shared_ptr<connection> c) {
  return give_back(state_, std::move(c));
}

// ---- Task 7: async with pool.acquire() as conn ----------------------------

awaitable<void> with_connection(connection_pool& pool, user use) {
  auto c = co_await pool.acquire();
  // TODO (task 7): the connection never goes back. Run use and give the
  // connection back (pool.release) with your use_then_release, so that it
  // goes back however use ends, within pool.options().release_timeout. Its
  // two steps are lambdas that start a coroutine; they may capture by
  // reference, since this coroutine waits for both. Make them named
  // `step`s before the co_await: g++ 12 destroys a std::function made
  // inside a co_await expression twice.
  co_await use(*c);
}

// ---- Task 8: FastAPI's Depends with yield ---------------------------------

awaitable<http::response> with_dependency(connection_pool& pool, endpoint run,
                                          web::request_context& ctx) {
  // TODO (task 8): an acquire that times out (asio::error::timed_out)
  // gets a reply of its own, 503 (http::json_error): the pool is busy, not
  // broken.
  auto c = co_await pool.acquire();
  // TODO (task 8): the connection never goes back. FastAPI runs the code
  // after `yield` once the reply has gone out: here that is ctx.on_finish(f),
  // whose f runs after the reply is written, after the endpoint threw, or
  // when the client went away or the request was cancelled. Register it
  // before the endpoint runs, so that no way out skips it. f cannot await:
  // it starts pool.release with co_spawn (on ctx.srv.executor, detached).
  // It runs after this coroutine's frame is gone: it must hold its own
  // copy of the connection's shared_ptr.
  co_return co_await run(ctx, *c);
}

}  // namespace lesson12
