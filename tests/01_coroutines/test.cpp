// Lesson 01 grading: each scenario runs through your code and through the
// reference on virtual time; a difference is explained in the lesson's words.
#include "sides.hpp"

#include <chrono>
#include <string>
#include <vector>

TEST_CASE("add_slowly returns the sum", "[lesson01][task1]") {
  struct example {
    int a, b;
    std::string msg;
  };
  std::vector<example> cases{{2, 3, "small numbers"},
                             {-4, 4, "a sum of zero"},
                             {20, 22, "the answer"}};
  for (const auto& c : cases) {
    auto call = fmt::format("add_slowly({}, {}, 1s)", c.a, c.b);
    auto actual = grade::run(
        [&] { return tut::traced(call, yours::add_slowly(c.a, c.b, 1s)); });
    auto expected = grade::run(
        [&] { return tut::traced(call, reference::add_slowly(c.a, c.b, 1s)); });
    INFO(c.msg);
    grade::expect_no_exception(actual, expected, "add_slowly");
    GRADE(actual.value == expected.value,
          fmt::format("add_slowly({}, {}, 1s) returned {}; expected {}", c.a,
                      c.b, *actual.value, *expected.value),
          actual, expected);
  }
}

TEST_CASE("add_slowly waits its delay on the loop before answering",
          "[lesson01][task1]") {
  auto actual = grade::run([] {
    return tut::traced("add_slowly", yours::add_slowly(1, 1, 1500ms));
  });
  auto expected = grade::run([] {
    return tut::traced("add_slowly", reference::add_slowly(1, 1, 1500ms));
  });
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("add_slowly(1, 1, 1.5s) took {}; it should take {}: "
                    "co_await tut::sleep(delay) before returning",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("greet_both returns both greetings, first then second",
          "[lesson01][task2]") {
  auto actual = grade::run([] {
    return tut::traced("greet_both", yours::greet_both("Ada", "Grace"));
  });
  auto expected = grade::run([] {
    return tut::traced("greet_both", reference::greet_both("Ada", "Grace"));
  });
  grade::expect_no_exception(actual, expected, "greet_both");
  GRADE(actual.value == expected.value,
        fmt::format("greet_both(\"Ada\", \"Grace\") returned [{}]; expected "
                    "[{}]",
                    fmt::join(*actual.value, ", "),
                    fmt::join(*expected.value, ", ")),
        actual, expected);
}

TEST_CASE("greet_both awaits one greeting after the other",
          "[lesson01][task2]") {
  auto actual = grade::run([] {
    return tut::traced("greet_both", yours::greet_both("Ada", "Grace"));
  });
  auto expected = grade::run([] {
    return tut::traced("greet_both", reference::greet_both("Ada", "Grace"));
  });
  GRADE(actual.seconds() == expected.seconds(),
        fmt::format("greet_both took {}; two greetings of 100 ms awaited in "
                    "turn take {}",
                    secs(actual.seconds()), secs(expected.seconds())),
        actual, expected);
}

TEST_CASE("port_or returns the port, or the fallback when parsing throws",
          "[lesson01][task3]") {
  struct example {
    std::string text;
    std::string msg;
  };
  std::vector<example> cases{{"8080", "a valid port"},
                             {"http", "not a number"},
                             {"70000", "a number too large to be a port"},
                             {"80x", "trailing characters"}};
  for (const auto& c : cases) {
    auto call = fmt::format("port_or(\"{}\", -1)", c.text);
    auto actual =
        grade::run([&] { return tut::traced(call, yours::port_or(c.text, -1)); });
    auto expected = grade::run(
        [&] { return tut::traced(call, reference::port_or(c.text, -1)); });
    INFO(c.msg);
    if (actual.exception)
      FAIL(grade::explain(
          fmt::format("port_or(\"{}\", -1) let {} escape: \"{}\". Catch it "
                      "around the co_await and return the fallback.",
                      c.text, actual.error_type, actual.error),
          actual.trace, expected.trace));
    GRADE(actual.value == expected.value,
          fmt::format("port_or(\"{}\", -1) returned {}; expected {}", c.text,
                      *actual.value, *expected.value),
          actual, expected);
  }
}

TEST_CASE("a job handed to start_in_background runs as its own task",
          "[lesson01][task4]") {
  auto scenario = [](auto start) {
    return grade::run([start]() -> awaitable<void> {
      // Virtual time (grade::run): the 1 s passes without a real wait.
      auto job = tut::traced("job", tut::sleep(1s));
      co_await tut::traced("main", [&]() -> awaitable<void> {
        start(co_await asio::this_coro::executor, std::move(job));
        co_return;
      }());
    });
  };
  auto actual = scenario(yours::start_in_background);
  auto expected = scenario(reference::start_in_background);
  GRADE(actual.trace.find("job") != nullptr,
        "your job never ran. An awaitable does nothing until it is awaited "
        "or spawned: co_spawn it.",
        actual, expected);
  GRADE(actual.trace.find("job")->result == tut::outcome::done,
        "your job started but did not finish", actual, expected);
  GRADE(actual.trace.find("main")->end == expected.trace.find("main")->end,
        fmt::format("start_in_background should return at once, but main "
                    "waited {} for the job: spawn it, don't await it",
                    secs(actual.trace.find("main")->end->count())),
        actual, expected);
}

TEST_CASE("run_add runs the coroutine on a loop and returns 42",
          "[lesson01][task5]") {
  tut::virtual_time clock;
  int actual = yours::run_add();
  int expected = reference::run_add();
  INFO("run_add() returned " << actual << "; expected " << expected
                             << ": return tut::run(add_slowly(20, 22, 1s))");
  CHECK(actual == expected);
}
