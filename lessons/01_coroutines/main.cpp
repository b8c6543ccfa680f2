// Lesson 01 demo: runs your exercise.cpp in real time and prints what it did.
// Run it with `scripts/tutor run 01`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>

using asio::awaitable;
using namespace std::chrono_literals;

namespace {

double seconds_since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

awaitable<void> main_coroutine() {
  // Calling a coroutine only creates it: nothing runs, nothing waits.
  auto start = tut::now();
  auto pending = lesson01::add_slowly(2, 3, 500ms);
  fmt::print("created add_slowly(2, 3, 500ms) after {:.3f} s: not run yet\n",
             seconds_since(start));

  // co_await runs it to the end and hands back its result.
  int sum = co_await std::move(pending);
  fmt::print("co_await gave {} after {:.1f} s\n", sum, seconds_since(start));

  start = tut::now();
  auto greetings = co_await lesson01::greet_both("Ada", "Grace");
  fmt::print("greet_both: [{}] in {:.1f} s\n", fmt::join(greetings, ", "),
             seconds_since(start));

  for (const char* text : {"8080", "http"})
    fmt::print("port_or(\"{}\", 80) = {}\n", text,
               co_await lesson01::port_or(text, 80));

  // A spawned task runs beside this one; the loop keeps going until it ends.
  lesson01::start_in_background(
      co_await asio::this_coro::executor,
      tut::traced("background job", []() -> awaitable<void> {
        co_await tut::sleep(300ms);
        fmt::print("background job finished\n");
      }()));
  fmt::print("start_in_background returned at once\n");
}

}  // namespace

int main() {
  try {
    tut::run(main_coroutine());
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
    // asyncio.run from plain code: a whole loop in one call.
    fmt::print("\nrun_add() = {}\n", lesson01::run_add());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
