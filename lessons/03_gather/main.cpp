// Lesson 03 demo: runs your exercise.cpp in real time. The dashboard loaded
// one service after another and then all at once; three pages gathered;
// a gather where one job fails; the same jobs settled; and what `&&` and
// gather_pair report when the second of two jobs fails.
// Run it with `scripts/tutor run 03`.
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

double ms_since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count() * 1000;
}

void timeline() {
  fmt::print("{}\n", tut::render_timeline(tut::current_trace()));
}

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

awaitable<void> gather_pages() {
  auto start = tut::now();
  auto results = co_await lesson03::gather(three_pages(false));
  fmt::print("gather of 600, 200 and 400 ms: [{}] in {:.0f} ms\n",
             fmt::join(results, ", "), ms_since(start));
}

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
