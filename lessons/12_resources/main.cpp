// Lesson 12 demo: resources released however their use ends, in real time,
// with your code (exercise.cpp) and the fake database of given/fake_db.hpp.
// A connection is closed politely after a use that returns, one that
// throws and one that is cancelled; twelve users share a pool of three; a
// broken connection is let go; an acquire gives up; and the web app of
// given/app.cpp answers requests, each with a connection held until its
// reply has gone out. Run it with `scripts/tutor run 12`.
#include "lesson.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
namespace http = common::http;
namespace web = common::web;

namespace {

// Seconds since `start`, on the course's clock (real time here).
double since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

// How a piece of work ended, in words.
awaitable<std::string> outcome(awaitable<void> work) {
  try {
    co_await std::move(work);
    co_return "returned";
  } catch (const asio::system_error& e) {
    if (e.code() == asio::error::operation_aborted) co_return "cancelled";
    if (e.code() == asio::error::timed_out) co_return "timed out";
    co_return std::string("threw: ") + e.what();
  } catch (const std::exception& e) {
    co_return std::string("threw: ") + e.what();
  }
}

// A query that takes `took`; its answer is not needed here.
awaitable<void> run_query(fakedb::connection& c, std::string sql,
                          tut::clock::duration took) {
  co_await c.query(std::move(sql), took);
}

// `async with connect() as conn:` by hand: open a connection, use it,
// and close it politely with use_then_release, whatever the use does. The
// use is a query; "FAIL: ..." is one the database refuses.
// (The steps are named before the co_await: g++ 12 destroys a
// std::function made inside a co_await expression twice.)
awaitable<void> use_and_close(fakedb::service db, std::string sql) {
  auto conn = co_await db.connect();
  lesson12::step use = [conn, sql] { return run_query(*conn, sql, 60ms); };
  lesson12::step close = [conn] { return conn->close(); };
  co_await lesson12::use_then_release(use, close, 200ms);
}

// Three uses: one returns, one throws, one is cancelled 30 ms into its
// query by a bound cancellation signal (what a task group or a timeout
// does to its task). Each connection is closed all the same.
awaitable<void> three_endings() {
  auto ex = co_await asio::this_coro::executor;
  fakedb::service db;
  fmt::print("use_then_release, three ways:\n");
  fmt::print("  a query that returns:    {}\n",
             co_await outcome(use_and_close(db, "SELECT 1")));
  fmt::print("  a query that is refused: {}\n",
             co_await outcome(use_and_close(db, "FAIL: SELECT")));
  asio::cancellation_signal cancel;
  std::string how = "still running";
  co_spawn(ex, outcome(use_and_close(db, "SELECT pg_sleep(1)")),
           asio::bind_cancellation_slot(
               cancel.slot(), [&](std::exception_ptr, std::string h) {
                 how = std::move(h);
               }));
  co_await tut::sleep(40ms);  // 10 ms to connect, then 30 ms of the query
  cancel.emit(asio::cancellation_type::terminal);
  while (how == "still running") co_await tut::sleep(5ms);
  fmt::print("  a query cancelled:       {}\n", how);
  fmt::print("  the database: {} opened, {} closed politely, {} let go\n\n",
             db.stats().opened, db.stats().closed, db.stats().dropped);
}

// One user of the pool, through with_connection: it notes its turn in
// `order`, then queries for 40 ms.
awaitable<void> noted_query(fakedb::connection& c, int n,
                            std::vector<int>& order) {
  order.push_back(n);
  co_await c.query("SELECT * FROM items", 40ms);
}

// One user: `async with pool.acquire() as conn:` through your
// with_connection, which acquires, runs the query and gives it back.
awaitable<void> pool_user(lesson12::connection_pool& pool, int n,
                          std::vector<int>& order) {
  co_await lesson12::with_connection(pool, [&order, n](fakedb::connection& c) {
    return noted_query(c, n, order);
  });
}

// A use whose connection the network drops before its query: the query
// fails, and the connection must not go back to the idle list.
awaitable<void> breaking_query(fakedb::connection& c) {
  c.sever();
  co_await c.query("SELECT 1");
}

// Twelve users at once on a pool of three: four rounds of 40 ms. The
// database sees three connections, each opened once and reset after every
// use.
awaitable<void> twelve_users() {
  auto ex = co_await asio::this_coro::executor;
  fakedb::service db;
  lesson12::connection_pool pool(db, {3, 1s, 100ms});
  std::vector<int> order;
  auto start = tut::now();
  int done = 0;
  for (int n = 1; n <= 12; ++n)
    co_spawn(ex, tut::traced(fmt::format("user {}", n),
                             pool_user(pool, n, order)),
             [&done](std::exception_ptr) { ++done; });
  while (done < 12 && since(start) < 3) co_await tut::sleep(5ms);
  fmt::print("twelve users, a pool of 3: done in {:.2f} s\n", since(start));
  fmt::print("  served in the order {}\n", fmt::join(order, " "));
  fmt::print("  the database: {} opened, {} at most at once, {} resets\n",
             db.stats().opened, db.stats().peak_open, db.stats().resets);

  // A user whose connection breaks: the pool lets it go, and the next
  // user gets a new one.
  co_await outcome(lesson12::with_connection(pool, breaking_query));
  fmt::print("  a broken connection: {} let go; idle now: {}\n",
             db.stats().dropped, pool.idle());

  // An acquire that waits longer than acquire_timeout gives up.
  lesson12::connection_pool one(db, {1, 100ms, 100ms});
  auto long_query = [](fakedb::connection& c) {
    return run_query(c, "SELECT pg_sleep(0.3)", 300ms);
  };
  auto short_query = [](fakedb::connection& c) {
    return run_query(c, "SELECT 1", 10ms);
  };
  co_spawn(ex, outcome(lesson12::with_connection(one, long_query)), detached);
  co_await tut::sleep(20ms);
  auto asked = tut::now();
  auto second =
      co_await outcome(lesson12::with_connection(one, short_query));
  fmt::print("  a second user of a busy pool of 1: after {:.2f} s, {}\n\n",
             since(asked), second);
  co_await tut::sleep(300ms);  // the first one finishes
}

// A client: one request on a connection of its own, the reply parsed.
awaitable<http::received> ask(unsigned short port, std::string target) {
  asio::ip::tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port},
                           use_awaitable);
  auto request = fmt::format("GET {} HTTP/1.1\r\nHost: demo\r\n"
                             "Connection: close\r\n\r\n",
                             target);
  co_await asio::async_write(s, asio::buffer(request), use_awaitable);
  std::string in;
  char chunk[4096];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(chunk),
                                              as_tuple(use_awaitable));
    in.append(chunk, n);
    auto r = http::parse_response(in, bool(ec));
    if (r.status == http::parse_status::complete) co_return r.res;
    if (ec) co_return http::received{};
  }
}

// Six requests at once to the web app, whose pool holds 2 connections:
// they take turns on them. Then one whose query the database refuses
// (500), and one whose connection breaks (500): both release theirs.
awaitable<void> tour(unsigned short port, fakedb::service db,
                     lesson12::connection_pool& pool) {
  auto ex = co_await asio::this_coro::executor;
  fmt::print("the web app on http://127.0.0.1:{}, a pool of 2:\n", port);
  int answered = 0;
  auto start = tut::now();
  for (int id = 1; id <= 6; ++id)
    co_spawn(ex, ask(port, fmt::format("/items/{}", id)),
             [&answered](std::exception_ptr, http::received r) {
               answered += r.status == 200;
             });
  while (answered < 6 && since(start) < 3) co_await tut::sleep(2ms);
  fmt::print("  6 x GET /items/{{id}} at once: {} answered in {:.3f} s\n",
             answered, since(start));
  for (auto target : {"/fail", "/crash", "/items/7"}) {
    auto r = co_await ask(port, target);
    co_await tut::sleep(10ms);  // the cleanup after the reply
    fmt::print("  GET {:<9} {}  (pool: {} idle, {} in use)\n", target,
               r.status, pool.idle(), pool.in_use());
  }
  fmt::print("  the database: {} opened, {} at most at once, {} resets, "
             "{} let go\n",
             db.stats().opened, db.stats().peak_open, db.stats().resets,
             db.stats().dropped);
}

// The web app and its tour race: when the tour is done, || cancels the
// server, which closes its connections and ends. SIGINT or SIGTERM ends
// both at once.
awaitable<void> web_app(asio::signal_set& signals) {
  fakedb::service db(fakedb::latencies{5ms, 20ms, 2ms, 2ms});
  lesson12::connection_pool pool(db, {2, 1s, 100ms});
  web::server_stats stats;
  web::config cfg;  // 127.0.0.1, any free port
  auto wait_then_tour = [&]() -> awaitable<void> {
    while (stats.port == 0) co_await tut::sleep(1ms);
    co_await tour(stats.port, db, pool);
  };
  co_await (lesson12::serve(cfg, pool, stats) ||
            wait_then_tour() || signals.async_wait(use_awaitable));
  co_await tut::sleep(20ms);  // the releases started at shutdown
}

// The three parts in turn, each raced against SIGINT and SIGTERM, so that
// Ctrl-C ends the demo at once.
awaitable<void> main_coroutine() {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT,
                           SIGTERM);
  co_await (tut::traced("three endings", three_endings()) ||
            signals.async_wait(use_awaitable));
  co_await (tut::traced("a pool", twelve_users()) ||
            signals.async_wait(use_awaitable));
  co_await tut::traced("the web app", web_app(signals));
}

}  // namespace

// Runs it all, then draws the timeline of the tasks.
int main() {
  try {
    tut::run(main_coroutine());
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
