// Lesson 02: the event loop. An `asio::io_context` is asyncio's event loop:
// one thread takes ready tasks off a queue and runs each until it reaches a
// `co_await` that has to wait. Tasks take turns; nothing runs in parallel.
// That makes concurrency cheap and safe, as long as no task holds on to the
// thread: a blocking call stalls every other task.
//
// Reference solution: tasks share one loop and take turns only at a
// co_await; what runs later (a task, a posted callback) owns its data.
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
  for (auto& job : jobs) co_await std::move(job);
}

// Task 2: start every job as its own task and return straight away. The
// loop interleaves them, so 1, 2 and 3 s of waiting end after 3 s.
void start_together(asio::any_io_executor ex,
                    std::vector<awaitable<void>> jobs) {
  for (auto& job : jobs) co_spawn(ex, std::move(job), detached);
}

// Task 3: count from 1 to n. Two counters started together should take
// turns: a1 b1 a2 b2 ...
awaitable<void> count(std::string name, int n,
                      std::vector<std::string>& log) {
  for (int i = 1; i <= n; ++i) {
    log.push_back(name + std::to_string(i));
    co_await tut::yield();
  }
}

// Task 4: log `message` later, once the calling task gives the loop back.
void log_later(asio::any_io_executor ex, std::vector<std::string>& log,
               std::string message) {
  asio::post(ex, [&log, message = std::move(message)] {
    log.push_back(message);
  });
}

// Task 5: a request handler whose work is waiting (on a database, say).
awaitable<std::string> handle_request(int id, tut::clock::duration work) {
  co_await tut::sleep(work);
  co_return "reply " + std::to_string(id);
}

}  // namespace lesson02
