// Lesson 12, given: a database that is not there, whose connections behave
// like asyncpg's (or httpx's) over a network. Opening one takes a while, so
// does a query; a connection is reset before another user gets it, and can
// be closed politely. It can also break: the network drops it (sever()),
// or a query or a reset is cancelled half way, and nobody knows what state
// the other side is in. A broken connection fails every query from then on.
//
// Every wait is a tut::timer: the same code runs on virtual time (the
// tests) and in real time (the demo, the server). The database keeps count
// of what it saw (stats()): the tests grade from its side, not from what
// your pool says about itself.
//
// Outside the lesson's namespace: your code and the reference share it.
#pragma once

#include "tut/tut.hpp"

#include <asio/error.hpp>
#include <asio/system_error.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace fakedb {

using namespace std::chrono_literals;
using duration = tut::clock::duration;

// How long each thing takes.
struct latencies {
  duration connect = 10ms;
  duration query = 20ms;
  duration reset = 2ms;
  duration close = 5ms;
};

// What the database saw, over all its connections.
struct service_stats {
  int opened = 0;       // connections opened
  int open_now = 0;     // opened, and neither closed nor let go yet
  int peak_open = 0;    // most open at once
  int closed = 0;       // closed politely (close())
  int dropped = 0;      // let go without a close(): destroyed
  int queries = 0;      // queries that ran to their end
  int resets = 0;       // resets that ran to their end
  int interrupted = 0;  // queries and resets cancelled half way
  int on_broken = 0;    // queries and resets tried on a broken connection
  int overlapping = 0;  // one begun while another ran on the same connection
};

// The database refused a query (a syntax error, a constraint). The
// connection itself is fine.
class query_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {
struct shared {
  latencies latency;
  service_stats stats;
  int next_id = 1;
  int failing_connects = 0;  // the next this many connects are refused
  bool hanging_resets = false;
};
}  // namespace detail

class connection {
public:
  connection(std::shared_ptr<detail::shared> db, int id)
      : db_(std::move(db)), id_(id) {}
  ~connection() {
    if (!closed_) {
      --db_->stats.open_now;
      ++db_->stats.dropped;
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int id() const { return id_; }
  bool broken() const { return broken_; }
  bool closed() const { return closed_; }
  int queries() const { return queries_; }  // on this connection, to the end
  int resets() const { return resets_; }

  // The network drops the connection: it is broken from now on.
  void sever() { broken_ = true; }

  // Runs `sql` and returns its answer after latency.query (or `took`). A
  // query the database refuses (its text starts with "FAIL") throws
  // query_error; on a broken connection, asio::system_error
  // (connection_reset). Cancelled half way, it breaks the connection.
  asio::awaitable<std::string> query(std::string sql, duration took = {}) {
    enter();
    try {
      co_await tut::sleep(took.count() ? took : db_->latency.query);
    } catch (...) {
      interrupted();
      throw;
    }
    leave();
    if (broken_) throw lost();
    if (sql.starts_with("FAIL"))
      throw query_error(fmt::format("the database refused \"{}\"", sql));
    ++queries_;
    ++db_->stats.queries;
    co_return fmt::format("{} (answered on connection {})", sql, id_);
  }

  // Puts the connection back as it was when it was opened (asyncpg's
  // reset(): aborts a transaction left open, drops temporary state), after
  // latency.reset. Throws on a broken connection; cancelled half way, it
  // breaks it.
  asio::awaitable<void> reset() {
    enter();
    try {
      if (db_->hanging_resets)
        co_await forever();
      else
        co_await tut::sleep(db_->latency.reset);
    } catch (...) {
      interrupted();
      throw;
    }
    leave();
    if (broken_) throw lost();
    ++resets_;
    ++db_->stats.resets;
  }

  // Says goodbye and closes, after latency.close (at once when broken:
  // there is no one to say it to).
  asio::awaitable<void> close() {
    if (closed_) co_return;
    std::exception_ptr cut;
    if (!broken_) {
      enter();
      try {
        co_await tut::sleep(db_->latency.close);
      } catch (...) {
        cut = std::current_exception();  // closed all the same, abruptly
      }
      leave();
    }
    closed_ = true;
    --db_->stats.open_now;
    ++db_->stats.closed;
    if (cut) std::rethrow_exception(cut);
  }

private:
  void enter() {
    if (closed_)
      throw asio::system_error(asio::error::not_connected,
                               fmt::format("connection {} is closed", id_));
    if (broken_) {
      ++db_->stats.on_broken;
      throw lost();
    }
    if (busy_) ++db_->stats.overlapping;
    busy_ = true;
  }
  void leave() { busy_ = false; }
  void interrupted() {
    busy_ = false;
    broken_ = true;  // half a query sent: the connection's state is unknown
    ++db_->stats.interrupted;
  }
  // A wait that ends only when it is cancelled.
  static asio::awaitable<void> forever() {
    tut::timer parked(co_await asio::this_coro::executor,
                      tut::clock::time_point::max());
    co_await parked.async_wait(asio::use_awaitable);
  }
  asio::system_error lost() const {
    return asio::system_error(asio::error::connection_reset,
                              fmt::format("connection {} is broken", id_));
  }

  std::shared_ptr<detail::shared> db_;
  int id_;
  bool broken_ = false;
  bool closed_ = false;
  bool busy_ = false;
  int queries_ = 0;
  int resets_ = 0;
};

// The database: a handle, cheap to copy; copies are the same database.
class service {
public:
  explicit service(latencies l = {})
      : db_(std::make_shared<detail::shared>()) {
    db_->latency = l;
  }

  // Opens a connection after latency.connect. A refused one throws
  // asio::system_error (connection_refused). Cancelled while it connects,
  // nothing is opened.
  asio::awaitable<std::shared_ptr<connection>> connect() {
    auto db = db_;
    co_await tut::sleep(db->latency.connect);
    if (db->failing_connects > 0) {
      --db->failing_connects;
      throw asio::system_error(asio::error::connection_refused,
                               "the database refused the connection");
    }
    auto& s = db->stats;
    ++s.opened;
    s.peak_open = std::max(s.peak_open, ++s.open_now);
    co_return std::make_shared<connection>(db, db->next_id++);
  }

  const service_stats& stats() const { return db_->stats; }
  latencies& latency() { return db_->latency; }

  // For the tests and the demo: the next `n` connects are refused; resets
  // hang (until cancelled) while `hang` holds.
  void refuse_connects(int n) { db_->failing_connects = n; }
  void hang_resets(bool hang) { db_->hanging_resets = hang; }

private:
  std::shared_ptr<detail::shared> db_;
};

}  // namespace fakedb
