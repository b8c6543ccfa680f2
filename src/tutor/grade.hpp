// Grading one lesson: build the code of one side, run the lesson's tests with
// a time limit per test case, and turn what happened into a verdict the
// learner can act on: what failed, what their code printed, where it
// crashed, what the compiler warned about.
#pragma once

#include "process.hpp"
#include "project.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tutor {

struct case_result {
  std::string name;
  int task = 0;  // N of the case's [taskN] tag; 0 when it has none
  bool passed = false;
  std::vector<std::string> messages;
  double seconds = -1;  // how long it ran; -1: not known (it did not end)
  std::string output;  // what the code printed while this case ran (its end)
  std::string raw_output;  // all of it (up to 64 KiB), for a sanitizer's report
  // A crash: where, as "lessons/03_gather/exercise.cpp:57 in job_ended",
  // the frames in the project's own files first.
  std::vector<std::string> frames;
};

enum class verdict_kind {
  passed,         // every test case passed
  failed,         // some test cases failed
  compile_error,  // the code does not compile
  crashed,        // a test program died of a signal
  timed_out,      // a test case did not finish in its time and was stopped
  memory_error,   // the tests pass, but AddressSanitizer or UBSan objected
  broken,         // the build or the tests themselves misbehaved
};

struct verdict {
  verdict_kind kind = verdict_kind::broken;
  std::vector<case_result> cases;
  std::string diagnostics;  // compiler errors, trimmed to the learner's file
  std::string warnings;     // compiler warnings in the learner's file
  std::string detail;       // what went wrong, when not a test failure
  std::string output;       // the failing test program's own output, truncated
  std::string last_case;    // the test case running when it crashed or hung
  std::string crash_site;   // the first frame in the learner's file
  std::string sanitizer;    // the sanitizer's report, trimmed
  std::chrono::milliseconds build_time{0}, run_time{0}, sanitizer_time{0};

  bool passed() const { return kind == verdict_kind::passed; }
  std::size_t cases_passed() const;
  // Tasks (1-based, in order) with at least one failing case, and all the
  // tasks the cases name.
  std::vector<int> failing_tasks() const;
  std::vector<int> tasks() const;
};

struct grade_options {
  side what = side::exercise();
  bool build = true;
  // Each test case gets this long, counted from its own start: a hang is
  // stopped and named, and a loaded machine slows every case alike
  // instead of eating a budget the cases share.
  std::chrono::milliseconds case_timeout{5'000};
  std::size_t parallel = 0;  // test processes at once; 0: default_parallel_tests()
  // The whole binary runs first, in one process, for at most this long
  // (0: never): a lesson on virtual time is graded in milliseconds. What it
  // does not settle runs a process per case (run_tests).
  std::chrono::milliseconds whole_budget{1'500};
  // A whole run that ended but took longer than this (real sockets, real
  // timers: cases that mostly wait) still gives the verdict, and the next
  // grading runs the cases in several processes at once, packed by their
  // last times, so that the waits overlap.
  std::chrono::milliseconds whole_preferred{300};
  std::chrono::milliseconds build_timeout{300'000};
  int columns = 0;  // the learner's terminal width, for the tests' timelines
  fs::path root;    // the repository (crash sites are named relative to it)
  std::map<std::string, std::string> env;  // added to the tests' environment
};

// (No default arguments on coroutines: g++ 12 destroys them twice.)
asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l,
                                      grade_options o);
inline asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l) {
  return grade_lesson(p, l, grade_options{});
}

// The sanitizer pass: the same tests, with the learner's code built under
// AddressSanitizer and UndefinedBehaviorSanitizer (build/tutor-asan). A
// `passed` verdict when they find nothing, `memory_error` with the report
// (and the file and line in the learner's code) when they do. Configures
// and builds what it needs the first time, which takes a while.
asio::awaitable<verdict> sanitize_lesson(const project& p, const lesson& l,
                                         grade_options o);
// A sanitizer's report cut down to what the learner needs: what it found,
// and the frames in the project's own files (the learner's first), with the
// first of those in the access as the site.
struct sanitizer_report {
  std::string headline;  // "AddressSanitizer: heap-use-after-free"
  std::string text;      // the headline and the frames that matter
  std::string site;      // "lessons/01_coroutines/exercise.cpp:50 in add_slowly"
};
sanitizer_report summarize_sanitizer(const std::string& output, const fs::path& root);

// The build directory the sanitizer pass uses, beside p.build.
fs::path sanitizer_build(const project& p);

// Runs a test binary that is already built and reads its report. With
// `parallel` > 1, the whole binary runs first within `whole_budget`; the
// cases it did not settle (failed, crashed, hung, or all of them when it
// was too slow) then run in a process each, that many at once: the
// real-time lessons' tests mostly wait (on sockets, on real timers), so
// they overlap well, and a case that crashes or hangs takes only itself
// down. Each of those must end within `case_timeout` of its own start. A
// binary too slow to run whole is remembered beside it
// (<binary>.per-case) and goes straight to a process per case.
asio::awaitable<verdict> run_tests(const std::filesystem::path& binary,
                                   grade_options o);

// Test processes at once by default: eight per core, from 2 to 16
// ($ASYNCLINGS_TEST_JOBS overrides it).
std::size_t default_parallel_tests();

// Compiler output cut down to the first errors in `file`, with their notes.
std::string trim_diagnostics(const std::string& output,
                             const std::filesystem::path& file,
                             std::size_t max_errors = 3);
// The warnings in `file`, with the lines the compiler prints under them.
std::string file_warnings(const std::string& output,
                          const std::filesystem::path& file,
                          std::size_t max_warnings = 3);


}  // namespace tutor
