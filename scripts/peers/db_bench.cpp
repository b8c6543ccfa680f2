// Lesson 14's benchmark side (scripts/bench-db): small reads and writes
// through the lesson's read() and write() (the reference solution's), from
// many clients at once on one loop, with the loop's lag measured all the
// while. Its peer is aiosqlite_db.py: the same operations, in the same
// order, on the same kind of database (one writer and four readers, WAL,
// synchronous=NORMAL), through Python's aiosqlite.
//
//   bench_db --fill shop.db --users 1000      make the database to copy
//   bench_db --db shop.db [--reads 10000] [--writes 1000] [--clients 64]
//            [--readers 4]
//
// Operation k (0, 1, 2, ...) is a write when k % 11 == 10, else a read:
// SELECT a user by id (reads), INSERT an order (writes). Prints one line of
// JSON: seconds, operations, operations per second, the loop's worst lag.
#include "lesson.hpp"

#include "common/gather.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

using asio::awaitable;
using namespace std::chrono_literals;

namespace {

struct settings {
  std::string db;
  long reads = 10'000, writes = 1'000;
  int clients = 64, readers = 4, users = 1'000;
};

struct shared {
  long next = 0, total = 0, done_reads = 0, done_writes = 0;
  int users = 1'000;
};

bool is_write(long k) { return k % 11 == 10; }

// One client: takes the next operation until there are none left.
awaitable<void> client(db::database& d, shared& s) {
  while (s.next < s.total) {
    long k = s.next++;
    std::int64_t user = (k * 7919) % s.users + 1;
    if (is_write(k)) {
      sqlite::params order{user, std::string("a bench order"), 1.5};
      co_await lesson14::write(
          d, "INSERT INTO orders (user_id, item, total) VALUES (?, ?, ?)",
          order);
      ++s.done_writes;
    } else {
      sqlite::params id{user};
      auto rows = co_await lesson14::read(
          d, "SELECT id, name, email FROM users WHERE id = ?", id);
      if (rows.size() != 1) throw std::runtime_error("a user is missing");
      ++s.done_reads;
    }
  }
}

// The number of operations for `reads` reads and `writes` writes.
long operations(long reads, long writes) {
  long k = 0, r = 0, w = 0;
  while (r < reads || w < writes) {
    if (is_write(k)) ++w; else ++r;
    ++k;
  }
  return k;
}

awaitable<std::string> run(settings set) {
  auto ex = co_await asio::this_coro::executor;
  tut::lag_options lag;
  lag.interval = 1ms;
  lag.threshold = 1s;  // no warnings: the figure is the worst lag
  tut::lag_monitor monitor(ex, lag);
  db::options o;
  o.path = set.db;
  o.readers = set.readers;
  auto d = co_await lesson14::open_database(o);
  shared s;
  s.total = operations(set.reads, set.writes);
  s.users = set.users;
  auto start = tut::now();
  std::vector<awaitable<void>> clients;
  for (int i = 0; i < set.clients; ++i) clients.push_back(client(*d, s));
  co_await common::gather(std::move(clients));
  auto seconds = tut::seconds(tut::now() - start).count();
  auto worst = std::chrono::duration<double, std::milli>(monitor.max_lag()).count();
  monitor.stop();
  co_return fmt::format(
      R"({{"side": "asio", "seconds": {:.4f}, "reads": {}, "writes": {}, )"
      R"("ops_per_s": {:.0f}, "worst_lag_ms": {:.2f}, "clients": {}, "readers": {}}})",
      seconds, s.done_reads, s.done_writes,
      (s.done_reads + s.done_writes) / seconds, worst, set.clients, set.readers);
}

}  // namespace

int main(int argc, char** argv) {
  settings set;
  std::string fill;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--fill") fill = value();
      else if (a == "--db") set.db = value();
      else if (a == "--users") set.users = std::stoi(value());
      else if (a == "--reads") set.reads = std::stol(value());
      else if (a == "--writes") set.writes = std::stol(value());
      else if (a == "--clients") set.clients = std::stoi(value());
      else if (a == "--readers") set.readers = std::stoi(value());
      else throw std::invalid_argument("unknown argument " + std::string(a));
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_db: {}\n", e.what());
      return 2;
    }
  }
  try {
    if (!fill.empty()) {
      sqlite::connection c(fill, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      shop::create_and_fill(c, set.users);
      return 0;
    }
    if (set.db.empty()) {
      fmt::print(stderr, "bench_db: --db or --fill, please\n");
      return 2;
    }
    fmt::print("{}\n", tut::run(run(set)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_db: {}\n", e.what());
    return 1;
  }
}
