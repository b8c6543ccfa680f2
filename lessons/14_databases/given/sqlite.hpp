// Lesson 14, given: SQLite's C API (Debian's libsqlite3), as thin as it can
// be and still be safe: a connection and a prepared statement that close
// themselves, values in their own types, and every error an exception. It
// is blocking code, like Python's sqlite3 module: each call holds the
// thread that makes it until SQLite is done. Outside the lesson's
// namespace, so that your code and the reference share it.
//
//   sqlite::connection c("shop.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
//   sqlite::statement s(c, "SELECT name FROM users WHERE id = ?");
//   s.bind(1, std::int64_t{7});
//   while (s.step()) use(s.current_row());
#pragma once

#include <fmt/format.h>
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sqlite {

// One value of a column or of a parameter, in SQLite's types: NULL, an
// integer, a real, a text. (BLOBs come back as text.)
using value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using row = std::vector<value>;
using rows = std::vector<row>;
using params = std::vector<value>;

// What SQLite said went wrong: its result code (SQLITE_ERROR,
// SQLITE_INTERRUPT, SQLITE_READONLY, ...) and its message.
class error : public std::runtime_error {
public:
  error(int code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

private:
  int code_;
};

// One connection to a database file, closed by its destructor. SQLite's
// connections may move between threads, but only one thread at a time may
// use one: the lesson gives each a thread of its own.
class connection {
public:
  // flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or
  // SQLITE_OPEN_READONLY. Throws sqlite::error when it cannot open.
  connection(const std::string& path, int flags) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      throw error(rc, "opening " + path + ": " + message);
    }
  }
  ~connection() { sqlite3_close_v2(db_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  sqlite3* get() const noexcept { return db_; }

  // Runs SQL that returns no rows, one statement or several (a schema).
  void exec(const std::string& sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      std::string text = message ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      throw error(rc, text);
    }
  }

private:
  sqlite3* db_ = nullptr;
};

// One prepared statement: the SQL is compiled once, with a `?` wherever a
// value goes; the values are bound afterwards, as values, never as SQL.
// Finalized by its destructor.
class statement {
public:
  // Compiles `sql`, which must be one statement (as Python's sqlite3 says:
  // "You can only execute one statement at a time"). Throws sqlite::error
  // for a syntax error, an unknown table or column, or a second statement.
  statement(connection& c, std::string_view sql) : db_(c.get()) {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                                &stmt_, &tail);
    if (rc != SQLITE_OK) throw error(rc, sqlite3_errmsg(db_));
    if (!stmt_) throw error(SQLITE_MISUSE, "no statement in \"" + std::string(sql) + "\"");
    std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      sqlite3_finalize(stmt_);
      throw error(SQLITE_MISUSE, "you can only execute one statement at a time");
    }
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  // How many `?` the statement has.
  int parameter_count() const noexcept { return sqlite3_bind_parameter_count(stmt_); }

  // Binds `v` to the parameter at `index`: the first `?` is 1. Throws
  // sqlite::error for an index the statement does not have.
  void bind(int index, const value& v) {
    int rc = std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>)
            return sqlite3_bind_null(stmt_, index);
          else if constexpr (std::is_same_v<T, std::int64_t>)
            return sqlite3_bind_int64(stmt_, index, x);
          else if constexpr (std::is_same_v<T, double>)
            return sqlite3_bind_double(stmt_, index, x);
          else
            return sqlite3_bind_text(stmt_, index, x.data(),
                                     static_cast<int>(x.size()), SQLITE_TRANSIENT);
        },
        v);
    if (rc != SQLITE_OK) throw error(rc, sqlite3_errmsg(db_));
  }

  // Runs the statement to its next row: true when a row is ready
  // (current_row), false when the statement is done. Throws sqlite::error
  // when it fails: a constraint, a read-only database, a lock held too
  // long, an interrupt (SQLITE_INTERRUPT: sqlite3_interrupt stopped it).
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    rc = sqlite3_reset(stmt_);  // the precise code and message
    throw error(rc, sqlite3_errmsg(db_));
  }

  // Makes the statement ready to run again, its parameters unbound.
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // The row step() has just made ready, each value in its own type.
  row current_row() const {
    row out;
    int n = sqlite3_column_count(stmt_);
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(stmt_, i)) {
        case SQLITE_NULL: out.emplace_back(nullptr); break;
        case SQLITE_INTEGER: out.emplace_back(std::int64_t{sqlite3_column_int64(stmt_, i)}); break;
        case SQLITE_FLOAT: out.emplace_back(sqlite3_column_double(stmt_, i)); break;
        default: {
          auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
          out.emplace_back(std::string(text ? text : "",
                                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))));
        }
      }
    }
    return out;
  }

private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Reading a value back: as<std::int64_t>(row[0]), as<std::string>(row[1]).
// Throws std::bad_variant_access when the value has another type.
template <typename T>
const T& as(const value& v) {
  return std::get<T>(v);
}

// A value as SQL would write it, for messages: NULL, 42, 1.5, 'text'.
inline std::string to_string(const value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          return "NULL";
        else if constexpr (std::is_same_v<T, std::string>)
          return "'" + x + "'";
        else
          return fmt::format("{}", x);
      },
      v);
}

}  // namespace sqlite
