// Gather in real time. This demo runs your exercise.cpp on a real loop: a
// dashboard loaded one service after another and then all at once, three
// pages gathered, a gather in which one page fails, the same pages settled,
// and what `&&` and gather_pair report when the second of two jobs fails.
// Each run prints its figures and its timeline. Run it with
// `scripts/tutor run 03`.
#include "lesson.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

using asio::awaitable;
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

// The jobs: a page that answers after `d`, and one that fails after `d`.
awaitable<std::string> page(std::string name, tut::clock::duration d) {
  co_await tut::sleep(d);
  co_return name;
}

awaitable<std::string> broken(std::string what, tut::clock::duration d) {
  co_await tut::sleep(d);
  throw std::runtime_error(what);
}

// Pages a, b and c take 600, 200 and 400 ms; with `b_fails`, b throws.
std::vector<awaitable<std::string>> three_pages(bool b_fails) {
  std::vector<awaitable<std::string>> jobs;
  jobs.push_back(tut::traced("page a", page("a", 600ms)));
  jobs.push_back(tut::traced(
      "page b", b_fails ? broken("page b: 503 Service Unavailable", 200ms)
                        : page("b", 200ms)));
  jobs.push_back(tut::traced("page c", page("c", 400ms)));
  return jobs;
}

// What an exception says; for the multiple_exceptions of `&&`, what its
// first exception says too.
std::string what(const std::exception& e) {
  if (const auto* many = dynamic_cast<const asio::multiple_exceptions*>(&e)) {
    try {
      std::rethrow_exception(many->first_exception());
    } catch (const std::exception& first) {
      return fmt::format("\"{}\" (the first one: \"{}\")", e.what(),
                         first.what());
    }
  }
  return fmt::format("\"{}\"", e.what());
}

// The dashboard, its three services of 200 ms called one after another
// (600 ms), then together with `&&` (200 ms: the slowest, not the sum).
awaitable<void> show_dashboard(bool together) {
  auto start = tut::now();
  lesson03::dashboard shown;
  // (g++ 12 miscompiles `c ? co_await a : co_await b`: keep them apart.)
  if (together)
    shown = co_await lesson03::load_dashboard(7);
  else
    shown = co_await lesson03::load_dashboard_in_turn(7);
  fmt::print("{}: {:.0f} ms\n  user {}, orders [{}], notifications [{}]\n",
             together ? "dashboard, services called together"
                      : "dashboard, one service after another",
             ms_since(start), shown.user, fmt::join(shown.orders, ", "),
             fmt::join(shown.notifications, ", "));
}

// Three pages of 600, 200 and 400 ms gathered: 600 ms in all, and the
// results in the order of the jobs, not the order they ended in.
awaitable<void> gather_pages() {
  auto start = tut::now();
  auto results = co_await lesson03::gather(three_pages(false));
  fmt::print("gather of 600, 200 and 400 ms: [{}] in {:.0f} ms\n",
             fmt::join(results, ", "), ms_since(start));
}

// Page b fails after 200 ms: gather cancels a and c, waits for them, and
// rethrows b's own error, with no task left running.
awaitable<void> gather_with_failure() {
  auto start = tut::now();
  try {
    co_await lesson03::gather(three_pages(true));
    fmt::print("gather returned normally, although page b failed\n");
  } catch (const std::exception& e) {
    fmt::print("gather threw {} after {:.0f} ms; tasks still running: {}\n",
               what(e), ms_since(start),
               tut::current_trace().unfinished_count());
  }
}

// The same pages settled: every page runs to its end, and each outcome,
// value or error, comes back in its own slot.
awaitable<void> settle_pages() {
  auto outcomes = co_await lesson03::gather_settled(three_pages(true));
  fmt::print("gather_settled:");
  for (const auto& o : outcomes) {
    if (o.value) {
      fmt::print(" \"{}\"", *o.value);
    } else if (o.error) {
      try {
        std::rethrow_exception(o.error);
      } catch (const std::exception& e) {
        fmt::print(" error({})", what(e));
      }
    } else {
      fmt::print(" (nothing)");
    }
  }
  fmt::print("\n");
}

// The second of two jobs fails after 100 ms. `first && second` cancels the
// first and reports what the first ended with, its cancellation;
// gather_pair reports the second job's own error.
awaitable<void> pair_with_failure(bool with_and) {
  auto first = tut::traced("first", page("left", 300ms));
  auto second = tut::traced("second", broken("payment service is down", 100ms));
  try {
    if (with_and)
      co_await (std::move(first) && std::move(second));
    else
      co_await lesson03::gather_pair(std::move(first), std::move(second));
    fmt::print("returned normally\n");
  } catch (const std::exception& e) {
    fmt::print("{} threw {}\n", with_and ? "first && second" : "gather_pair",
               what(e));
  }
}

}  // namespace

// Each scenario runs on a loop of its own, and then shows its timeline.
int main() {
  try {
    tut::run(show_dashboard(false));
    timeline();
    tut::run(show_dashboard(true));
    timeline();
    tut::run(gather_pages());
    timeline();
    tut::run(gather_with_failure());
    timeline();
    tut::run(settle_pages());
    timeline();
    tut::run(pair_with_failure(true));
    timeline();
    tut::run(pair_with_failure(false));
    timeline();
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
