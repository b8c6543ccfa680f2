#include "watch_screen.hpp"

#include <algorithm>

namespace tutor {
namespace {

void append(std::vector<std::string>& out, const std::vector<std::string>& more) {
  out.insert(out.end(), more.begin(), more.end());
}

// The first line of each task entry only: a failing task's second line
// (its first failing case) goes when room is short.
std::vector<std::string> task_lines(const std::vector<std::string>& tasks, int width,
                                    bool compact) {
  // Each entry's lines are cut, not wrapped: a task takes at most two.
  std::vector<std::string> out;
  for (const auto& t : tasks) {
    std::size_t start = 0;
    for (int n = 0; n < (compact ? 1 : 2) && start <= t.size(); ++n) {
      auto nl = t.find('\n', start);
      out.push_back(cut_line(std::string_view(t).substr(start, nl - start), width));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> layout_screen(const screen_model& m, const term& t) {
  const int width = std::max(t.columns, 20);
  const std::size_t rows = static_cast<std::size_t>(std::max(t.rows - 1, 8));

  std::vector<std::string> top;
  append(top, wrap_lines(m.title, width));
  top.push_back("");
  if (!m.listing) {
    for (const auto& h : m.head) append(top, wrap_lines(h, width));
    top.push_back("");
  }

  std::vector<std::string> bottom;
  if (!m.prompt.empty()) append(bottom, wrap_lines(m.prompt, width));
  if (!m.message.empty()) append(bottom, wrap_lines(m.message, width));
  if (!m.status.empty()) append(bottom, wrap_lines(m.status, width));
  auto keys = wrap_lines(m.keys, width);
  if (!bottom.empty()) bottom.push_back("");
  append(bottom, keys);

  std::size_t room = rows > top.size() + bottom.size() ? rows - top.size() - bottom.size() : 0;

  std::vector<std::string> body;
  if (m.listing) {
    // A window of the list around the cursor.
    std::size_t n = m.list.size();
    std::size_t first = 0;
    if (n > room && room > 0) {
      first = m.cursor >= room / 2 ? m.cursor - room / 2 : 0;
      first = std::min(first, n - room);
    }
    for (std::size_t i = first; i < n && body.size() < room; ++i)
      body.push_back(wrap_lines(m.list[i], width).front());
  } else {
    std::vector<std::string> head_lines;
    if (!m.headline.empty()) append(head_lines, wrap_lines(m.headline, width));
    auto tasks = task_lines(m.tasks, width, false);
    auto panel = wrap_lines(m.panel, width);
    while (!panel.empty() && panel.back().empty()) panel.pop_back();
    std::size_t fixed = head_lines.size() + (tasks.empty() ? 0 : 1 + tasks.size());
    // Short of room: tasks in one line each before the panel loses more.
    if (fixed + (panel.empty() ? 0 : 1 + std::min<std::size_t>(panel.size(), 4)) > room) {
      tasks = task_lines(m.tasks, width, true);
      fixed = head_lines.size() + (tasks.empty() ? 0 : 1 + tasks.size());
    }
    append(body, head_lines);
    if (!tasks.empty()) {
      body.push_back("");
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        if (body.size() + 1 >= room && i + 1 < tasks.size()) {
          body.push_back(wrap_lines("  ... " + std::to_string(tasks.size() - i) +
                                        " more lines of tasks",
                                    width)
                             .front());
          break;
        }
        body.push_back(tasks[i]);
      }
    }
    if (!panel.empty() && body.size() + 2 <= room) {
      body.push_back("");
      std::size_t left = room - body.size();
      if (panel.size() <= left) {
        append(body, panel);
      } else {
        auto note = wrap_lines(m.panel_cut.empty() ? "..." : m.panel_cut, width);
        std::size_t keep = left > note.size() ? left - note.size() : 0;
        body.insert(body.end(), panel.begin(), panel.begin() + keep);
        append(body, note);
      }
    }
    if (body.size() > room) body.resize(room);
  }

  std::vector<std::string> screen = top;
  append(screen, body);
  // The bottom block sits at the bottom of the screen.
  while (screen.size() + bottom.size() < rows) screen.push_back("");
  append(screen, bottom);
  if (screen.size() > rows) {
    // Not even the fixed parts fit: keep the bottom (what was asked for).
    screen.erase(screen.begin(), screen.begin() + (screen.size() - rows));
  }
  return screen;
}

std::string draw_screen(const screen_model& m, const term& t) {
  std::string out = "\x1b[H";  // home; each line clears what was there
  auto lines = layout_screen(m, t);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    out += "\x1b[K";  // clear to the end of the line
    if (t.color) out += "\x1b[0m";
    if (i + 1 < lines.size()) out += "\r\n";
  }
  out += "\x1b[J";  // and below
  return out;
}

}  // namespace tutor
