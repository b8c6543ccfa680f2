// Lesson 05's demo runs your exercise.cpp in real time: 100 fetches through
// fetch_all with limits of 20, 10 and 5, then again with every fifth fetch
// failing, and a task that gives up waiting for a permit. A fetch takes
// 100 ms here, not the 1 s of the tests, so the demo is over in a few
// seconds: through a limit of 10, 100 fetches take 1 s, not 10 s.
// Run it with `scripts/tutor run 05`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto fetch_time = 100ms;

// A pretend fetch: it waits 100 ms on the loop, then answers, or fails
// like a server that is overloaded.
awaitable<std::string> fetch_page(std::string url, bool fail) {
  co_await tut::sleep(fetch_time);
  if (fail) throw std::runtime_error("503 Service Unavailable");
  co_return "page of " + url;
}

// fetch_all over "u1" to "u100", each fetch a row of the timeline. With
// `fail_every` above 0, u5, u10, ... fail: their permits must still go
// back, or the run would stall once 10 were lost.
std::vector<std::string> fetch_100(std::size_t limit, int fail_every) {
  std::vector<std::string> urls;
  for (int i = 1; i <= 100; ++i) urls.push_back(fmt::format("u{}", i));
  lesson05::fetcher fetch = [fail_every](std::string url) {
    bool fail = fail_every > 0 && std::stoi(url.substr(1)) % fail_every == 0;
    return tut::traced("fetch " + url, fetch_page(url, fail));
  };
  return tut::run(lesson05::fetch_all(urls, limit, fetch));
}

// What a run took, against ceil(100 / limit) rounds of 100 ms, and the
// most fetches that ran at once: never more than the limit.
void report(std::size_t limit, const std::vector<std::string>& pages) {
  auto trace = tut::current_trace();
  std::size_t failed = 0;
  for (const auto& page : pages) failed += page.starts_with("failed");
  fmt::print("limit {:>3}: {:.3f} s, up to {} fetches at once, {} failed "
             "(expected {:.3f} s)\n",
             limit, trace.elapsed.count(), trace.peak_of("fetch"), failed,
             tut::seconds(fetch_time).count() * ((100 + limit - 1) / limit));
}

// The first `rows` rows of the last run's timeline.
void timeline_of_first(std::size_t rows, const char* title) {
  auto trace = tut::current_trace();
  if (trace.tasks.size() > rows) trace.tasks.resize(rows);
  tut::timeline_options o;
  o.title = title;
  fmt::print("\n{}\n", tut::render_timeline(trace, o));
}

// A task that takes a permit, holds it for `d` (a row of its own) and
// gives it back.
awaitable<void> hold_for(std::shared_ptr<lesson05::async_semaphore> sem,
                         std::string name, tut::clock::duration d) {
  co_await sem->acquire();
  co_await tut::traced(name, tut::sleep(d));
  sem->release();
}

// A task that waits for a permit at most 100 ms: `||` cancels acquire()
// when the timer wins, and a cancelled waiter leaves the line.
awaitable<void> impatient(std::shared_ptr<lesson05::async_semaphore> sem) {
  auto first = co_await (sem->acquire() || tut::sleep(100ms));
  if (first.index() == 0) {
    fmt::print("  impatient got a permit\n");
    sem->release();
  } else {
    fmt::print("  impatient gave up after 100 ms; {} task(s) still in line\n",
               sem->waiting());
  }
}

// One permit, held for 300 ms; 'impatient' gives up while 'patient' waits
// its turn and gets the permit at 300 ms.
awaitable<void> give_up() {
  auto ex = co_await asio::this_coro::executor;
  auto sem = std::make_shared<lesson05::async_semaphore>(1);
  co_spawn(ex, hold_for(sem, "holder", 300ms), detached);
  co_spawn(ex, tut::traced("impatient", impatient(sem)), detached);
  co_spawn(ex, hold_for(sem, "patient", 100ms), detached);
  co_return;
}

}  // namespace

// The same 100 fetches through three limits, then with failures; the
// timeline shows the first 20 fetches going through in waves of 10.
int main() {
  try {
    fmt::print("100 fetches of {} ms each:\n", fetch_time.count());
    for (std::size_t limit : {20, 10, 5})
      report(limit, fetch_100(limit, 0));
    auto pages = fetch_100(10, 5);
    report(10, pages);
    fmt::print("  pages: {}, {}, ..., {}, {}\n", pages[0], pages[1],
               pages[3], pages[4]);
    timeline_of_first(20, "limit 10, every fifth fetch failing "
                          "(the first 20 fetches):");

    fmt::print("one permit, held 300 ms; 'impatient' waits at most 100 ms:\n");
    tut::run(give_up());
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
