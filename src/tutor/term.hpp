// Terminal output: colours only on a TTY without NO_COLOR; text wrapped to
// the terminal at word boundaries (never inside a `code span`, never a
// timeline); verdicts, hints, lists and progress rendered as text.
#pragma once

#include "course.hpp"
#include "grade.hpp"
#include "project.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tutor {

struct term {
  bool color = false;
  int columns = 100;  // the terminal's width (100 when not a terminal)
  int rows = 40;

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

// Colour when stdout is a terminal, NO_COLOR is unset and TERM is not dumb;
// the size from the terminal.
term detect_term();
// Reads the terminal's size again (after SIGWINCH).
void update_size(term& t);
bool stdin_is_tty();

// A path the learner's terminal can open: relative to the current directory
// when inside it, absolute otherwise.
std::string display_path(const fs::path& p);

std::string progress_bar(std::size_t done, std::size_t total, int width = 30);

// ---- Laying text out --------------------------------------------------------

// Columns the text takes on screen: escape sequences take none, every other
// UTF-8 character one.
std::size_t display_width(std::string_view s);
// Wraps each line of `text` to `width` columns. Prose breaks at spaces and
// never inside a `code span` (a span longer than the line gets a line of
// its own); continuation lines keep the line's indent. Preformatted lines
// (timelines, tables: box-drawing glyphs or runs of spaces inside) are not
// wrapped but cut, with a "…" at the end.
std::vector<std::string> wrap_lines(std::string_view text, int width);
std::string wrap_text(std::string_view text, int width);
// One line cut to `width` columns, with "…" when something was cut.
std::string cut_line(std::string_view line, int width);
// The first `n` lines of `lines`, or all of them.
std::string join_lines(const std::vector<std::string>& lines, std::size_t from = 0,
                       std::size_t n = static_cast<std::size_t>(-1));

// ---- Verdicts and hints -------------------------------------------------------

// A verdict in three parts, so that a screen can give each the room it has.
struct verdict_text {
  std::string headline;            // "✗ 2 of 5 tasks pass."
  std::vector<std::string> tasks;  // a line or two per task: ✓/✗, number, title;
                                   // for a failing task, its first failing case
  std::string detail;  // the first failing task in full (`full`: every one):
                       // messages and timelines, what the code printed,
                       // where it crashed, the compiler's warnings
};
verdict_text describe_verdict(const term& t, const lesson& l, const verdict& v,
                              bool full = false);
// All three parts, one after the other (the check command).
std::string render_verdict(const term& t, const lesson& l, const verdict& v,
                           bool full = false);
// "3 of 5 tasks pass", "does not compile", "crashes", ...
std::string verdict_summary(const verdict& v);

// "Hint 2 of 3 for task 2 (start_together: spawn jobs ...):" and the hint.
std::string render_hint(const term& t, const lesson& l, const hint& h);

}  // namespace tutor
