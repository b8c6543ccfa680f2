// Lesson 14 demo: lesson 11's dashboard, served from a real SQLite file
// through your code (exercise.cpp), in real time. It fills a database in a
// temporary directory and opens it with your open_database: one writer,
// four readers, WAL. Then it shows what the loop does meanwhile: a query
// of 200 ms while the lag monitor ticks, four of them at once, a failed
// transaction that leaves nothing behind, a runaway query stopped by a
// timeout. Last, it serves GET /dashboard/{user_id} and GET /users?name=
// on 127.0.0.1 and asks what a browser would, 200 dashboards at once among
// them. Run it with `scripts/tutor run 14`; it stops by itself, or on
// SIGINT or SIGTERM.
#include "lesson.hpp"

#include "common/gather.hpp"
#include "common/http_client.hpp"
#include "common/serve.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/signal_set.hpp>
#include <fmt/format.h>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace http = common::http;
namespace web = common::web;
namespace lesson = lesson14;

namespace {

double since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

double ms(tut::clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// SQLite has no sleep of its own. sleep_ms(n), added to every connection
// as it opens, holds the connection's thread for n ms: a query that takes
// that long, as a big one on a slow disk would.
void sleep_ms(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto n = sqlite3_value_int64(argv[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(n));
  sqlite3_result_int64(ctx, n);
}

// A query of 200 ms on a reader. The lag monitor ticks every 5 ms on the
// loop: while the reader's thread waits, the loop keeps ticking.
awaitable<void> slow_query(db::database& d, tut::lag_monitor& monitor) {
  auto start = tut::now();
  auto ticks = monitor.ticks();
  co_await tut::traced("query of 200 ms",
                       lesson::read(d, "SELECT sleep_ms(200)"));
  fmt::print("  a query of 200 ms: {:.2f} s; the loop ticked {} times "
             "meanwhile\n",
             since(start), monitor.ticks() - ticks);
}

// Four such queries at once: four readers run them side by side.
awaitable<void> four_at_once(db::database& d) {
  auto start = tut::now();
  auto one = [&](int n) {
    return tut::traced(fmt::format("reader query {}", n),
                       lesson::read(d, "SELECT sleep_ms(200)"));
  };
  co_await (one(1) && one(2) && one(3) && one(4));
  fmt::print("  four of them at once: {:.2f} s, not 0.80 s\n", since(start));
}

// A transaction that writes two orders, then fails: nothing of it stays.
awaitable<std::int64_t> orders_of_7(db::database& d) {
  auto rows = co_await lesson::read(
      d, "SELECT count(*) FROM orders WHERE user_id = 7");
  co_return sqlite::as<std::int64_t>(rows.at(0).at(0));
}

awaitable<void> failed_transaction(db::database& d) {
  auto before = co_await orders_of_7(d);
  lesson::transaction_body body = [](lesson::transaction& tx)
      -> awaitable<void> {
    for (double total : {12.5, -3.0}) {
      sqlite::params order{std::int64_t{7}, std::string("a gift card"), total};
      co_await tx.execute(
          "INSERT INTO orders (user_id, item, total) VALUES (?, ?, ?)", order);
      if (total < 0) throw std::domain_error("a negative total");
    }
  };
  std::string outcome = "committed";
  try {
    co_await tut::traced("transaction", lesson::in_transaction(d, body));
  } catch (const std::exception& e) {
    outcome = e.what();
  }
  fmt::print("  a transaction of two orders for user 7 ended with \"{}\": "
             "user 7 has {} orders, as before ({})\n",
             outcome, co_await orders_of_7(d), before);
}

// A query that counts to 20 million, seconds of work, raced against a
// timeout of 100 ms: the timeout wins, the statement is interrupted, and
// the reader is free again.
awaitable<void> runaway(db::database& d) {
  auto start = tut::now();
  auto counting = lesson::read(
      d, "WITH RECURSIVE n(x) AS (VALUES (1) UNION ALL SELECT x + 1 FROM n "
         "WHERE x < 20000000) SELECT count(*) FROM n");
  auto winner = co_await (tut::traced("runaway query", std::move(counting)) ||
                          tut::sleep(100ms));
  fmt::print("  a query counting to 20 million, with a timeout of 100 ms: "
             "{} after {:.2f} s\n",
             winner.index() == 1 ? "stopped" : "finished", since(start));
}

// The web app: lesson 10's server with two routes, the dashboard and a
// search by name, both answered from the database.
std::vector<web::route> routes(db::database& d) {
  using ctx_t = web::request_context;
  return {
      {"GET", "/dashboard/{user_id}",
       [&d](ctx_t& ctx) -> awaitable<http::response> {
         auto id = http::to_number(ctx.param());
         if (!id) co_return http::json_error(422, "user_id must be a number");
         auto page = co_await lesson::load_dashboard(d, *id);
         if (!page) co_return http::json_error(404, "no such user");
         co_return http::json(200, shop::to_json(*page));
       }},
      {"GET", "/users",
       [&d](ctx_t& ctx) -> awaitable<http::response> {
         auto name = http::query_value(ctx.request().query, "name");
         if (!name) co_return http::json_error(422, "name, please");
         auto users = co_await lesson::find_users(d, *name);
         co_return http::json(200, fmt::format(R"({{"found": {}}})",
                                               users.size()));
       }},
  };
}

// One GET on a connection of its own: its status and body.
awaitable<http::received> get(unsigned short port, std::string target) {
  http::url u{"127.0.0.1", std::to_string(port), std::move(target)};
  auto c = co_await http::open_connection(u);
  co_return co_await http::exchange(*c, "GET", std::move(u), "");
}

// A browser's requests, one after another, then 200 dashboards at once.
awaitable<void> browse(unsigned short port, tut::lag_monitor& monitor) {
  for (auto target : {"/dashboard/7", "/dashboard/999", "/users?name=user%207",
                      "/users?name=x'%20OR%20'1'='1"}) {
    auto r = co_await get(port, target);
    auto shown = r.body.size() > 60 ? r.body.substr(0, 57) + "..." : r.body;
    fmt::print("  GET {:<30} {} {}\n", target, r.status, shown);
  }
  auto start = tut::now();
  auto worst = monitor.max_lag();
  int ok = 0;
  std::vector<awaitable<void>> clients;
  for (int i = 0; i < 200; ++i)
    clients.push_back([](unsigned short p, int id, int& n) -> awaitable<void> {
      auto r = co_await get(p, fmt::format("/dashboard/{}", id));
      if (r.status == 200) ++n;
    }(port, 1 + i % 100, ok));
  co_await common::gather(std::move(clients));
  fmt::print("  200 dashboards at once: {} answered in {:.3f} s, 600 reads; "
             "the loop's worst lag so far {:.1f} ms (before: {:.1f} ms)\n",
             ok, since(start), ms(monitor.max_lag()), ms(worst));
}

// Everything on one loop: the database's tour, then the server and its
// clients. SIGINT or SIGTERM ends the demo early, at the next step.
awaitable<void> main_coroutine(fs::path file) {
  auto ex = co_await asio::this_coro::executor;
  tut::lag_monitor monitor(ex);
  db::options o;
  o.path = file;
  o.readers = 4;
  o.on_open = [](sqlite3* c) {
    sqlite3_create_function(c, "sleep_ms", 1, SQLITE_UTF8, nullptr, sleep_ms,
                            nullptr, nullptr);
  };
  auto d = co_await lesson::open_database(o);
  fmt::print("{}: one writer and {} readers\n\n", file.string(),
             d->readers.size());

  web::server_stats stats;
  auto srv = std::make_shared<web::server>(ex, web::config{}, stats,
                                           routes(*d));
  auto tour = [&]() -> awaitable<void> {
    co_await slow_query(*d, monitor);
    co_await four_at_once(*d);
    co_await failed_transaction(*d);
    co_await runaway(*d);
    fmt::print("\nserving on http://127.0.0.1:{}\n", stats.port.load());
    co_await browse(stats.port, monitor);
  };
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  co_await (tour() || web::serve_until_cancelled(*srv, web::listener) ||
            signals.async_wait(as_tuple(use_awaitable)));
  fmt::print("\nthe loop's worst lag: {:.1f} ms\n", ms(monitor.max_lag()));
  monitor.stop();
}

}  // namespace

int main() {
  std::string dir =
      (fs::temp_directory_path() / "asynclings-14-XXXXXX").string();
  if (!::mkdtemp(dir.data())) return 1;
  auto file = fs::path(dir) / "shop.db";
  int status = 0;
  try {
    {
      sqlite::connection c(file.string(),
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      shop::create_and_fill(c, 100);
    }
    tut::run(main_coroutine(file));
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    status = 1;
  }
  fs::remove_all(dir);
  return status;
}
