// Task groups in real time. This demo runs your exercise.cpp on a real
// loop: an awaitable that starts only when it is awaited beside a task that
// starts when it is spawned, a group in which one task fails so that the
// others (one of them running a group of its own) are cancelled and clean
// up, and a timeout around a group. Each run prints its figures and its
// timeline. Run it with `scripts/tutor run 04`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>

using asio::awaitable;
using lesson04::task_group;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// Helpers: milliseconds since `start`, and the timeline of the last run.
double ms_since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count() * 1000;
}

void timeline() {
  fmt::print("{}\n", tut::render_timeline(tut::current_trace()));
}

// Waits `d`; when cancelled, cleans up first (Python: `finally:`).
awaitable<void> fetch(std::string name, tut::clock::duration d) {
  try {
    co_await tut::sleep(d);
  } catch (...) {
    tut::note(name, "cleanup");
    fmt::print("  {} cleans up\n", name);
    throw;
  }
}

// A task of the demo: `fetch` traced under its name.
awaitable<void> task(std::string name, tut::clock::duration d) {
  return tut::traced(name, fetch(name, d));
}

// A task that fails after `d`, as a connection that is reset.
awaitable<void> broken(std::string name, tut::clock::duration d) {
  co_await tut::sleep(d);
  throw std::runtime_error(name + ": connection reset");
}

// A task with a group of its own.
awaitable<void> nested(std::string name, tut::clock::duration d) {
  task_group group(co_await asio::this_coro::executor);
  group.spawn(task(name + "/1", d));
  group.spawn(task(name + "/2", d));
  co_await group.wait();
}

// An awaitable is lazy: created at 0 and awaited at 200 ms, its 300 ms of
// work are done after 500 ms.
awaitable<void> lazy() {
  auto start = tut::now();
  auto job = task("awaited job", 300ms);  // created: nothing runs yet
  co_await tut::sleep(200ms);             // meanwhile, other work
  co_await std::move(job);                // it starts only now
  fmt::print("awaitable created at 0, awaited at 200 ms: done after "
             "{:.0f} ms\n",
             ms_since(start));
}

// A spawned task is eager: it runs from the moment it is spawned, so it is
// done after 300 ms although the group is waited for only at 200 ms.
awaitable<void> eager() {
  auto start = tut::now();
  task_group group(co_await asio::this_coro::executor);
  group.spawn(task("spawned job", 300ms));  // running from now on
  co_await tut::sleep(200ms);               // meanwhile, other work
  co_await group.wait();
  fmt::print("task spawned at 0, waited for at 200 ms: done after "
             "{:.0f} ms\n",
             ms_since(start));
}

// fetch b fails after 200 ms: the group cancels fetch a and the nested
// group's tasks, waits for their cleanup, and with_task_group rethrows b's
// error, with no task left running.
awaitable<void> one_fails() {
  auto start = tut::now();
  try {
    co_await lesson04::with_task_group(
        [](task_group& group) -> awaitable<void> {
          group.spawn(task("fetch a", 600ms));
          group.spawn(tut::traced("fetch b", broken("fetch b", 200ms)));
          group.spawn(tut::traced("nested", nested("nested", 800ms)));
          co_return;
        });
    fmt::print("with_task_group returned normally after {:.0f} ms\n",
               ms_since(start));
  } catch (const std::exception& e) {
    fmt::print("with_task_group threw \"{}\" after {:.0f} ms\n", e.what(),
               ms_since(start));
  }
  fmt::print("tasks still running: {}\n",
             tut::current_trace().unfinished_count());
}

// A timeout of 300 ms around a group (the `||` operator): the timeout wins,
// the group's wait() is cancelled and passes that on, and when the race
// is over no task is left running.
awaitable<void> timeout() {
  auto start = tut::now();
  auto work = lesson04::with_task_group(
      [](task_group& group) -> awaitable<void> {
        group.spawn(task("slow 1", 800ms));
        group.spawn(task("slow 2", 1s));
        co_return;
      });
  auto winner = co_await (std::move(work) || tut::sleep(300ms));
  fmt::print("{} after {:.0f} ms; tasks still running: {}\n",
             winner.index() == 1 ? "timed out" : "the group finished first",
             ms_since(start), tut::current_trace().unfinished_count());
}

}  // namespace

// Each scenario runs on a loop of its own, and then shows its timeline.
int main() {
  try {
    tut::run(lazy());
    timeline();
    tut::run(eager());
    timeline();
    fmt::print("a group where fetch b fails after 200 ms:\n");
    tut::run(one_fails());
    timeline();
    fmt::print("a group under a timeout of 300 ms:\n");
    tut::run(timeout());
    timeline();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
