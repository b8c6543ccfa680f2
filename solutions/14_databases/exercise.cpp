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
//
// Reference solution: async_initiate hands the handler to the lane's
// thread and back to the loop's executor, so a blocking library becomes
// one more thing a coroutine awaits.
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
  sqlite::statement s(c, sql);
  auto wanted = static_cast<std::size_t>(s.parameter_count());
  if (wanted != params.size())
    throw std::invalid_argument(
        fmt::format("the statement uses {} parameters, and {} were supplied",
                    wanted, params.size()));
  for (std::size_t i = 0; i < params.size(); ++i)
    s.bind(static_cast<int>(i + 1), params[i]);
  sqlite::rows out;
  while (s.step()) out.push_back(s.current_row());
  return out;
}

// ---- Task 6: stopping a job ----------------------------------------------

void cancel(db::ticket& t) {
  std::lock_guard lock(t.mutex);
  t.cancelled = true;
  if (t.running) sqlite3_interrupt(t.running);
}

// ---- Tasks 2 and 6: a job on a lane, awaited -------------------------------

awaitable<sqlite::rows> call(db::lane& lane, db::work work) {
  auto loop = co_await asio::this_coro::executor;
  // Runs when the caller awaits: `handler` is the rest of the caller.
  auto initiation = [&lane, loop](auto handler, db::work job) {
    auto t = std::make_shared<db::ticket>();
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
      slot.assign([t](asio::cancellation_type) { cancel(*t); });
    auto back = asio::get_associated_executor(handler, loop);
    lane.push(t, std::move(job),
              [handler = std::move(handler), back, t, slot](
                  std::exception_ptr error, sqlite::rows rows) mutable {
                if (error && t->cancelled)
                  error = std::make_exception_ptr(
                      asio::system_error(asio::error::operation_aborted));
                asio::post(back, [handler = std::move(handler), error, slot,
                                  rows = std::move(rows)]() mutable {
                  slot.clear();
                  std::move(handler)(error, std::move(rows));
                });
              });
  };
  co_return co_await asio::async_initiate<
      decltype(use_awaitable), void(std::exception_ptr, sqlite::rows)>(
      initiation, use_awaitable, std::move(work));
}

// ---- Task 3: a writer, and readers beside it -------------------------------

awaitable<std::unique_ptr<db::database>> open_database(db::options o) {
  auto d = std::make_unique<db::database>(std::move(o));
  co_await write(*d, "PRAGMA journal_mode = WAL");
  co_return d;
}

awaitable<sqlite::rows> read(db::database& d, std::string sql,
                             sqlite::params params) {
  co_return co_await call(d.readers,
                          statement(std::move(sql), std::move(params)));
}

awaitable<sqlite::rows> write(db::database& d, std::string sql,
                              sqlite::params params) {
  auto permit = co_await common::hold(d.write_lock);
  co_return co_await call(d.writer,
                          statement(std::move(sql), std::move(params)));
}

// ---- Task 4: the app's queries ---------------------------------------------

awaitable<std::int64_t> add_user(db::database& d, std::string name,
                                 std::string email) {
  sqlite::params values{std::move(name), std::move(email)};
  auto rows = co_await write(
      d, "INSERT INTO users (name, email) VALUES (?, ?) RETURNING id",
      std::move(values));
  co_return sqlite::as<std::int64_t>(rows.at(0).at(0));
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
  sqlite::params values{std::move(name)};
  auto rows = co_await read(
      d, "SELECT id, name, email FROM users WHERE name = ? ORDER BY id",
      std::move(values));
  std::vector<shop::user> out;
  for (const auto& r : rows) out.push_back(to_user(r));
  co_return out;
}

awaitable<std::optional<shop::dashboard>> load_dashboard(
    db::database& d, std::int64_t user_id) {
  sqlite::params id{user_id};
  auto [users, orders, titles] = co_await (
      read(d, "SELECT id, name, email FROM users WHERE id = ?", id) &&
      read(d, "SELECT id, item, total FROM orders WHERE user_id = ? "
              "ORDER BY id", id) &&
      read(d, "SELECT title FROM recommendations WHERE user_id = ? "
              "ORDER BY title", id));
  if (users.empty()) co_return std::nullopt;
  shop::dashboard out{to_user(users[0]), {}, {}};
  for (const auto& r : orders)
    out.orders.push_back({sqlite::as<std::int64_t>(r[0]),
                          sqlite::as<std::string>(r[1]),
                          sqlite::as<double>(r[2])});
  for (const auto& r : titles)
    out.recommendations.push_back(sqlite::as<std::string>(r[0]));
  co_return out;
}

// ---- Task 5: a transaction as a scope --------------------------------------

awaitable<void> in_transaction(db::database& d, transaction_body body) {
  auto permit = co_await common::hold(d.write_lock);
  transaction tx{d};
  co_await tx.execute("BEGIN IMMEDIATE");
  std::exception_ptr failure;
  try {
    co_await body(tx);
    co_await tx.execute("COMMIT");
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return;
  // A cancelled coroutine cannot await until its cancellation is reset;
  // the rollback must run whatever comes, so it ignores cancellation.
  co_await asio::this_coro::reset_cancellation_state(
      asio::disable_cancellation());
  co_await tx.rollback();
  std::rethrow_exception(failure);
}

}  // namespace lesson14
