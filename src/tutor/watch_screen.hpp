// Watch mode's screen: what is on it (a model the app fills in) and how it
// is laid out on a terminal of any size. Everything just asked for stays
// visible: the prompt of a question, the hint just revealed, the keys. What
// does not fit is the verdict's detail, cut with a note that says where the
// rest is.
#pragma once

#include "term.hpp"

#include <string>
#include <vector>

namespace tutor {

struct screen_model {
  std::string title;              // "asynclings  [####----] 3/10"
  std::vector<std::string> head;  // the lesson's header and its files
  std::string status;             // "grading ...", a background build's progress
  std::string headline;           // the verdict's first line
  std::vector<std::string> tasks; // a line or two per task
  std::string panel;              // the verdict's detail, the hints, or the diff
  std::string panel_cut;          // said where the panel is cut
  std::string prompt;             // a question waiting for y/N: always shown
  std::string message;            // what the last key did
  std::string keys;               // the keys line

  // The lesson list (mode l) instead of the lesson.
  bool listing = false;
  std::vector<std::string> list;
  std::size_t cursor = 0;
};

// The whole screen: exactly as many lines as fit in `t.rows` (one fewer, so
// that the terminal never scrolls), each at most `t.columns` wide.
std::vector<std::string> layout_screen(const screen_model& m, const term& t);
// The escape sequences and text that draw it.
std::string draw_screen(const screen_model& m, const term& t);

}  // namespace tutor
