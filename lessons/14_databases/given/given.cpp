// Lesson 14, given: the parts of the lesson's code that are not its tasks
// (declared in lesson.hpp). Compiled once, beside your exercise.cpp, so
// that saving it recompiles only your code.
#include "lesson.hpp"

namespace lesson14 {

db::work statement(std::string sql, sqlite::params params) {
  return [sql = std::move(sql), params = std::move(params)](sqlite::connection& c) {
    return query(c, sql, params);
  };
}

asio::awaitable<sqlite::rows> transaction::execute(std::string sql,
                                                   sqlite::params params) {
  co_return co_await call(db.writer, statement(std::move(sql), std::move(params)));
}

asio::awaitable<void> transaction::rollback() {
  db::work job = [](sqlite::connection& c) {
    if (!sqlite3_get_autocommit(c.get())) c.exec("ROLLBACK");
    return sqlite::rows{};
  };
  co_await call(db.writer, std::move(job));
}

}  // namespace lesson14
