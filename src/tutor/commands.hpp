// The learner's commands, and the actions watch mode shares with them. Each
// command returns the process exit code: 0 pass / done, 1 fail, 2 usage.
#pragma once

#include "course.hpp"
#include "grade.hpp"
#include "term.hpp"

#include <asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>

namespace tutor {

// ---- Actions, for the commands and for watch mode ----------------------------

// "Lesson 03 · Gather: ... (3 of 10)"
std::string lesson_header(const term& t, const course& c, std::size_t i);
// "Edit   lessons/03_gather/exercise.cpp" and "Read   .../README.md"
std::string lesson_files(const term& t, const course& c, std::size_t i);

// Grades lesson i's exercise and keeps the verdict in the progress.
asio::awaitable<verdict> grade_and_record(course& c, std::size_t i, grade_options o);

// Grades every lesson in turn, keeping each verdict; calls `each` after
// each one. Returns how many pass.
asio::awaitable<std::size_t> check_every_lesson(
    course& c, int columns, std::function<void(std::size_t, const verdict&)> each);

// Builds lesson i's demo with `s`'s code; the compiler's errors when it
// does not build, nothing when it does.
asio::awaitable<std::optional<std::string>> build_demo(const course& c, std::size_t i,
                                                       const side& s);

// Whether a pass is checked again under the sanitizers (unless
// $ASYNCLINGS_SANITIZE is 0).
bool sanitizer_pass_on();

// The targets of every lesson, in course order, for a background build.
std::vector<std::string> every_lesson_target(const course& c);

// ---- Commands ------------------------------------------------------------------

asio::awaitable<int> cmd_start(course& c, const term& t);
asio::awaitable<int> cmd_list(course& c, const term& t);
asio::awaitable<int> cmd_check(course& c, const term& t, std::optional<std::string> which,
                               bool full);
asio::awaitable<int> cmd_check_all(course& c, const term& t);
asio::awaitable<int> cmd_hint(course& c, const term& t, std::optional<std::string> which,
                              std::optional<int> task, bool all);
asio::awaitable<int> cmd_run(course& c, const term& t, std::optional<std::string> which,
                             bool solution);
asio::awaitable<int> cmd_reset(course& c, const term& t, std::string which, bool yes);
asio::awaitable<int> cmd_solution(course& c, const term& t, std::optional<std::string> which,
                                  bool force);
asio::awaitable<int> cmd_next(course& c, const term& t);

}  // namespace tutor
