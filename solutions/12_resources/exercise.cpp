// Lesson 12: resources that must be released. A destructor cannot
// co_await, and neither can a catch block, so a cleanup that waits
// (closing a connection politely, resetting it for the next user) needs a
// shape of its own: use_then_release, Python's try/finally with an await
// in the finally. On it stand a pool of connections, the way asyncpg and
// httpx keep theirs, and FastAPI's Depends with yield on lesson 10's
// server.
//
// The database is a fake (given/fake_db.hpp): its connections take time to
// open, to query and to reset, and can break.
//
// Reference solution: keep what use threw, reset the cancellation state,
// await the release with a deadline and its error as a value, then
// rethrow. A pool is a semaphore of places plus the idle connections.
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
  // No co_await in a catch block: keep the exception, leave the block.
  std::exception_ptr used;
  try {
    co_await use();
  } catch (...) {
    used = std::current_exception();
  }
  // Cancelled while `use` waited? Then every await would throw at once.
  co_await asio::this_coro::reset_cancellation_state();
  auto ex = co_await asio::this_coro::executor;
  auto released = co_await (
      co_spawn(ex, release(), as_tuple(use_awaitable)) ||
      tut::sleep(release_limit));
  if (used) std::rethrow_exception(used);
  if (released.index() == 1)
    throw asio::system_error(asio::error::timed_out, "release");
  if (auto [error] = std::get<0>(released); error)
    std::rethrow_exception(error);
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
  auto ex = co_await asio::this_coro::executor;
  auto waited = co_await (
      co_spawn(ex, s->places.acquire(), as_tuple(use_awaitable)) ||
      tut::sleep(s->options.acquire_timeout));
  if (waited.index() == 1)
    throw asio::system_error(asio::error::timed_out,
                             "no connection free in the pool");
  if (auto [error] = std::get<0>(waited); error)
    std::rethrow_exception(error);  // cancelled while in line
  ++s->in_use;
  if (!s->idle.empty()) {
    auto c = std::move(s->idle.back());
    s->idle.pop_back();
    co_return c;
  }
  try {
    co_return co_await s->db.connect();
  } catch (...) {
    --s->in_use;
    s->places.release();
    throw;
  }
}

// The work of release(): the connection kept for the next user, and its
// place freed.
awaitable<void> give_back(std::shared_ptr<connection_pool::state> s,
                          std::shared_ptr<connection> c) {
  std::exception_ptr failed;
  if (!c->broken()) {
    try {
      co_await c->reset();
    } catch (...) {
      failed = std::current_exception();
    }
  }
  if (!c->broken() && !failed) s->idle.push_back(std::move(c));
  c.reset();  // a broken connection is let go here
  --s->in_use;
  s->places.release();
  if (failed) std::rethrow_exception(failed);
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
  step use_it = [&] { return use(*c); };
  step give_it_back = [&] { return pool.release(c); };
  co_await use_then_release(use_it, give_it_back,
                            pool.options().release_timeout);
}

// ---- Task 8: FastAPI's Depends with yield ---------------------------------

awaitable<http::response> with_dependency(connection_pool& pool, endpoint run,
                                          web::request_context& ctx) {
  std::shared_ptr<connection> c;
  try {
    c = co_await pool.acquire();
  } catch (const asio::system_error& e) {
    if (e.code() != asio::error::timed_out) throw;
    co_return http::json_error(503, "no database connection free");
  }
  // The code after `yield`: once the reply has gone out, however it ended.
  ctx.on_finish([&pool, c, ex = ctx.srv.executor](web::ending) {
    co_spawn(ex, pool.release(c), detached);
  });
  co_return co_await run(ctx, *c);
}

}  // namespace lesson12
