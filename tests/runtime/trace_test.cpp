#include "grading.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>

using namespace std::chrono_literals;
using asio::awaitable;

namespace {

awaitable<void> failing() {
  co_await tut::sleep(1s);
  throw std::runtime_error("boom");
}

}  // namespace

TEST_CASE("traced tasks record start, end and how they ended", "[runtime][trace]") {
  auto r = grade::run([]() -> awaitable<void> {
    co_await tut::traced("ok", tut::sleep(1s));
    try {
      co_await tut::traced("bad", failing());
    } catch (const std::runtime_error&) {
    }
    using namespace asio::experimental::awaitable_operators;
    co_await (tut::traced("slow", tut::sleep(5s)) || tut::sleep(1s));
  });
  REQUIRE(r.ok());
  const auto* ok = r.trace.find("ok");
  const auto* bad = r.trace.find("bad");
  const auto* slow = r.trace.find("slow");
  REQUIRE((ok && bad && slow));
  CHECK(ok->result == tut::outcome::done);
  CHECK(bad->result == tut::outcome::failed);
  CHECK(bad->error == "boom");
  CHECK(bad->start == tut::seconds{1});
  CHECK(slow->result == tut::outcome::cancelled);
  CHECK(slow->end == tut::seconds{3});
  CHECK(r.trace.elapsed == 3s);
}

TEST_CASE("the timeline has one row per task on a shared axis", "[runtime][trace]") {
  auto r = grade::run([]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    co_await (tut::traced("fetch 1", tut::sleep(1s)) &&
              tut::traced("fetch 2", tut::sleep(2s)));
    tut::note("fetch 2", "cleanup");
  });
  auto text = tut::render_timeline(r.trace);
  CHECK_THAT(text, Catch::Contains("fetch 1"));
  CHECK_THAT(text, Catch::Contains("ended 1s"));
  CHECK_THAT(text, Catch::Contains("ended 2s"));
  CHECK_THAT(text, Catch::Contains("cleanup"));
  CHECK_THAT(text, Catch::Contains("at most 2 rows at once (fetch 1, fetch 2)"));
  auto json = tut::to_json(r.trace);
  CHECK_THAT(json, Catch::Contains("\"name\":\"fetch 2\""));
  CHECK_THAT(json, Catch::Contains("\"outcome\":\"done\""));
  CHECK_THAT(json, Catch::Contains("\"peak\":2"));
}

TEST_CASE("a row that did not start at 0 says when it ended and how long it ran",
          "[runtime][trace]") {
  auto r = grade::run([]() -> awaitable<void> {
    co_await tut::traced("wait 3s", tut::sleep(3s));
    co_await tut::traced("wait 3s again", tut::sleep(3s));
  });
  auto text = tut::render_timeline(r.trace);
  CHECK_THAT(text, Catch::Contains("ended 3s"));
  CHECK_THAT(text, Catch::Contains("ended 6s \u00b7 ran 3s"));
  CHECK_THAT(text, !Catch::Contains("at most"));
}

TEST_CASE("peak_of counts a group of tasks; a freed slot is reused, not doubled", "[runtime][trace]") {
  auto r = grade::run([]() -> awaitable<void> {
    co_await tut::traced("a", tut::sleep(1s));
    co_await tut::traced("a", tut::sleep(1s));
  });
  CHECK(r.trace.peak_of("a") == 1);
  CHECK(r.trace.peak == 1);
}
