// Lesson 07's demo runs your exercise.cpp in real time: a fast and a slow
// fetch with a 1 s timeout, both ways; three steps of 400 ms under one 1 s
// deadline; and a retry whose first two attempts hang. Each scenario prints
// how it ended, when, and the timeline of its tasks.
// Run it with `scripts/tutor run 07`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <vector>

using asio::awaitable;
using namespace std::chrono_literals;

namespace {

using duration = tut::clock::duration;

// However a fetch ends, it closes its connection on the way out; the
// timeline marks the moment with "cleanup".
struct closes_connection {
  std::string task;
  ~closes_connection() { tut::note(task, "cleanup"); }
};

// A pretend fetch: it waits `work` on the loop, then answers. A timeout
// cancels it at its co_await, and its guard still cleans up.
awaitable<std::string> fetch(std::string name, duration work) {
  closes_connection guard{name};
  co_await tut::sleep(work);
  co_return name + ": 200 OK";
}

awaitable<std::string> traced_fetch(std::string name, duration work) {
  return tut::traced(name, fetch(name, work));
}

// A result as the demo prints it.
std::string shown(const std::string& s) { return s; }
std::string shown(const std::vector<std::string>& v) {
  return fmt::format("[{}]", fmt::join(v, ", "));
}

// Runs one scenario on a fresh loop and prints how it ended, when, and the
// timeline of its tasks.
template <typename T>
void show(const std::string& what, std::function<awaitable<T>()> scenario) {
  std::string result;
  try {
    result = shown(tut::run(scenario()));
  } catch (const asio::system_error& e) {
    if (e.code() != asio::error::timed_out) throw;
    result = fmt::format("timed out ({})", e.what());
  }
  auto trace = tut::current_trace();
  fmt::print("{}\n  -> {} after {:.2f} s\n{}\n", what, result,
             trace.elapsed.count(), tut::render_timeline(trace));
}

// Attempts 1 and 2 hang; attempt 3 answers after 200 ms.
awaitable<std::string> flaky_attempt(int n) {
  return traced_fetch(fmt::format("attempt {}", n), n < 3 ? 3s : 200ms);
}

}  // namespace

// The scenarios, in the order of the lesson's tasks.
int main() {
  try {
    show<std::string>("with_timeout(fetch of 300 ms, 1 s)", [] {
      return lesson07::with_timeout(traced_fetch("fast fetch", 300ms), 1s);
    });
    show<std::string>("with_timeout(fetch of 3 s, 1 s)", [] {
      return lesson07::with_timeout(traced_fetch("slow fetch", 3s), 1s);
    });
    show<std::string>("with_timeout_signal(fetch of 3 s, 1 s)", [] {
      return lesson07::with_timeout_signal(traced_fetch("slow fetch", 3s),
                                           1s);
    });
    show<std::vector<std::string>>("run_within(3 steps of 400 ms, 1 s)", [] {
      std::vector<awaitable<std::string>> steps;
      for (int n = 1; n <= 3; ++n)
        steps.push_back(traced_fetch(fmt::format("step {}", n), 400ms));
      return lesson07::run_within(std::move(steps), 1s);
    });
    show<std::string>(
        "fetch_with_retry(3 attempts, 500 ms each, backoff from 250 ms)", [] {
          return lesson07::fetch_with_retry(flaky_attempt, 3, 500ms, 250ms);
        });
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
