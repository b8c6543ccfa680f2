// Lesson 14: a database that does not block the loop, the aiosqlite way.
// SQLite's API is blocking, so each connection lives on a thread of its
// own (a lane: given/lanes.hpp) and the loop only sends it jobs and awaits
// their outcomes. One connection writes, a few read side by side (WAL
// mode); a transaction is a scope that commits or rolls back; a query that
// runs too long can be cancelled while it runs.
//
// Given: SQLite made safe (given/sqlite.hpp), the lanes and the database
// (given/lanes.hpp), the dashboard's tables and types (given/app.hpp),
// statement() and the transaction's execute() and rollback()
// (given/given.cpp). Fill in the TODOs, task by task; `scripts/tutor`
// grades each one as you save, and `scripts/tutor run 14` serves lesson
// 11's dashboard from a real SQLite file with your code.
#include "lesson.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include <stdexcept>
#include <utility>

using asio::awaitable;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace lesson14 {

// ---- Task 1: one statement, its values bound ------------------------------

sqlite::rows query(sqlite::connection& c, std::string_view sql,
                   const sqlite::params& params) {
  // TODO: Python's cursor.execute(sql, params) then fetchall(), on this
  // thread. Compile `sql` into a sqlite::statement. Refuse a list of
  // values whose size is not the statement's parameter_count() with
  // std::invalid_argument, before anything runs (a missing value would
  // become NULL). Bind each value to its `?` (bind counts from 1), then
  // step() until the statement is done, keeping each current_row(). The
  // values never become SQL text: that is what makes a quote harmless.
  (void)c, (void)sql, (void)params;
  return {};
}

// ---- Task 6: stopping a job ----------------------------------------------

void cancel(db::ticket& t) {
  // TODO: this runs on the loop when the caller is cancelled; the job may
  // still wait in its lane, or run on a lane's thread. With t.mutex held
  // (the lane reads and writes the ticket under it): mark the ticket
  // cancelled, so that a job not started yet is skipped; and when the job
  // runs (t.running is its connection), interrupt its statement with
  // sqlite3_interrupt, the one SQLite call made for another thread.
  (void)t;
}

// ---- Tasks 2 and 6: a job on a lane, awaited -------------------------------

awaitable<sqlite::rows> call(db::lane& lane, db::work work) {
  auto loop = co_await asio::this_coro::executor;
  // Runs when the caller awaits: `handler` is the rest of the caller.
  // Calling it once, with (exception or nullptr, rows), resumes the caller
  // with that outcome: the exception comes out of its co_await.
  auto initiation = [&lane, loop](auto handler, db::work job) {
    auto t = std::make_shared<db::ticket>();
    // TODO (task 6): a cancellation of the caller reaches this operation
    // through the handler's cancellation slot
    // (asio::get_associated_cancellation_slot). When the slot is
    // connected, assign it a function that cancels this job's ticket (your
    // cancel() above).
    //
    // TODO (task 2): give the job to the lane (lane.push): the ticket, the
    // work, and a `done` function, which the lane calls on its own thread
    // with the outcome. The handler must not run there, or the caller goes
    // on on the lane's thread: post it (asio::post) to the handler's own
    // executor (asio::get_associated_executor, `loop` if it has none). The
    // handler can only be moved: move it into `done`, and from there into
    // what you post.
    //
    // TODO (task 6): in `done`, a job that failed after its ticket was
    // cancelled was stopped by the cancellation (SQLite says
    // "interrupted"): hand the caller asio::system_error with
    // asio::error::operation_aborted instead. On the loop, just before the
    // handler runs, clear the slot: the operation no longer needs it.
    (void)lane, (void)loop, (void)job, (void)t;
  };
  co_return co_await asio::async_initiate<
      decltype(use_awaitable), void(std::exception_ptr, sqlite::rows)>(
      initiation, use_awaitable, std::move(work));
}

// ---- Task 3: a writer, and readers beside it -------------------------------

awaitable<std::unique_ptr<db::database>> open_database(db::options o) {
  auto d = std::make_unique<db::database>(std::move(o));
  // TODO: in SQLite's default journal mode (a rollback journal) a write
  // waits until nobody reads, and nobody reads while a write commits. Put
  // the file in WAL mode (PRAGMA journal_mode), with a write: the mode
  // stays with the file, for every connection to it.
  co_return d;
}

awaitable<sqlite::rows> read(db::database& d, std::string sql,
                             sqlite::params params) {
  // TODO: run the statement on the readers (d.readers), through your
  // call(); the given statement() makes the work. The readers run several
  // at once, and they are read-only.
  (void)d, (void)sql, (void)params;
  co_return sqlite::rows{};
}

awaitable<sqlite::rows> write(db::database& d, std::string sql,
                              sqlite::params params) {
  // TODO: the same, on the writer (d.writer): one connection, so writes
  // queue up instead of fighting over SQLite's lock.
  //
  // TODO (task 5): while a transaction is open it holds d.write_lock;
  // hold it too (common::hold, lesson 05) for as long as the write runs,
  // or the write lands inside somebody else's transaction.
  (void)d, (void)sql, (void)params;
  co_return sqlite::rows{};
}

// ---- Task 4: the app's queries ---------------------------------------------

awaitable<std::int64_t> add_user(db::database& d, std::string name,
                                 std::string email) {
  // TODO: one INSERT into users with a `?` for the name and for the
  // e-mail, the two as values; `RETURNING id` makes SQLite answer with
  // the new row's id. Never paste a value into the SQL text: a name with
  // a quote in it would end the string and go on as SQL.
  (void)d, (void)name, (void)email;
  co_return 0;
}

namespace {
// A row of (id, name, email) as a user.
[[maybe_unused]] shop::user to_user(const sqlite::row& r) {
  return {sqlite::as<std::int64_t>(r[0]), sqlite::as<std::string>(r[1]),
          sqlite::as<std::string>(r[2])};
}
}  // namespace

awaitable<std::vector<shop::user>> find_users(db::database& d,
                                              std::string name) {
  // TODO: a read of the users whose name is `name` (bound as a value),
  // by id; to_user makes each row a shop::user.
  (void)d, (void)name;
  co_return std::vector<shop::user>{};
}

awaitable<std::optional<shop::dashboard>> load_dashboard(
    db::database& d, std::int64_t user_id) {
  // TODO: lesson 11's dashboard from the file: the user (id, name, email),
  // their orders (id, item, total, by id) and the titles recommended to
  // them (by title). Three reads that need nothing of each other: run them
  // at once with the && operator, so that three readers take them. No such
  // user: std::nullopt.
  (void)d, (void)user_id;
  co_return std::nullopt;
}

// ---- Task 5: a transaction as a scope --------------------------------------

awaitable<void> in_transaction(db::database& d, transaction_body body) {
  transaction tx{d};
  // TODO: Python's `async with` around a transaction. Hold the write lock
  // (common::hold) for the whole of it; begin (BEGIN IMMEDIATE takes
  // SQLite's write lock at once) with tx.execute; run the body; commit.
  // A destructor cannot co_await, so the way out on an error is a catch:
  // keep the exception (std::current_exception), roll back with
  // tx.rollback(), then rethrow it as it was. Cancelled, the body throws
  // operation_aborted, and the coroutine cannot await again until it has
  // reset its cancellation state
  // (asio::this_coro::reset_cancellation_state): reset it with
  // asio::disable_cancellation(), so that nothing stops the rollback.
  (void)body, (void)tx;
  co_return;
}

}  // namespace lesson14
