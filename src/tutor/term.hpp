// Terminal output: colours only on a TTY without NO_COLOR; verdicts, lists
// and progress rendered as text.
#pragma once

#include "grade.hpp"
#include "project.hpp"

#include <string>

namespace tutor {

struct term {
  bool color = false;

  std::string bold(std::string_view s) const { return wrap("1", s); }
  std::string dim(std::string_view s) const { return wrap("2", s); }
  std::string red(std::string_view s) const { return wrap("31", s); }
  std::string green(std::string_view s) const { return wrap("32", s); }
  std::string yellow(std::string_view s) const { return wrap("33", s); }
  std::string cyan(std::string_view s) const { return wrap("36", s); }
  std::string ok_mark() const { return green("\u2713"); }    // ✓
  std::string fail_mark() const { return red("\u2717"); }    // ✗

private:
  std::string wrap(const char* code, std::string_view s) const;
};

// Colour when stdout is a terminal, NO_COLOR is unset and TERM is not dumb.
term detect_term();
bool stdin_is_tty();

// A path the learner's terminal can open: relative to the current directory
// when inside it, absolute otherwise.
std::string display_path(const fs::path& p);

std::string progress_bar(std::size_t done, std::size_t total, int width = 30);

// The verdict of one lesson, in the lesson's words. `full` shows every
// failure message, otherwise only the first failing task's.
std::string render_verdict(const term& t, const lesson& l, const verdict& v,
                           bool full = false);

}  // namespace tutor
