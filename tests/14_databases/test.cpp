// Lesson 14 grading. Task 1 is blocking code, called directly. The other
// tasks use a real SQLite file and the lanes' real threads, so they run in
// real time (a few tenths of a second each), and they are judged by what
// was seen, never by a stopwatch alone: which thread ran each statement,
// how many times the loop's lag monitor ticked while it ran (none at all
// means it held the loop), how many statements ran at once, what the file
// holds afterwards. The database side is seen through SQL functions the
// tests add to every connection: slow(label, ms) takes `ms` and notes
// when, where and on which connection it ran; tick(x) takes 1 ms a row and
// counts the rows, so that a runaway query shows where it was stopped.
#include "sides.hpp"

#include "real_time.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace asio::experimental::awaitable_operators;

namespace {

using duration = tut::clock::duration;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;
using real_time::expect_finished;
using real_time::loop_watch;
using real_time::watched_loop;

double ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---- A database file per scenario ---------------------------------------

// In memory (/dev/shm) where there is one: a disk's fsync costs 10 ms
// here, and each commit makes one.
class scratch {
public:
  scratch() {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                     : fs::temp_directory_path();
    std::string pattern = (base / "asynclings-14-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
    dir_ = pattern;
  }
  ~scratch() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  fs::path file() const { return dir_ / "shop.db"; }

private:
  fs::path dir_;
};

// A connection of the test's own, outside the lanes, to look at the file.
sqlite::connection look_at(const scratch& s) {
  return sqlite::connection(s.file().string(), SQLITE_OPEN_READWRITE);
}

sqlite::rows select(sqlite::connection& c, const std::string& sql) {
  sqlite::statement s(c, sql);
  sqlite::rows out;
  while (s.step()) out.push_back(s.current_row());
  return out;
}

std::int64_t count(sqlite::connection& c, const std::string& sql) {
  return sqlite::as<std::int64_t>(select(c, sql).at(0).at(0));
}

// ---- What the database side saw ------------------------------------------

struct probe {
  struct call {
    std::string label;
    std::thread::id thread;
    bool read_only = false;  // on a reader (opened read-only)
    steady::time_point start, end;
    std::size_t loop_ticks = 0;  // while it ran
  };

  steady::time_point t0 = steady::now();
  loop_watch* watch = nullptr;
  std::atomic<int> rows_ticked{0};  // tick() calls
  std::atomic<bool> interrupted{false};

  void add(call c) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(c));
  }
  std::vector<call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  const call* find(const std::vector<call>& all, std::string_view label) const {
    for (const auto& c : all)
      if (c.label == label) return &c;
    return nullptr;
  }
  double at(steady::time_point t) const { return ms_between(t0, t); }

private:
  mutable std::mutex mutex_;
  std::vector<call> calls_;
};

// The most calls that ran at the same time.
int peak(const std::vector<probe::call>& calls) {
  int best = 0;
  for (const auto& c : calls) {
    int at_once = 0;
    for (const auto& other : calls)
      if (other.start <= c.start && c.start < other.end) ++at_once;
    best = std::max(best, at_once);
  }
  return best;
}

// slow(label, ms): holds its connection's thread for `ms`, as a long query
// would, and notes it.
void slow_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto& p = *static_cast<probe*>(sqlite3_user_data(ctx));
  probe::call c;
  auto text = sqlite3_value_text(argv[0]);
  c.label = text ? reinterpret_cast<const char*>(text) : "";
  c.thread = std::this_thread::get_id();
  c.read_only = sqlite3_db_readonly(sqlite3_context_db_handle(ctx), "main") == 1;
  auto before = p.watch ? p.watch->ticks() : 0;
  c.start = steady::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(sqlite3_value_int64(argv[1])));
  c.end = steady::now();
  c.loop_ticks = (p.watch ? p.watch->ticks() : 0) - before;
  p.add(std::move(c));
  sqlite3_result_int64(ctx, sqlite3_value_int64(argv[1]));
}

// tick(x): 1 ms a row, counted; returns x.
void tick_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto& p = *static_cast<probe*>(sqlite3_user_data(ctx));
  ++p.rows_ticked;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]));
}

db::options options_for(const scratch& s, probe& p, int readers = 4,
                        std::chrono::milliseconds latency = 0ms) {
  db::options o;
  o.path = s.file();
  o.readers = readers;
  o.latency = latency;
  o.on_open = [&p](sqlite3* c) {
    sqlite3_create_function(c, "slow", 2, SQLITE_UTF8, &p, slow_function, nullptr, nullptr);
    sqlite3_create_function(c, "tick", 1, SQLITE_UTF8, &p, tick_function, nullptr, nullptr);
  };
  return o;
}

// What every scenario on real threads stands on: a file, the probe on its
// connections, and the loop watch the probe reads.
struct test_ground {
  scratch dir;
  probe p;
  loop_watch watch;
  db::options opts;
  explicit test_ground(int readers = 4, std::chrono::milliseconds latency = 0ms) {
    p.watch = &watch;
    opts = options_for(dir, p, readers, latency);
  }
};

constexpr int lane_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

// A query that would take a second, 1 ms a row (tick), unless stopped.
constexpr int runaway_rows = 1000;
const std::string runaway_sql =
    "WITH RECURSIVE n(x) AS (VALUES (1) UNION ALL SELECT x + 1 FROM n "
    "WHERE x < 1000) SELECT sum(tick(x)) FROM n";

// Jobs for a lane, written with the given statement type (not with your
// query(), so that task 2 and task 6 stand on their own).
db::work slow_select(std::string label, int ms) {
  return [label, ms](sqlite::connection& c) {
    sqlite::statement s(c, "SELECT slow(?, ?), 'the answer, forty-two, from the lane'");
    s.bind(1, label);
    s.bind(2, std::int64_t{ms});
    sqlite::rows out;
    while (s.step()) out.push_back(s.current_row());
    return out;
  };
}

db::work runaway(probe& p) {
  return [&p](sqlite::connection& c) -> sqlite::rows {
    sqlite::statement s(c, runaway_sql);
    try {
      s.step();
      return {s.current_row()};
    } catch (const sqlite::error& e) {
      if (e.code() == SQLITE_INTERRUPT) p.interrupted = true;
      throw;
    }
  };
}

// After code that may have gone on on a lane's thread: back to the loop,
// before a lane or a database is destroyed.
awaitable<void> back_to_loop() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// ---- Showing values --------------------------------------------------------

std::string show(const sqlite::row& r) {
  std::vector<std::string> values;
  for (const auto& v : r) values.push_back(sqlite::to_string(v));
  return fmt::format("({})", fmt::join(values, ", "));
}
std::string show(const sqlite::rows& rows) {
  std::vector<std::string> shown;
  for (const auto& r : rows) shown.push_back(show(r));
  return grade::list(shown);
}
std::string show(const std::optional<sqlite::rows>& rows) {
  return rows ? show(*rows) : "nothing";
}
std::string show(const std::optional<std::optional<shop::dashboard>>& d) {
  if (!d) return "nothing";
  if (!*d) return "no dashboard";
  return shop::to_json(**d);
}

std::string rows_word(std::size_t n) {
  return fmt::format("{} row{}", n, n == 1 ? "" : "s");
}
template <typename T>
std::string what_it_did(const grade::outcome<T>& run) {
  if (run.template threw<tut::deadlock_error>())
    return "never came back: the loop ran out of work while it waited, and its "
           "handler was never called (Asio destroys a coroutine whose handler "
           "is dropped)";
  return fmt::format("threw {} (\"{}\")", run.error_type, run.error);
}

// ---- The two sides, as a table of functions -------------------------------

struct side {
  awaitable<sqlite::rows> (*call)(db::lane&, db::work);
  awaitable<std::unique_ptr<db::database>> (*open)(db::options);
  awaitable<sqlite::rows> (*read)(db::database&, std::string, sqlite::params);
  awaitable<sqlite::rows> (*write)(db::database&, std::string, sqlite::params);
  awaitable<std::int64_t> (*add_user)(db::database&, std::string, std::string);
  awaitable<std::vector<shop::user>> (*find_users)(db::database&, std::string);
  awaitable<std::optional<shop::dashboard>> (*load_dashboard)(db::database&,
                                                             std::int64_t);
};

const side your_side{yours::call, yours::open_database, yours::read,
                     yours::write, yours::add_user, yours::find_users,
                     yours::load_dashboard};
const side reference_side{reference::call, reference::open_database,
                          reference::read, reference::write,
                          reference::add_user, reference::find_users,
                          reference::load_dashboard};

// The same scenario, run through your code and through the reference.
template <typename Scenario>
auto both_sides(Scenario scenario) {
  auto actual = scenario(your_side);
  return std::pair{std::move(actual), scenario(reference_side)};
}

// ============================================================================
// Task 1: query, blocking, on a connection of the test's own
// ============================================================================

struct query_result {
  std::optional<sqlite::rows> rows;
  std::string error_type, error;
  std::int64_t items_after = 0;  // rows in the table afterwards
};

// A fresh file with four items in it, and `query(c, sql, params)` on it.
template <typename Query>
query_result try_query(Query query, const std::string& sql,
                       const sqlite::params& params,
                       const std::string& then = {}) {
  scratch s;
  sqlite::connection c(s.file().string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  c.exec(R"sql(
    CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, note TEXT);
    INSERT INTO items VALUES
      (1, 'a keyboard with a long name', 49.5, NULL),
      (2, 'a box of green tea leaves', 12.0, 'fragile, keep it dry'),
      (3, 'a mug with a chipped handle', 2.0, NULL),
      (4, 'a teapot made of cast iron', 35.25, 'heavy'))sql");
  query_result out;
  try {
    out.rows = query(c, sql, params);
    if (!then.empty()) out.rows = select(c, then);
  } catch (...) {
    auto e = std::current_exception();
    out.error_type = grade::type_name(e);
    out.error = grade::describe_exception(e);
  }
  out.items_after = count(c, "SELECT count(*) FROM items");
  return out;
}

std::string outcome_of(const query_result& r) {
  if (r.rows) return fmt::format("gave {}: {}", rows_word(r.rows->size()), show(r.rows));
  return fmt::format("threw {} (\"{}\")", r.error_type, r.error);
}

void expect_rows(const query_result& actual, const query_result& expected,
                 std::string_view doing) {
  if (!expected.rows) FAIL("the reference solution failed this case: " + expected.error);
  if (!actual.rows)
    FAIL(fmt::format("{} {}; expected {}: {}", doing, outcome_of(actual),
                     rows_word(expected.rows->size()), show(expected.rows)));
  if (*actual.rows != *expected.rows)
    FAIL(fmt::format("{} gave {}: {}\n  expected {}: {}", doing,
                     rows_word(actual.rows->size()), show(actual.rows),
                     rows_word(expected.rows->size()), show(expected.rows)));
}

const std::string tricky_name =
    "Siobhán's \"best\" keyboard'); DROP TABLE items; --";

TEST_CASE("query gives every row a SELECT makes, each value in its own type",
          "[lesson14][task1]") {
  const std::string sql =
      "SELECT id, name, price, note FROM items WHERE price > ? ORDER BY id";
  auto actual = try_query(yours::query, sql, {10.0});
  auto expected = try_query(reference::query, sql, {10.0});
  expect_rows(actual, expected, "query(c, \"" + sql + "\", {10.0})");
}

TEST_CASE("query binds a value as a value: quotes in it are only text",
          "[lesson14][task1]") {
  const std::string insert = "INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)";
  sqlite::params values{std::int64_t{5}, tricky_name, 20.5, nullptr};
  const std::string then = "SELECT id, name, price, note FROM items WHERE id = 5";
  auto actual = try_query(yours::query, insert, values, then);
  auto expected = try_query(reference::query, insert, values, then);
  expect_rows(actual, expected,
              "after query(c, \"" + insert + "\", {5, \"" + tricky_name +
                  "\", 20.5, NULL}), the table");
}

TEST_CASE("query refuses the wrong number of values with "
          "std::invalid_argument, and runs nothing",
          "[lesson14][task1]") {
  const std::string insert = "INSERT INTO items (id, name, price) VALUES (?, ?, ?)";
  struct {
    sqlite::params values;
    std::string shown;
  } cases[] = {
      {{std::int64_t{6}, std::string("a kettle that whistles loudly")},
       "2 values for 3 placeholders"},
      {{std::int64_t{6}, std::string("a kettle that whistles loudly"), 18.0,
        std::string("a fourth value, with no place")},
       "4 values for 3 placeholders"},
  };
  for (const auto& c : cases) {
    auto actual = try_query(yours::query, insert, c.values);
    auto expected = try_query(reference::query, insert, c.values);
    if (expected.error_type != "std::invalid_argument")
      FAIL("the reference solution did not refuse " + c.shown);
    if (actual.error_type != expected.error_type) {
      auto written = actual.items_after > expected.items_after
                         ? " and wrote a row with NULL where the missing value goes"
                         : "";
      FAIL(fmt::format(
          "query(c, \"{}\", ...) with {} {}{}; expected std::invalid_argument "
          "(\"{}\"), as Python's sqlite3 raises ProgrammingError \"Incorrect "
          "number of bindings supplied\"",
          insert, c.shown, outcome_of(actual), written, expected.error));
    }
    if (actual.items_after != expected.items_after)
      FAIL(fmt::format("query refused {}, but only after it had written a row: "
                       "the table has {} items instead of {}",
                       c.shown, actual.items_after, expected.items_after));
  }
}

TEST_CASE("an error SQLite reports comes out of query as sqlite::error, with "
          "SQLite's message",
          "[lesson14][task1]") {
  for (std::string sql : {"SELECT name FROM no_such_table_of_items",
                          "INSERT INTO items (id, name) VALUES (1, 'the id 1 is taken already')"}) {
    auto actual = try_query(yours::query, sql, {});
    auto expected = try_query(reference::query, sql, {});
    if (expected.error_type != "sqlite::error")
      FAIL("the reference solution did not fail on " + sql);
    if (actual.error_type != expected.error_type || actual.error != expected.error)
      FAIL(fmt::format("query(c, \"{}\", {{}}) {}; expected sqlite::error "
                       "(\"{}\")",
                       sql, outcome_of(actual), expected.error));
  }
}

// ============================================================================
// Task 2: call, on a lane of one thread
// ============================================================================

struct call_run {
  grade::outcome<sqlite::rows> run;
  std::thread::id loop_thread, resumed_on;
  std::vector<probe::call> calls;
  duration max_lag{0};
};

template <typename MakeWork>
call_run run_call(const side& s, MakeWork make_work) {
  call_run out;
  test_ground g;
  auto& p = g.p;
  out.run = real_time::run([&]() -> awaitable<sqlite::rows> {
    watched_loop loop(co_await asio::this_coro::executor, g.watch);
    db::lane lane("test lane", g.opts, 1, lane_flags);
    out.loop_thread = std::this_thread::get_id();
    std::exception_ptr error;
    sqlite::rows rows;
    try {
      rows = co_await tut::traced("call", s.call(lane, make_work(p)));
    } catch (...) {
      error = std::current_exception();
    }
    out.resumed_on = std::this_thread::get_id();
    co_await back_to_loop();
    out.max_lag = loop.monitor.max_lag();
    if (error) std::rethrow_exception(error);
    co_return rows;
  });
  out.calls = p.calls();
  return out;
}

void expect_call_returned(const call_run& actual, const call_run& expected) {
  expect_finished(actual.run, expected.run, "co_await call(lane, work)");
  grade::reference_runs(expected.run);
  GRADE(actual.run.ok(),
        fmt::format("co_await call(lane, work) {}; the work returned {}",
                    what_it_did(actual.run), show(expected.run.value)),
        actual.run, expected.run);
  GRADE(actual.run.value == expected.run.value,
        fmt::format("co_await call(lane, work) returned {}; the work returned {}",
                    show(actual.run.value), show(expected.run.value)),
        actual.run, expected.run);
}

const call_run& your_200ms_call() {
  static const auto r = run_call(your_side, [](probe&) { return slow_select("the 200 ms query", 200); });
  return r;
}
const call_run& reference_200ms_call() {
  static const auto r = run_call(reference_side, [](probe&) { return slow_select("the 200 ms query", 200); });
  return r;
}

TEST_CASE("a 200 ms query runs on the lane's thread, and the loop keeps "
          "ticking all the while",
          "[lesson14][task2]") {
  const auto& actual = your_200ms_call();
  const auto& expected = reference_200ms_call();
  expect_call_returned(actual, expected);
  REQUIRE(!actual.calls.empty());
  const auto& q = actual.calls.front();
  GRADE(q.thread != actual.loop_thread,
        "the query ran on the loop's own thread: a connection belongs to its "
        "lane's thread, and the loop must never run a statement",
        actual.run, expected.run);
  GRADE(q.loop_ticks > 0,
        fmt::format("while the query ran on the lane's thread for 200 ms, the "
                    "loop did not tick once (the lag monitor saw it stalled for "
                    "{}): the loop's thread was held, waiting for the query, "
                    "instead of running other tasks",
                    secs(tut::seconds(actual.max_lag).count())),
        actual.run, expected.run);
}

TEST_CASE("after co_await call, the caller goes on on the loop's thread",
          "[lesson14][task2]") {
  const auto& actual = your_200ms_call();
  const auto& expected = reference_200ms_call();
  expect_call_returned(actual, expected);
  GRADE(actual.resumed_on == actual.loop_thread,
        "after co_await call(...) the caller went on on another thread than "
        "the loop's (the lane's, it seems): the rest of the coroutine then "
        "runs beside the loop, and touches the loop's data from there. The "
        "handler must be run on its own executor, not called on the lane's "
        "thread",
        actual.run, expected.run);
}

TEST_CASE("an exception the work throws comes out of co_await call as "
          "itself",
          "[lesson14][task2]") {
  auto failing = [](probe&) -> db::work {
    return [](sqlite::connection& c) {
      sqlite::statement s(c, "SELECT total FROM no_such_table_of_orders");
      s.step();
      return sqlite::rows{};
    };
  };
  auto actual = run_call(your_side, failing);
  auto expected = run_call(reference_side, failing);
  expect_finished(actual.run, expected.run, "co_await call(lane, work)");
  GRADE(actual.run.error_type == expected.run.error_type &&
            actual.run.error == expected.run.error,
        actual.run.exception
            ? fmt::format("co_await call(...) {}; the work threw {} (\"{}\"), "
                          "and that is what the caller should catch",
                          what_it_did(actual.run), expected.run.error_type,
                          expected.run.error)
            : fmt::format("the work threw {} (\"{}\"), but co_await call(...) "
                          "returned {}: the error was lost on the way back",
                          expected.run.error_type, expected.run.error,
                          show(actual.run.value)),
        actual.run, expected.run);
}

// ============================================================================
// Tasks 3 to 5: a database, opened by your open_database
// ============================================================================

// The users of the shop: 20 of them (ids 1 to 20), then two with quotes in
// their names.
const std::string irish_name = "Siobhán O'Brien-Fitzgerald";

void fill(const scratch& s) {
  sqlite::connection c(s.file().string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  shop::create_and_fill(c, 20);
  c.exec("INSERT INTO users (id, name, email) VALUES "
         "(21, 'Siobhán O''Brien-Fitzgerald', 'siobhan.obrien@example.com'), "
         "(22, 'Siobhán O''Brien-Fitzgerald', 'the.other.siobhan@example.com')");
}

struct settings {
  int readers = 4;
  std::chrono::milliseconds latency = 0ms;
};

template <typename T>
struct shop_run {
  grade::outcome<T> run;
  std::vector<probe::call> calls;
  probe::call none;  // what find() gives when a call is missing
  int reader_peak = 0;
  std::string journal_mode;
  std::int64_t users_after = 0;
  std::optional<bool> writer_in_transaction;  // looked at after the body
  std::size_t lock_free = 0;                  // write_lock.available() after
  steady::time_point t0;
  const probe::call& find(std::string_view label) const {
    for (const auto& c : calls)
      if (c.label == label) return c;
    return none;
  }
  double at(steady::time_point t) const { return ms_between(t0, t); }
};

// Opens the shop with the side's open_database and runs `body(d, p)` on it.
// Afterwards, while the database is still open, asks the writer (with the
// reference's call) whether it is inside a transaction.
template <typename Body>
auto with_shop(const side& s, Body body, settings set = {}) {
  using T = typename std::invoke_result_t<Body&, db::database&, probe&>::value_type;
  shop_run<T> out;
  test_ground g(set.readers, set.latency);
  auto& p = g.p;
  fill(g.dir);
  out.t0 = p.t0 = steady::now();
  out.run = real_time::run([&]() -> awaitable<T> {
    watched_loop loop(co_await asio::this_coro::executor, g.watch);
    auto d = co_await s.open(g.opts);
    std::exception_ptr error;
    std::optional<T> value;
    try {
      value.emplace(co_await body(*d, p));
    } catch (...) {
      error = std::current_exception();
    }
    co_await back_to_loop();
    out.reader_peak = d->readers.peak_busy();
    out.lock_free = d->write_lock.available();
    db::work look = [](sqlite::connection& c) {
      return sqlite::rows{{std::int64_t{sqlite3_get_autocommit(c.get()) == 0}}};
    };
    auto in_tx = co_await reference::call(d->writer, std::move(look));
    out.writer_in_transaction = sqlite::as<std::int64_t>(in_tx.at(0).at(0)) != 0;
    d.reset();
    if (error) std::rethrow_exception(error);
    co_return std::move(*value);
  }, 3000ms);
  out.calls = p.calls();
  auto c = look_at(g.dir);
  out.journal_mode = sqlite::as<std::string>(select(c, "PRAGMA journal_mode").at(0).at(0));
  out.users_after = count(c, "SELECT count(*) FROM users");
  return out;
}

template <typename A, typename B>
void expect_ran(const shop_run<A>& actual, const shop_run<B>& expected,
                std::string_view doing) {
  expect_finished(actual.run, expected.run, doing);
  grade::reference_runs(expected.run);
  auto pasted = actual.run.error.find("syntax error") != std::string::npos
                    ? ": SQL of yours had a syntax error where a value with "
                      "a quote went, so the value was pasted into the SQL "
                      "text, and its quote ended a string"
                    : "";
  GRADE(actual.run.ok(),
        fmt::format("{} {}{}", doing, what_it_did(actual.run), pasted),
        actual.run, expected.run);
}

// Both runs of `doing` returned, and the same value; `what` says what
// returned it.
template <typename A>
void expect_same_value(const shop_run<A>& actual, const shop_run<A>& expected,
                       std::string_view doing, std::string_view what) {
  expect_ran(actual, expected, doing);
  GRADE(actual.run.value == expected.run.value,
        fmt::format("{} {}\n  expected {}", what, show(actual.run.value),
                    show(expected.run.value)),
        actual.run, expected.run);
}

// ---- What later tasks stand on ---------------------------------------------

// Later tasks run on your query and call, and tasks 4 and 5 on your read and
// write too. When those do not work yet, a test of a later task says so
// instead of failing in a way that tells nothing.
void require_query() {
  static const bool works = [] {
    auto r = try_query(yours::query, "SELECT name FROM items WHERE id = ?", {std::int64_t{2}});
    return r.rows && r.rows->size() == 1;
  }();
  if (!works)
    FAIL("this test runs statements through your query(), which does not "
         "give a statement's rows yet: make the tests of task 1 pass first");
}

void require_call() {
  static const bool works = [] {
    auto r = run_call(your_side, [](probe&) { return slow_select("a quick query", 0); });
    return r.run.ok() && !r.run.value->empty();
  }();
  if (!works)
    FAIL("this test runs jobs through your call(), which does not hand back "
         "a job's rows yet: make the tests of task 2 pass first");
}

// ---- Task 3 ----------------------------------------------------------------

auto four_reads(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<sqlite::rows> {
    auto reader = [&](int n) {
      return tut::traced(fmt::format("read {}", n),
                         s.read(d, fmt::format("SELECT slow('read {}', 100) FROM users WHERE id = {}", n, n), {}));
    };
    auto [a, b, c, e] = co_await (reader(1) && reader(2) && reader(3) && reader(4));
    sqlite::rows all;
    for (auto* r : {&a, &b, &c, &e}) all.insert(all.end(), r->begin(), r->end());
    co_return all;
  });
}

TEST_CASE("four reads at once run side by side, one on each reader",
          "[lesson14][task3]") {
  require_query();
  require_call();
  auto [actual, expected] = both_sides(four_reads);
  expect_same_value(actual, expected, "four reads at once", "the four reads returned");
  auto on_writer = std::count_if(actual.calls.begin(), actual.calls.end(),
                                 [](const probe::call& c) { return !c.read_only; });
  GRADE(on_writer == 0,
        fmt::format("{} of the four reads ran on the writer's connection: "
                    "reads go to the readers, which run several at once",
                    on_writer),
        actual.run, expected.run);
  GRADE(peak(actual.calls) == peak(expected.calls),
        fmt::format("the database ran at most {} of your four reads of 100 ms "
                    "at the same time (they took {} together); with {} "
                    "readers all four run at once",
                    peak(actual.calls), secs(actual.run.seconds()), 4),
        actual.run, expected.run);
}

auto write_then_read(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<sqlite::rows> {
    sqlite::params user{std::string("a user written by the task three test"),
                        std::string("task.three@example.com")};
    co_await tut::traced("write", s.write(d, "INSERT INTO users (name, email) VALUES (?, ?)", user));
    sqlite::params email{std::string("task.three@example.com")};
    co_return co_await tut::traced("read", s.read(d, "SELECT name, email FROM users WHERE email = ?", email));
  });
}

void require_read_write() {
  require_query();
  require_call();
  static const bool works = [] {
    auto r = write_then_read(your_side);
    return r.run.ok() && !r.run.value->empty();
  }();
  if (!works)
    FAIL("this test runs statements through your write() and read(), and a "
         "row written with write() is not there for read() yet: make the "
         "tests of task 3 pass first");
}

// A case of tasks 3 and 4: once write() and read() work, `scenario` on both
// sides, expected to run to its end.
template <typename Scenario>
auto ran_over_write_and_read(Scenario scenario, std::string_view doing) {
  require_read_write();
  auto sides = both_sides(scenario);
  expect_ran(sides.first, sides.second, doing);
  return sides;
}

TEST_CASE("a write goes to the writer, and a read after it sees the row",
          "[lesson14][task3]") {
  require_query();
  require_call();
  auto [actual, expected] = both_sides(write_then_read);
  expect_same_value(actual, expected, "a write, then a read of the row",
                    "after the write had returned, the read gave");
  GRADE(actual.users_after == expected.users_after,
        fmt::format("afterwards the file holds {} users; expected {}",
                    actual.users_after, expected.users_after),
        actual.run, expected.run);
}

auto write_during_read(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<steady::time_point> {
    auto reading = tut::traced("read of 200 ms",
        s.read(d, "SELECT slow('the long read', 200) FROM users WHERE id = 1", {}));
    auto writing = [&]() -> awaitable<steady::time_point> {
      co_await tut::sleep(50ms);
      sqlite::params user{std::string("a user written during a long read"),
                          std::string("during.a.read@example.com")};
      co_await tut::traced("write", s.write(d, "INSERT INTO users (name, email) VALUES (?, ?)", user));
      co_return steady::now();
    };
    auto [rows, written] = co_await (std::move(reading) && writing());
    (void)rows;
    co_return written;
  });
}

TEST_CASE("in WAL mode a write does not wait for a read: it ends while a "
          "200 ms read still runs",
          "[lesson14][task3]") {
  auto [actual, expected] =
      ran_over_write_and_read(write_during_read, "a write during a long read");
  const auto& read = actual.find("the long read");
  GRADE(read.label == "the long read",
        "read(d, \"SELECT slow('the long read', 200) ...\") returned without "
        "the database running it",
        actual.run, expected.run);
  auto write_end = actual.at(*actual.run.value);
  auto read_end = actual.at(read.end);
  auto why = !read.read_only
                 ? ". The read ran on the writer's connection, so the write "
                   "waited behind it, in the writer's line"
             : actual.journal_mode != "wal"
                 ? fmt::format(". The file is in journal mode '{}': with a "
                               "rollback journal a write must wait until no "
                               "one reads; in WAL mode it waits for no reader",
                               actual.journal_mode)
                 : std::string();
  GRADE(write_end < read_end,
        fmt::format("the write started at 50 ms, while a read of 200 ms ran, "
                    "and ended at {:.0f} ms, {} the read ({:.0f} ms){}",
                    write_end, write_end < read_end ? "before" : "after",
                    read_end, why),
        actual.run, expected.run);
}

auto read_that_writes(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<sqlite::rows> {
    co_return co_await s.read(
        d, "INSERT INTO users (name, email) VALUES ('a user a read wrote', 'read@example.com')", {});
  });
}

TEST_CASE("the readers are read-only: a statement that writes fails on them",
          "[lesson14][task3]") {
  require_query();
  require_call();
  auto [actual, expected] = both_sides(read_that_writes);
  expect_finished(actual.run, expected.run, "read(d, \"INSERT ...\")");
  GRADE(actual.run.error_type == "sqlite::error" && actual.run.error == expected.run.error,
        actual.run.ok() && actual.users_after > expected.users_after
            ? fmt::format("read(d, \"INSERT ...\") wrote a row ({} users "
                          "afterwards instead of {}): it ran on the writer, "
                          "which can write; the readers cannot",
                          actual.users_after, expected.users_after)
        : actual.run.ok()
            ? fmt::format("read(d, \"INSERT ...\") returned {} and wrote "
                          "nothing, without an error: the readers are "
                          "read-only, and SQLite's error (\"{}\") should "
                          "come out of read()",
                          show(actual.run.value), expected.run.error)
            : fmt::format("read(d, \"INSERT ...\") {}; expected sqlite::error "
                          "(\"{}\")",
                          what_it_did(actual.run), expected.run.error),
        actual.run, expected.run);
}

// ---- Task 4 ----------------------------------------------------------------

struct added {
  std::int64_t id = 0;
  sqlite::rows stored;  // what the file holds for that id
  bool operator==(const added&) const = default;
};

auto add_tricky_users(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<std::vector<added>> {
    std::vector<added> out;
    for (auto [name, email] : {std::pair{irish_name, std::string("siobhan's.own@example.com")},
                               std::pair{std::string("Robert'); DROP TABLE users; --"),
                                         std::string("little.bobby@example.com")}}) {
      auto id = co_await tut::traced("add_user", s.add_user(d, name, email));
      sqlite::params which{id};
      auto stored = co_await reference::read(d, "SELECT id, name, email FROM users WHERE id = ?", which);
      out.push_back({id, std::move(stored)});
    }
    co_return out;
  });
}

std::string show(const std::optional<std::vector<added>>& v) {
  if (!v) return "nothing";
  std::vector<std::string> shown;
  for (const auto& a : *v) shown.push_back(fmt::format("id {}: {}", a.id, show(a.stored)));
  return grade::list(shown);
}

TEST_CASE("add_user stores the name and the e-mail as they are, quotes and "
          "all, and returns the new id",
          "[lesson14][task4]") {
  auto [actual, expected] =
      ran_over_write_and_read(add_tricky_users, "add_user");
  GRADE(actual.run.value == expected.run.value && actual.users_after == expected.users_after,
        fmt::format("after add_user(\"{}\", ...) and add_user(\"Robert'); DROP "
                    "TABLE users; --\", ...) the file holds {} users; expected "
                    "{}. add_user returned, and the file holds for those ids: "
                    "{}; expected {}",
                    irish_name, actual.users_after, expected.users_after,
                    show(actual.run.value), show(expected.run.value)),
        actual.run, expected.run);
}

std::string show(const std::vector<shop::user>& users) {
  std::vector<std::string> shown;
  for (const auto& u : users) shown.push_back(fmt::format("{} '{}'", u.id, u.name));
  return grade::list(shown);
}

auto find_tricky_names(const side& s) {
  return with_shop(s, [&s](db::database& d, probe&) -> awaitable<std::vector<std::vector<shop::user>>> {
    std::vector<std::vector<shop::user>> out;
    for (auto name : {irish_name, std::string("nobody' OR '1'='1"),
                      std::string("x'; DROP TABLE users; --")})
      out.push_back(co_await tut::traced("find_users", s.find_users(d, name)));
    co_return out;
  });
}

TEST_CASE("find_users binds the name: a quote in it is found, an injection "
          "finds nobody",
          "[lesson14][task4]") {
  auto [actual, expected] =
      ran_over_write_and_read(find_tricky_names, "find_users");
  const char* names[] = {"Siobhán O'Brien-Fitzgerald", "nobody' OR '1'='1",
                         "x'; DROP TABLE users; --"};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& got = actual.run.value->at(i);
    const auto& want = expected.run.value->at(i);
    GRADE(got == want,
          fmt::format("find_users(d, \"{}\") found {}; expected {}{}", names[i],
                      show(got), show(want),
                      i > 0 && got.size() > want.size()
                          ? ": the name became part of the SQL, and the SQL "
                            "it made finds everybody (an injection)"
                          : ""),
          actual.run, expected.run);
  }
  GRADE(actual.users_after == expected.users_after,
        fmt::format("after find_users, the file holds {} users; it held {}",
                    actual.users_after, expected.users_after),
        actual.run, expected.run);
}

auto dashboard_of(const side& s, std::int64_t user_id) {
  return with_shop(s, [&s, user_id](db::database& d, probe&) {
    return tut::traced(fmt::format("load_dashboard({})", user_id),
                       s.load_dashboard(d, user_id));
  }, settings{4, 40ms});
}

TEST_CASE("load_dashboard reads the user, the orders and the "
          "recommendations at the same time",
          "[lesson14][task4]") {
  require_read_write();
  auto [actual, expected] = both_sides([](const side& s) { return dashboard_of(s, 7); });
  expect_same_value(actual, expected, "load_dashboard(d, 7)", "load_dashboard(d, 7) returned");
  GRADE(actual.reader_peak >= 3,
        actual.reader_peak == 0
            ? fmt::format("none of the dashboard's reads ran on the readers, "
                          "and it took {}: reads go to the readers, which can "
                          "run all three at once, in {}",
                          secs(actual.run.seconds()), secs(expected.run.seconds()))
            : fmt::format("the readers ran at most {} of the dashboard's reads "
                          "at once (each waits 40 ms here, a slow disk), and "
                          "the dashboard took {}; its three reads need no "
                          "result of each other, so all three can run at once, "
                          "in {}",
                          actual.reader_peak, secs(actual.run.seconds()),
                          secs(expected.run.seconds())),
        actual.run, expected.run);
}

TEST_CASE("load_dashboard of a user who does not exist is no dashboard",
          "[lesson14][task4]") {
  auto [actual, expected] = ran_over_write_and_read(
      [](const side& s) { return dashboard_of(s, 999); },
      "load_dashboard(d, 999)");
  GRADE(actual.run.value == expected.run.value,
        fmt::format("load_dashboard(d, 999), for a user who does not exist, "
                    "returned {}; expected no dashboard (std::nullopt)",
                    show(actual.run.value)),
        actual.run, expected.run);
}

// ---- Task 5 ----------------------------------------------------------------

// A transaction's body: two users in, then what `ending` says.
enum class ending { commit, throw_error, wait_to_be_cancelled };

// Where the row another task wrote beside a transaction could be seen,
// right after its write() had returned.
struct beside_write {
  bool returned = false;
  bool seen_by_writer = false;   // the writer sees what it wrote, committed or not
  bool seen_by_readers = false;  // the readers only what is committed
};

awaitable<int> as_value(awaitable<void> work) {
  co_await std::move(work);
  co_return 0;
}

template <typename InTransaction>
auto transaction_of(InTransaction in_transaction, const side& s, ending how,
                    beside_write* other = nullptr) {
  return with_shop(s, [=, &s](db::database& d, probe&) -> awaitable<int> {
    auto body = [how](auto& tx) -> awaitable<void> {
      sqlite::params first{std::string("a user inside the transaction"),
                           std::string("inside.1@example.com")};
      sqlite::params second{std::string("another user inside the transaction"),
                            std::string("inside.2@example.com")};
      co_await tx.execute("INSERT INTO users (name, email) VALUES (?, ?)", first);
      co_await tx.execute("INSERT INTO users (name, email) VALUES (?, ?)", second);
      if (how == ending::commit) co_return;
      co_await tut::sleep(100ms);
      if (how == ending::throw_error)
        throw std::domain_error("the order's total is negative: -12.50");
      co_await tut::sleep(1s);  // cancelled before this ends
    };
    auto transaction = tut::traced("in_transaction", in_transaction(d, body));
    if (how == ending::wait_to_be_cancelled) {
      // (grade::cancel_after wants a value: cancelled_run<void> would hold
      // a std::optional<void>.)
      auto r = co_await grade::cancel_after(as_value(std::move(transaction)), 150ms);
      if (r.exception) std::rethrow_exception(r.exception);
      co_return 0;
    }
    if (!other) {
      co_await std::move(transaction);
      co_return 0;
    }
    // Another task writes at 50 ms, while the transaction is open.
    auto beside = [&]() -> awaitable<void> {
      co_await tut::sleep(50ms);
      sqlite::params user{std::string("a user written beside the transaction"),
                          std::string("beside@example.com")};
      co_await tut::traced("other task's write",
                           s.write(d, "INSERT INTO users (name, email) VALUES (?, ?)", user));
      other->returned = true;
      auto look = [](sqlite::connection& c) {
        return sqlite::rows{{count(c, "SELECT count(*) FROM users WHERE email = 'beside@example.com'")}};
      };
      auto by_writer = co_await reference::call(d.writer, look);
      auto by_readers = co_await reference::call(d.readers, look);
      other->seen_by_writer = by_writer.at(0).at(0) == sqlite::value{std::int64_t{1}};
      other->seen_by_readers = by_readers.at(0).at(0) == sqlite::value{std::int64_t{1}};
    };
    std::exception_ptr failure;
    auto guarded = [&]() -> awaitable<void> {
      try {
        co_await std::move(transaction);
      } catch (...) {
        failure = std::current_exception();
      }
    };
    co_await (guarded() && beside());
    if (failure) std::rethrow_exception(failure);
    co_return 0;
  });
}

// A transaction that ends `how`, through your in_transaction and through the
// reference's, once your read and write work; both must have finished.
auto transactions(ending how, beside_write* yours_beside = nullptr,
                  beside_write* reference_beside = nullptr) {
  require_read_write();
  auto actual = transaction_of(yours::in_transaction, your_side, how, yours_beside);
  auto expected = transaction_of(reference::in_transaction, reference_side, how,
                                 reference_beside);
  expect_finished(actual.run, expected.run, "in_transaction");
  return std::pair{std::move(actual), std::move(expected)};
}

template <typename T>
void expect_left_clean(const shop_run<T>& actual, const shop_run<T>& expected,
                       std::string_view after) {
  GRADE(actual.writer_in_transaction == false,
        fmt::format("{}, the writer was still inside the transaction: every "
                    "later write would land in it, and none would be "
                    "committed",
                    after),
        actual.run, expected.run);
  GRADE(actual.lock_free == 1,
        fmt::format("{}, the write lock was still held: every later write "
                    "would wait forever",
                    after),
        actual.run, expected.run);
}

template <typename T>
void expect_rolled_back(const shop_run<T>& actual, const shop_run<T>& expected,
                        std::string_view after) {
  GRADE(actual.users_after == expected.users_after,
        fmt::format("{} the file holds {} users; it held {} before, and that "
                    "is what a rollback leaves",
                    after, actual.users_after, expected.users_after),
        actual.run, expected.run);
}

TEST_CASE("a transaction whose body ends commits: its rows are there for "
          "everyone",
          "[lesson14][task5]") {
  auto [actual, expected] = transactions(ending::commit);
  expect_ran(actual, expected, "in_transaction");
  GRADE(actual.users_after == expected.users_after,
        fmt::format("after the transaction that added 2 users, the file holds "
                    "{} users; expected {}",
                    actual.users_after, expected.users_after),
        actual.run, expected.run);
  expect_left_clean(actual, expected, "after the transaction had committed");
}

TEST_CASE("a body that throws rolls everything back, and the exception "
          "comes out as itself",
          "[lesson14][task5]") {
  auto [actual, expected] = transactions(ending::throw_error);
  GRADE(actual.run.error_type == expected.run.error_type && actual.run.error == expected.run.error,
        fmt::format("the body threw std::domain_error (\"{}\"), and "
                    "in_transaction {}",
                    expected.run.error,
                    actual.run.ok() ? "returned" : what_it_did(actual.run)),
        actual.run, expected.run);
  expect_left_clean(actual, expected, "after the body had thrown");
  expect_rolled_back(actual, expected, "after the failed transaction");
}

bool aborted(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const asio::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

TEST_CASE("a transaction cancelled while its body waits rolls back, and "
          "comes out as operation_aborted",
          "[lesson14][task5]") {
  auto [actual, expected] = transactions(ending::wait_to_be_cancelled);
  GRADE(aborted(actual.run.exception),
        fmt::format("cancelled at 150 ms while its body waited, "
                    "in_transaction {}; expected it to throw "
                    "asio::system_error(operation_aborted)",
                    actual.run.ok() ? "returned" : what_it_did(actual.run)),
        actual.run, expected.run);
  expect_left_clean(actual, expected, "after the cancelled transaction");
  expect_rolled_back(actual, expected, "after the cancelled transaction");
}

TEST_CASE("a write from another task waits for the transaction, and is not "
          "part of it",
          "[lesson14][task5]") {
  beside_write yours_beside, reference_beside;
  auto [actual, expected] = transactions(ending::throw_error, &yours_beside, &reference_beside);
  const auto* write = actual.run.trace.find("other task's write");
  auto ended = write && write->end ? secs(write->end->count()) : std::string("never");
  GRADE(yours_beside.returned,
        "another task's write, begun at 50 ms while a transaction was open, "
        "never returned",
        actual.run, expected.run);
  GRADE(!yours_beside.seen_by_writer || yours_beside.seen_by_readers,
        fmt::format("another task's write began at 50 ms, while a transaction "
                    "was open, and returned at {}; then only the writer saw "
                    "its row, not the readers: it had run inside the open "
                    "transaction, and shares its fate (it is rolled back "
                    "with it)",
                    ended),
        actual.run, expected.run);
  GRADE(actual.users_after == expected.users_after,
        fmt::format("a transaction failed at 150 ms, and another task's write "
                    "began at 50 ms and returned at {}; afterwards the file "
                    "holds {} users, expected {}",
                    ended, actual.users_after, expected.users_after),
        actual.run, expected.run);
  expect_left_clean(actual, expected, "after the failed transaction");
}

// ============================================================================
// Task 6: cancelling a job, on a lane of one thread
// ============================================================================

struct cancel_run {
  grade::outcome<grade::cancelled_run<sqlite::rows>> run;
  sqlite::rows next;       // what the next job on the lane returned
  std::vector<probe::call> calls;
  int rows_ticked = 0;
  bool interrupted = false;
  long jobs_ended = 0;
  int busy_after = 0;
};

// Runs `first` on a lane of one thread, and `cancelled` (cancelled after
// `after`), then one more job to see the connection still works.
template <typename Scenario>
cancel_run run_cancel(const side& s, Scenario scenario) {
  cancel_run out;
  test_ground g;
  auto& p = g.p;
  out.run = real_time::run([&]() -> awaitable<grade::cancelled_run<sqlite::rows>> {
    watched_loop loop(co_await asio::this_coro::executor, g.watch);
    db::lane lane("test lane", g.opts, 1, lane_flags);
    auto r = co_await scenario(lane, p);
    co_await back_to_loop();
    out.next = co_await tut::traced("the next job", reference::call(lane, slow_select("the next job", 0)));
    co_await back_to_loop();
    out.jobs_ended = lane.jobs_ended();
    out.busy_after = lane.busy();
    co_return r;
  }, 3000ms);
  out.calls = p.calls();
  out.rows_ticked = p.rows_ticked;
  out.interrupted = p.interrupted;
  return out;
}

auto cancel_runaway(const side& s) {
  return run_cancel(s, [&s](db::lane& lane, probe& p) {
    return grade::cancel_after(tut::traced("runaway query", s.call(lane, runaway(p))), 50ms);
  });
}

void expect_cancelled(const cancel_run& actual, const cancel_run& expected,
                      std::string_view what) {
  expect_finished(actual.run, expected.run, what);
  grade::reference_runs(expected.run);
  GRADE(actual.run.ok(), fmt::format("{}: the scenario {}", what, what_it_did(actual.run)),
        actual.run, expected.run);
  const auto& r = *actual.run.value;
  GRADE(r.ended() && r.aborted,
        fmt::format("{} {}; a caller that was cancelled expects "
                    "asio::system_error(operation_aborted), not a value and "
                    "not another error",
                    what, grade::how_it_ended(r)),
        actual.run, expected.run);
}

// A cancellation scenario through your call and the reference's, once your
// call works; both must have finished, and the reference as it should.
template <typename Scenario>
auto cancellations(Scenario scenario, std::string_view doing) {
  require_call();
  auto both = both_sides(scenario);
  expect_finished(both.first.run, both.second.run, doing);
  grade::reference_runs(both.second.run);
  return both;
}

TEST_CASE("a query cancelled while it runs is interrupted at once, and comes "
          "out as operation_aborted",
          "[lesson14][task6]") {
  auto [actual, expected] = cancellations(cancel_runaway, "the cancelled query");
  GRADE(actual.interrupted,
        fmt::format("cancelled at 50 ms, the query ran on to row {} of {}: "
                    "its statement was never interrupted "
                    "(sqlite3_interrupt, on the connection it runs on), so "
                    "it held its connection {}",
                    actual.rows_ticked, runaway_rows,
                    actual.rows_ticked >= runaway_rows ? "to its end" : "on"),
        actual.run, expected.run);
  GRADE(actual.rows_ticked < runaway_rows / 2,
        fmt::format("the query was interrupted, but only at row {} of {} "
                    "(the reference stops at row {})",
                    actual.rows_ticked, runaway_rows, expected.rows_ticked),
        actual.run, expected.run);
  expect_cancelled(actual, expected, "the query cancelled while it ran");
}

TEST_CASE("after an interrupt the connection answers the next query",
          "[lesson14][task6]") {
  auto [actual, expected] = cancellations(cancel_runaway, "the cancelled query, then another");
  GRADE(actual.next == expected.next,
        fmt::format("after the cancelled query, the next job on the same "
                    "connection returned {}; expected {}",
                    show(actual.next), show(expected.next)),
        actual.run, expected.run);
  GRADE(actual.busy_after == 0,
        fmt::format("after the next job had returned, the lane still had {} "
                    "job(s) running",
                    actual.busy_after),
        actual.run, expected.run);
}

auto cancel_queued(const side& s) {
  return run_cancel(s, [&s](db::lane& lane, probe&) -> awaitable<grade::cancelled_run<sqlite::rows>> {
    auto first = tut::traced("the job in front", s.call(lane, slow_select("the job in front", 150)));
    auto second = grade::cancel_after(
        tut::traced("the job behind it", s.call(lane, slow_select("the job cancelled in line", 10))), 50ms);
    auto [front, behind] = co_await (std::move(first) && std::move(second));
    if (front.empty()) throw std::runtime_error("the job in front returned nothing");
    co_return behind;
  });
}

TEST_CASE("a job cancelled while it waits in line never runs, and comes out "
          "as operation_aborted",
          "[lesson14][task6]") {
  auto [actual, expected] = cancellations(cancel_queued, "the job cancelled in line");
  auto ran = std::count_if(actual.calls.begin(), actual.calls.end(), [](const probe::call& c) {
    return c.label == "the job cancelled in line";
  });
  GRADE(ran == 0,
        "a job cancelled at 50 ms, while it waited behind a job of 150 ms, "
        "ran all the same once its turn came: its cancellation never reached "
        "it",
        actual.run, expected.run);
  expect_cancelled(actual, expected, "the job cancelled while it waited in line");
}

// The race's end, in ms from its start, is kept in the returned run's
// ended_at.
auto timeout_runaway(const side& s) {
  return run_cancel(s, [&s](db::lane& lane, probe& p) -> awaitable<grade::cancelled_run<sqlite::rows>> {
    auto start = steady::now();
    auto winner = co_await (tut::traced("runaway query", s.call(lane, runaway(p))) ||
                            tut::sleep(50ms));
    grade::cancelled_run<sqlite::rows> r;
    r.ended_at = tut::seconds(ms_between(start, steady::now()) / 1000);
    if (winner.index() == 0) r.value.emplace(std::get<0>(std::move(winner)));
    else r.aborted = true;  // the timeout won, as it should
    co_return r;
  });
}

TEST_CASE("a timeout raced with || stops the query too, and frees its "
          "connection",
          "[lesson14][task6]") {
  auto [actual, expected] = cancellations(timeout_runaway, "a query raced against a timeout");
  auto race = actual.run.value ? actual.run.value->ended_at.count() : 0;
  GRADE(actual.interrupted && actual.rows_ticked < runaway_rows / 2,
        fmt::format("the timeout of 50 ms won the race, but the query went on "
                    "to row {} of {}, holding its connection; the race ended "
                    "only after {} (|| waits for the loser to end)",
                    actual.rows_ticked, runaway_rows, secs(race)),
        actual.run, expected.run);
}

}  // namespace
