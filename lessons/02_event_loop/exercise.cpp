// Lesson 02: the event loop. An `asio::io_context` is asyncio's event loop:
// one thread takes ready tasks off a queue and runs each until it reaches a
// `co_await` that has to wait. Tasks take turns; nothing runs in parallel.
// That makes concurrency cheap and safe, as long as no task holds on to the
// thread: a blocking call stalls every other task.
//
// Fill in the five TODOs; `scripts/tutor` grades each one as you save.
#include "lesson.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace std::chrono_literals;

namespace lesson02 {

// Task 1: run the jobs one after the other. Three waits of 1, 2 and 3 s
// take 6 s this way.
awaitable<void> run_in_turn(std::vector<awaitable<void>> jobs) {
  // TODO: await each job in order. Awaiting a job runs it to its end
  // before the next line; an awaitable is move-only, and awaiting it uses
  // it up.
  co_return;
}

// Task 2: start every job as its own task and return straight away. The
// loop interleaves them, so 1, 2 and 3 s of waiting end after 3 s.
void start_together(asio::any_io_executor ex,
                    std::vector<awaitable<void>> jobs) {
  // TODO: start every job as a task of its own (`co_spawn`, with the
  // `detached` token, as in lesson 01) and return without waiting for any.
}

// Task 3: count from 1 to n. Two counters started together should take
// turns: a1 b1 a2 b2 ...
awaitable<void> count(std::string name, int n,
                      std::vector<std::string>& log) {
  for (int i = 1; i <= n; ++i) {
    log.push_back(name + std::to_string(i));
    // TODO: give the other tasks a turn here. `tut::yield()` is
    // asyncio.sleep(0): an awaitable that lets every ready task run once
    // before this one goes on. Without an await, nobody else can run.
  }
  co_return;
}

// Task 4: log `message` later, once the calling task gives the loop back.
void log_later(asio::any_io_executor ex, std::vector<std::string>& log,
               std::string message) {
  // TODO: don't append now. `asio::post` queues a callback (a lambda) for
  // the loop to run after what is running now, like loop.call_soon. It runs
  // after log_later has returned, when this call's parameters are gone: the
  // callback must carry its own copy of what dies with them. `log` outlives
  // it.
  log.push_back(message);
}

// Task 5: a request handler whose work is waiting (on a database, say).
awaitable<std::string> handle_request(int id, tut::clock::duration work) {
  // TODO: this sleep blocks the thread, so the whole loop stops: every
  // other request and timer waits too, and the wait cannot be cancelled.
  // Wait on the loop instead, with the course's `tut::sleep`.
  std::this_thread::sleep_for(work);
  co_return "reply " + std::to_string(id);
}

}  // namespace lesson02
