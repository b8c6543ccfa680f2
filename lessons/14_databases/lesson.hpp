// Lesson 14's interface: the functions the tests call. Your exercise.cpp
// defines them; so does the reference solution. What they stand on is
// given: SQLite's C API made safe (given/sqlite.hpp), the lanes of threads
// that own the connections (given/lanes.hpp), the dashboard's tables and
// types (given/app.hpp).
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson14) and once for the reference, renamed to
// lesson14_reference, so both can run side by side.
#include "given/app.hpp"
#include "given/lanes.hpp"
#include "given/sqlite.hpp"
#include "tut/tut.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lesson14 {

// Task 1: Python's cursor.execute(sql, params) then fetchall(), blocking,
// on the calling thread: prepares `sql` (one statement, a `?` for each
// value), binds params[0] to the first `?`, params[1] to the second, ...,
// and returns every row the statement gives (none for most writes). Throws
// std::invalid_argument when params.size() is not the number of `?` in
// the statement, and sqlite::error when SQLite fails.
sqlite::rows query(sqlite::connection& c, std::string_view sql,
                   const sqlite::params& params);

// Task 2: what aiosqlite does for every call. Sends `work` to one of the
// lane's threads, which runs it on its connection; the caller waits
// without holding the loop, and goes on on its own executor (the loop)
// with the rows the work returned, or with the exception it threw, as
// itself. Task 6: cancelled while the job waits in line, the job never
// runs; cancelled while it runs, its statement is interrupted; either way
// the caller gets asio::system_error(operation_aborted).
asio::awaitable<sqlite::rows> call(db::lane& lane, db::work work);

// Given (given/given.cpp): the work that runs one statement through your
// query(), with its own copies of the SQL and the values, for a lane.
db::work statement(std::string sql, sqlite::params params);

// Task 3: opens the database at o.path (the file must exist) and puts it
// in WAL mode, so that its readers never wait for its writer, nor it for
// them.
asio::awaitable<std::unique_ptr<db::database>> open_database(db::options o);

// Task 3: one statement, as query() runs it: a read on one of the readers,
// a write on the writer (task 5: once no transaction holds the writer).
asio::awaitable<sqlite::rows> read(db::database& d, std::string sql,
                                   sqlite::params params = {});
asio::awaitable<sqlite::rows> write(db::database& d, std::string sql,
                                    sqlite::params params = {});

// Task 4: the app's queries, each value bound as a parameter.
// add_user returns the new user's id.
asio::awaitable<std::int64_t> add_user(db::database& d, std::string name,
                                       std::string email);
// The users whose name is exactly `name`, by id.
asio::awaitable<std::vector<shop::user>> find_users(db::database& d,
                                                    std::string name);
// The user, their orders and recommendations, read at the same time;
// nothing when there is no such user.
asio::awaitable<std::optional<shop::dashboard>> load_dashboard(
    db::database& d, std::int64_t user_id);

// Task 5: the writer, held by one transaction (given, in given/given.cpp).
struct transaction {
  db::database& db;
  // One statement on the writer, inside the transaction: it does not wait
  // for the write lock, which the transaction holds.
  asio::awaitable<sqlite::rows> execute(std::string sql,
                                        sqlite::params params = {});
  // Rolls back the transaction if it is still open: SQLite ends one by
  // itself when an INSERT, UPDATE or DELETE in it is interrupted, and
  // after some errors (a full disk), and a second ROLLBACK would fail.
  asio::awaitable<void> rollback();
};

// Task 5: Python's `async with transaction(db) as tx:`. Waits for the
// write lock, begins a transaction, runs `body`, and commits. When the
// body throws, or is cancelled, everything it wrote is rolled back, and
// the exception (operation_aborted for a cancellation) comes out of
// in_transaction as itself. Either way the writer is left outside any
// transaction and the lock is free again.
using transaction_body = std::function<asio::awaitable<void>(transaction&)>;
asio::awaitable<void> in_transaction(db::database& d, transaction_body body);

// Task 6: cancels the job `t` belongs to, from the loop: a job that has
// not started never will; a job that runs has its statement interrupted.
void cancel(db::ticket& t);

}  // namespace lesson14
