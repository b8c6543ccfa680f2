// Grading one lesson: build the learner's code, run the lesson's tests with a
// time limit, and turn what happened into a verdict the learner can act on.
#pragma once

#include "process.hpp"
#include "project.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tutor {

struct case_result {
  std::string name;
  std::string task;  // "task2", from the [taskN] tag
  bool passed = false;
  std::vector<std::string> messages;
};

enum class verdict_kind {
  passed,         // every test case passed
  failed,         // some test cases failed
  compile_error,  // the code does not compile
  crashed,        // the test program died of a signal
  timed_out,      // the test program did not finish in time
  broken,         // the build or the tests themselves misbehaved
};

struct verdict {
  verdict_kind kind = verdict_kind::broken;
  std::vector<case_result> cases;
  std::string diagnostics;  // compiler errors, trimmed to the learner's file
  std::string detail;       // what went wrong, when not a test failure
  std::string output;       // the test program's own output, truncated
  std::string last_case;    // the test case running when it crashed or hung
  std::chrono::milliseconds build_time{0}, run_time{0};

  bool passed() const { return kind == verdict_kind::passed; }
  std::size_t cases_passed() const;
};

struct grade_options {
  std::string side = "exercise";  // or "solution", "wrong_<name>"
  bool build = true;
  // For all the cases: a hang is stopped, with a verdict, within 10 s of
  // the save (the build included).
  std::chrono::milliseconds test_timeout{7'000};
  std::size_t parallel = 0;  // test processes at once; 0: default_parallel_tests()
  std::chrono::milliseconds build_timeout{300'000};
};

// (No default arguments on coroutines: g++ 12 destroys them twice.)
asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l,
                                      grade_options o);
inline asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l) {
  return grade_lesson(p, l, grade_options{});
}

// Runs a test binary that is already built and reads its report. With
// `parallel` > 1, each test case runs in a process of its own, that many at
// once: the lessons' tests mostly wait (on sockets, on real timers), so
// they overlap well, and a case that crashes or hangs takes only itself
// down. Every case must end within `timeout` of the start.
asio::awaitable<verdict> run_tests(const std::filesystem::path& binary,
                                   std::chrono::milliseconds timeout,
                                   std::size_t parallel);

// Test processes at once by default: eight per core, from 2 to 16
// ($ASYNCLINGS_TEST_JOBS overrides it).
std::size_t default_parallel_tests();

// Compiler output cut down to the first errors in `file`, with their notes.
std::string trim_diagnostics(const std::string& output,
                             const std::filesystem::path& file,
                             std::size_t max_errors = 3);

// Builds CMake targets; the result's output holds the compiler messages.
asio::awaitable<process_result> build_targets(const project& p,
                                              std::vector<std::string> targets,
                                              std::chrono::milliseconds timeout);

}  // namespace tutor
