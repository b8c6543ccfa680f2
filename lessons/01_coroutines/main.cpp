// Coroutines in real time. This demo runs your exercise.cpp on a real loop
// and prints what each function did and when: creating a coroutine runs
// nothing, awaiting it runs it to its end, and spawning it lets it run
// beside the code that spawned it. Run it with `scripts/tutor run 01`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <string>
#include <vector>

using asio::awaitable;
using namespace std::chrono_literals;

namespace {

// A helper: seconds of loop time since `start`.
double seconds_since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

// Calling a coroutine only creates it: nothing runs and nothing waits, so
// no time passes. `co_await` then runs it to its end and hands back its
// result, half a second later.
awaitable<void> create_then_await() {
  auto start = tut::now();
  auto pending = lesson01::add_slowly(2, 3, 500ms);
  fmt::print("created add_slowly(2, 3, 500ms) after {:.3f} s: not run yet\n",
             seconds_since(start));
  int sum = co_await std::move(pending);
  fmt::print("co_await gave {} after {:.1f} s\n", sum, seconds_since(start));
}

// Two greetings awaited in turn: the second starts only when the first has
// ended, so the pair takes 0.2 s.
awaitable<void> greet_in_turn() {
  auto start = tut::now();
  auto greetings = co_await lesson01::greet_both("Ada", "Grace");
  fmt::print("greet_both: [{}] in {:.1f} s\n", fmt::join(greetings, ", "),
             seconds_since(start));
}

// An exception comes out of the co_await like a plain call's; port_or
// turns the one that means "not a port" into the fallback.
awaitable<void> parse_ports() {
  for (const char* text : {"8080", "http"})
    fmt::print("port_or(\"{}\", 80) = {}\n", text,
               co_await lesson01::port_or(text, 80));
}

// A spawned task runs beside the code that spawned it: start_in_background
// returns at once, and the loop goes on until the job has ended too.
awaitable<void> background_job() {
  co_await tut::sleep(300ms);
  fmt::print("background job finished\n");
}

awaitable<void> spawn_a_job() {
  lesson01::start_in_background(
      co_await asio::this_coro::executor,
      tut::traced("background job", background_job()));
  fmt::print("start_in_background returned at once\n");
}

// remind_later's task outlives the call and the string it was given: the
// reminder still arrives 200 ms later, from the task's own copy.
awaitable<void> remind() {
  std::vector<std::string> log;
  lesson01::remind_later(co_await asio::this_coro::executor, log, 200ms,
                         "the reminder, from its task's own copy");
  co_await tut::sleep(250ms);
  fmt::print("log after 250 ms: [{}]\n", fmt::join(log, ", "));
}

// The parts, in order, on one loop.
awaitable<void> main_coroutine() {
  co_await create_then_await();
  co_await greet_in_turn();
  co_await parse_ports();
  co_await spawn_a_job();
  co_await remind();
}

}  // namespace

// `main` is plain code, so tut::run gives it a loop, as asyncio.run does;
// the timeline shows the tasks of that run. run_add then makes a loop of
// its own.
int main() {
  try {
    tut::run(main_coroutine());
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
    fmt::print("\nrun_add() = {}\n", lesson01::run_add());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
