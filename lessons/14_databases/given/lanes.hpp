// Lesson 14, given: the threads that own the database's connections, the
// way aiosqlite gives each connection a thread of its own. A *lane* is a
// queue of jobs and the threads that take them from it, each thread with
// its connection: the writer is a lane of one (every write in order), the
// readers a lane of several (reads side by side). A job is a function of
// the connection, run on the lane's thread; when it has ended, the lane
// calls the job's `done` with what it returned or threw, on that thread.
// Getting that outcome back to the loop, to the coroutine that awaits it,
// is yours (exercise.cpp, `call`).
//
// Outside the lesson's namespace, so that your code and the reference
// share it. Everything here is blocking code on the lanes' threads, except
// push(), which only queues.
#pragma once

#include "common/semaphore.hpp"
#include "sqlite.hpp"

#include <asio/error.hpp>
#include <asio/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace db {

using namespace std::chrono_literals;

// A job's work: runs on a lane's thread, with that thread's connection.
using work = std::function<sqlite::rows(sqlite::connection&)>;

// A job's ending, called once on the lane's thread: the work's exception
// (or nullptr) and the rows it returned. It may own what cannot be copied
// (a completion handler): it is moved, never copied.
class done_fn {
public:
  done_fn() = default;
  template <typename F>
  done_fn(F f) : impl_(std::make_unique<model<F>>(std::move(f))) {}

  void operator()(std::exception_ptr error, sqlite::rows result) {
    (*impl_)(std::move(error), std::move(result));
  }
  explicit operator bool() const { return impl_ != nullptr; }

private:
  struct base {
    virtual ~base() = default;
    virtual void operator()(std::exception_ptr, sqlite::rows) = 0;
  };
  template <typename F>
  struct model : base {
    explicit model(F f) : fn(std::move(f)) {}
    void operator()(std::exception_ptr e, sqlite::rows r) override {
      fn(std::move(e), std::move(r));
    }
    F fn;
  };
  std::unique_ptr<base> impl_;
};

// What a job's caller and the lane that runs it share, so that the caller
// can cancel it from the loop. The lane looks at `cancelled` before it
// starts the work: a job cancelled while it waits in line is skipped (its
// `done` gets operation_aborted). While the work runs, `running` is the
// connection it runs on, and nullptr before and after: a statement can
// only be interrupted (sqlite3_interrupt) while it runs, and only on its
// own connection. The lane changes `running`, and reads `cancelled` before
// a start, with `mutex` held; whoever cancels must hold it too.
struct ticket {
  std::mutex mutex;
  sqlite3* running = nullptr;
  std::atomic<bool> cancelled{false};
};

struct options {
  std::filesystem::path path;  // the database file
  int readers = 4;             // read connections, a thread each
  // How long a connection waits for a lock another holds before it gives
  // up with "database is locked" (SQLITE_BUSY).
  std::chrono::milliseconds busy_timeout = 5000ms;
  // Each job waits this long in its lane before it starts: a slow disk, for
  // the tests and the demo. Real SQLite on a local disk needs no help.
  std::chrono::milliseconds latency = 0ms;
  // SQLite's `synchronous` setting of each connection. In WAL mode NORMAL
  // is safe from corruption and syncs the disk only at checkpoints, not at
  // every commit: a commit survives the program's crash, but perhaps not a
  // power cut. FULL syncs at every commit (10 ms on a slow disk).
  std::string synchronous = "NORMAL";
  // Called on each connection as it is opened, on the thread that opens
  // it: the tests and the demo add SQL functions of their own there.
  std::function<void(sqlite3*)> on_open;
};

class lane {
public:
  // Opens `connections` connections to o.path with `flags`
  // (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or SQLITE_OPEN_READONLY),
  // calls o.on_open on each, and starts a thread for each, which owns it.
  // Blocking: open a database before you serve.
  lane(std::string name, const options& o, int connections, int flags)
      : s_(std::make_shared<state>()) {
    s_->name = std::move(name);
    s_->latency = o.latency;
    std::vector<std::unique_ptr<sqlite::connection>> opened;
    for (int i = 0; i < connections; ++i) {
      auto c = std::make_unique<sqlite::connection>(o.path.string(), flags);
      sqlite3_busy_timeout(c->get(), static_cast<int>(o.busy_timeout.count()));
      c->exec("PRAGMA synchronous = " + o.synchronous);
      if (o.on_open) o.on_open(c->get());
      opened.push_back(std::move(c));
    }
    for (auto& c : opened)
      threads_.emplace_back([s = s_, c = std::move(c)]() mutable {
        serve(*s, *c);
        c.reset();  // closed on its own thread
      });
  }

  // Runs the jobs still queued, then closes the connections and ends the
  // threads.
  ~lane() {
    {
      std::lock_guard lock(s_->mutex);
      s_->stopping = true;
    }
    s_->wake.notify_all();
    for (auto& t : threads_) {
      // A lane destroyed from one of its own threads (by code that went on
      // there after a job) cannot wait for that thread: it ends by itself.
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else
        t.join();
    }
  }
  lane(const lane&) = delete;
  lane& operator=(const lane&) = delete;

  // Queues a job and returns at once. One of the lane's threads then runs
  // `w` on its connection (unless `t` was cancelled first) and calls
  // `done` with the outcome, on that thread. Jobs start in the order they
  // were pushed.
  void push(std::shared_ptr<ticket> t, work w, done_fn done) {
    {
      std::lock_guard lock(s_->mutex);
      s_->queue.push_back({std::move(t), std::move(w), std::move(done)});
    }
    s_->wake.notify_one();
  }

  const std::string& name() const { return s_->name; }
  int size() const { return static_cast<int>(threads_.size()); }
  // Jobs a thread has taken and not yet ended (waiting out `latency`, or
  // running), and the most there ever were at once.
  int busy() const { return s_->busy.load(); }
  int peak_busy() const { return s_->peak.load(); }
  // Jobs ended so far (run or skipped).
  long jobs_ended() const { return s_->ended.load(); }

private:
  struct job {
    std::shared_ptr<ticket> t;
    work w;
    done_fn done;
  };
  struct state {
    std::string name;
    std::chrono::milliseconds latency{0};
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<job> queue;
    bool stopping = false;
    std::atomic<int> busy{0}, peak{0};
    std::atomic<long> ended{0};
  };

  // One thread's life: take the next job, run it, hand back its outcome.
  static void serve(state& s, sqlite::connection& c) {
    for (;;) {
      job j;
      {
        std::unique_lock lock(s.mutex);
        s.wake.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
        if (s.queue.empty()) return;
        j = std::move(s.queue.front());
        s.queue.pop_front();
      }
      int now = ++s.busy;
      for (int p = s.peak.load(); now > p && !s.peak.compare_exchange_weak(p, now);) {
      }
      if (s.latency.count() > 0) std::this_thread::sleep_for(s.latency);
      bool go;
      {
        std::lock_guard lock(j.t->mutex);
        go = !j.t->cancelled;
        if (go) j.t->running = c.get();
      }
      std::exception_ptr error;
      sqlite::rows result;
      if (go) {
        try {
          result = j.w(c);
        } catch (...) {
          error = std::current_exception();
        }
        std::lock_guard lock(j.t->mutex);
        j.t->running = nullptr;
      } else {
        error = std::make_exception_ptr(asio::system_error(
            asio::error::operation_aborted, "cancelled before it started"));
      }
      ++s.ended;
      --s.busy;
      j.done(std::move(error), std::move(result));
    }
  }

  std::shared_ptr<state> s_;
  std::vector<std::thread> threads_;
};

// A database the aiosqlite way, for a program that reads more than it
// writes: one connection that writes (a lane of one: writes never wait for
// each other's locks, they queue), and o.readers connections that only
// read, side by side. The writer opens the file first (and creates it);
// the readers open it read-only, so a statement that writes fails on them
// with "attempt to write a readonly database".
struct database {
  explicit database(options o)
      : opts(std::move(o)),
        writer("writer", opts, 1, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE),
        readers("readers", opts, std::max(1, opts.readers), SQLITE_OPEN_READONLY) {}

  options opts;
  lane writer;
  lane readers;
  // One writer at a time across awaits: a transaction (task 5) holds it
  // from BEGIN to COMMIT, and every write outside one waits for it, so that
  // no write lands inside somebody else's transaction.
  common::async_semaphore write_lock{1};
};

}  // namespace db
