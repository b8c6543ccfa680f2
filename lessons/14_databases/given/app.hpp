// Lesson 14, given: the data behind lesson 11's dashboard, now in a real
// SQLite file instead of three fake services: its tables, its rows as C++
// types, a few users to start with, and the dashboard as the JSON lesson 11
// answered. Outside the lesson's namespace, so that your code, the
// reference and the tests share it.
#pragma once

#include "common/http.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shop {

// The tables. A user has orders and recommendations.
inline constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL,
  email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  id      INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  item    TEXT NOT NULL,
  total   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders(user_id);
CREATE TABLE IF NOT EXISTS recommendations (
  user_id INTEGER NOT NULL REFERENCES users(id),
  title   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recommendations_by_user ON recommendations(user_id);
)sql";

struct user {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  bool operator==(const user&) const = default;
};

struct order {
  std::int64_t id = 0;
  std::string item;
  double total = 0;
  bool operator==(const order&) const = default;
};

// Lesson 11's dashboard: a user, their orders (by id) and the titles
// recommended to them (by title).
struct dashboard {
  user who;
  std::vector<order> orders;
  std::vector<std::string> recommendations;
  bool operator==(const dashboard&) const = default;
};

// Blocking: the tables, and `users` users (ids 1 to `users`) with two
// orders and two recommendations each, in one transaction. The tests and
// the demo call it on a connection of their own before they open the
// database.
inline void create_and_fill(sqlite::connection& c, int users) {
  c.exec(schema);
  c.exec("BEGIN");
  // Prepared once, run once per row with the row's values bound.
  sqlite::statement add_user(c, "INSERT INTO users (id, name, email) VALUES (?, ?, ?)");
  sqlite::statement add_order(c, "INSERT INTO orders (user_id, item, total) VALUES (?, ?, ?)");
  sqlite::statement add_title(c, "INSERT INTO recommendations (user_id, title) VALUES (?, ?)");
  auto run = [](sqlite::statement& s, const sqlite::params& p) {
    s.reset();
    for (std::size_t i = 0; i < p.size(); ++i) s.bind(static_cast<int>(i + 1), p[i]);
    while (s.step()) {
    }
  };
  for (std::int64_t id = 1; id <= users; ++id) {
    run(add_user, {id, fmt::format("user {}", id), fmt::format("user{}@example.com", id)});
    run(add_order, {id, std::string("a keyboard with a long name"), 49.5});
    run(add_order, {id, std::string("a box of tea, green"), 12.0});
    run(add_title, {id, std::string("asyncio in practice")});
    run(add_title, {id, std::string("Asio for the impatient")});
  }
  c.exec("COMMIT");
}

// What lesson 11 answered for GET /dashboard/{user_id}.
inline std::string to_json(const dashboard& d) {
  std::string orders, titles;
  for (const auto& o : d.orders)
    orders += fmt::format(R"({}{{"id": {}, "item": "{}", "total": {}}})",
                          orders.empty() ? "" : ", ", o.id,
                          common::http::json_escape(o.item), o.total);
  for (const auto& t : d.recommendations)
    titles += fmt::format(R"({}"{}")", titles.empty() ? "" : ", ",
                          common::http::json_escape(t));
  return fmt::format(
      R"({{"user": {{"id": {}, "name": "{}", "email": "{}"}}, "orders": [{}], "recommendations": [{}]}})",
      d.who.id, common::http::json_escape(d.who.name),
      common::http::json_escape(d.who.email), orders, titles);
}

}  // namespace shop
