// The runtime's own guarantees: virtual time is exact and repeatable,
// deadlocks are named instead of hanging, blocking is seen.
#include "grading.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>

using namespace std::chrono_literals;
using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

awaitable<int> wait_then(tut::clock::duration d, int value) {
  co_await tut::sleep(d);
  co_return value;
}

awaitable<void> three_waits() {
  auto [a, b, c] = co_await (tut::traced("wait 1s", wait_then(1s, 1)) &&
                             tut::traced("wait 2s", wait_then(2s, 2)) &&
                             tut::traced("wait 3s", wait_then(3s, 3)));
  CHECK(a + b + c == 6);
}

}  // namespace

TEST_CASE("gather of 1 s, 2 s and 3 s ends at exactly 3 s, every time", "[runtime][virtual]") {
  for (int i = 0; i < 200; ++i) {
    auto r = grade::run([] { return three_waits(); });
    REQUIRE(r.ok());
    REQUIRE(r.trace.elapsed == 3s);
    REQUIRE(r.trace.peak == 3);
    REQUIRE(r.trace.find("wait 1s")->end == tut::seconds{1});
    REQUIRE(r.trace.find("wait 2s")->end == tut::seconds{2});
  }
}

TEST_CASE("virtual time takes no real time", "[runtime][virtual]") {
  auto before = std::chrono::steady_clock::now();
  auto r = grade::run([]() -> awaitable<void> { co_await tut::sleep(30min); });
  CHECK(r.seconds() == 1800);
  CHECK(std::chrono::steady_clock::now() - before < 1s);
}

TEST_CASE("sequential waits add up, spawned ones overlap", "[runtime][virtual]") {
  auto seq = grade::run([]() -> awaitable<void> {
    for (auto d : {1s, 2s, 3s}) co_await tut::traced("wait", tut::sleep(d));
  });
  CHECK(seq.trace.elapsed == 6s);
  CHECK(seq.trace.peak == 1);
  auto spawned = grade::run([]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (auto d : {1s, 2s, 3s}) co_spawn(ex, tut::traced("wait", tut::sleep(d)), detached);
  });
  CHECK(spawned.trace.elapsed == 3s);
  CHECK(spawned.trace.peak == 3);
}

TEST_CASE("a timer cancelled early does not move the clock", "[runtime][virtual]") {
  auto r = grade::run([]() -> awaitable<int> {
    auto result = co_await (wait_then(10s, 1) || wait_then(2s, 2));
    co_return static_cast<int>(result.index());
  });
  REQUIRE(r.ok());
  CHECK(*r.value == 1);
  CHECK(r.trace.elapsed == 2s);
}

TEST_CASE("a deadlock is named, not hung", "[runtime][deadlock]") {
  auto r = grade::run([]() -> awaitable<void> {
    // A timer parked at "forever", used as an event nobody sets.
    tut::timer event(co_await asio::this_coro::executor,
                     tut::clock::time_point::max());
    co_await tut::traced("waiter", event.async_wait(use_awaitable));
  });
  REQUIRE(r.threw<tut::deadlock_error>());
  CHECK_THAT(r.error, Catch::Contains("'waiter'"));
}

TEST_CASE("a task waiting on nothing at all is a deadlock too", "[runtime][deadlock]") {
  auto r = grade::run([]() -> awaitable<void> {
    // An operation whose handler is never called: the loop runs out of work
    // while the main coroutine still waits.
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
        [](auto&&) {}, use_awaitable);
  });
  REQUIRE(r.threw<tut::deadlock_error>());
}

TEST_CASE("a loop that never ends hits the time limit", "[runtime][limit]") {
  auto r = grade::run([]() -> awaitable<void> {
    for (;;) co_await tut::sleep(1min);
  });
  CHECK(r.threw<tut::time_limit_error>());
}

TEST_CASE("block_for holds the loop: nothing else runs meanwhile", "[runtime][blocking]") {
  auto r = grade::run([]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex, tut::traced("ticker", tut::sleep(100ms)), detached);
    co_await tut::yield();
    tut::block_for(1s);
  });
  REQUIRE(r.ok());
  // The ticker's 100 ms wait could only end after the 1 s block.
  CHECK(r.trace.find("ticker")->end >= tut::seconds{1});
  REQUIRE(r.trace.blocks.size() == 1);
  CHECK(r.trace.longest_block() == 1s);
}

TEST_CASE("a real blocking call is seen as a loop block", "[runtime][blocking]") {
  auto r = grade::run([]() -> awaitable<void> {
    std::this_thread::sleep_for(60ms);
    co_return;
  });
  REQUIRE(r.trace.blocks.size() == 1);
  CHECK(r.trace.longest_block() >= 60ms);
}

TEST_CASE("real mode runs on the steady clock", "[runtime][real]") {
  auto start = tut::now();
  tut::run(tut::sleep(20ms));
  CHECK(tut::now() - start >= 20ms);
  CHECK_FALSE(tut::virtual_time_active());
}

TEST_CASE("post runs callbacks in order, after the current task yields", "[runtime][order]") {
  std::vector<int> order;
  auto r = grade::run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::post(ex, [&] { order.push_back(2); });
    asio::post(ex, [&] { order.push_back(3); });
    order.push_back(1);
    co_await tut::yield();
    order.push_back(4);
  });
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}
