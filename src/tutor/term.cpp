#include "term.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>

#include <sys/ioctl.h>
#include <unistd.h>

namespace tutor {

std::string term::wrap(const char* code, std::string_view s) const {
  if (!color) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

void update_size(term& t) {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0 && w.ws_row > 0) {
    t.columns = w.ws_col;
    t.rows = w.ws_row;
  }
}

term detect_term() {
  term t;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term_name = std::getenv("TERM");
  bool tty = isatty(STDOUT_FILENO);
  t.color = tty && !(no_color && *no_color) &&
            !(term_name && std::string_view(term_name) == "dumb");
  if (tty) update_size(t);
  if (const char* cols = std::getenv("COLUMNS"); !tty && cols)
    if (int n = std::atoi(cols); n >= 40) t.columns = n;
  return t;
}

bool stdin_is_tty() { return isatty(STDIN_FILENO); }

std::string display_path(const fs::path& p) {
  std::error_code ec;
  auto cwd = fs::current_path(ec);
  auto rel = fs::relative(p, cwd, ec);
  if (!ec && !rel.empty() && !rel.string().starts_with("..")) return rel.string();
  return p.string();
}

std::string progress_bar(std::size_t done, std::size_t total, int width) {
  int filled = total ? static_cast<int>(done * width / total) : 0;
  std::string bar = "[";
  for (int i = 0; i < width; ++i) bar += i < filled ? "#" : "-";
  return bar + fmt::format("] {}/{}", done, total);
}

// ---- Laying text out --------------------------------------------------------

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == 0x1b) {  // ESC [ ... letter
      ++i;
      if (i < s.size() && s[i] == '[')
        while (i + 1 < s.size() && !std::isalpha(static_cast<unsigned char>(s[i + 1]))) ++i;
      ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++w;  // not a UTF-8 continuation byte
  }
  return w;
}

namespace {

// Cuts `line` to `width` columns, with "…" when something was cut.
std::string cut(std::string_view line, int width) {
  if (display_width(line) <= static_cast<std::size_t>(width)) return std::string(line);
  std::string out;
  std::size_t w = 0;
  bool in_escape = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    unsigned char c = line[i];
    if (c == 0x1b) in_escape = true;
    if (in_escape) {
      out += line[i];
      if (std::isalpha(c) && c != '[') in_escape = false;
      continue;
    }
    if ((c & 0xC0) != 0x80) {
      if (w + 1 >= static_cast<std::size_t>(width)) break;
      ++w;
    }
    out += line[i];
  }
  return out + "\u2026" + (line.find('\x1b') != std::string_view::npos ? "\x1b[0m" : "");
}

// A timeline row, a table, a diff: drawn to be read as it is.
bool preformatted(std::string_view line) {
  for (std::size_t i = 0; i + 2 < line.size(); ++i) {
    unsigned char a = line[i], b = line[i + 1];
    // U+2500..U+25FF: box drawing, blocks, geometric shapes (E2 94..97 xx).
    if (a == 0xE2 && b >= 0x94 && b <= 0x97) return true;
  }
  auto text = line.find_first_not_of(' ');
  if (text == std::string_view::npos) return false;
  return line.find("   ", text) != std::string_view::npos;
}

// Words of a line: runs without spaces, except that a `code span` is one
// word whatever it holds.
std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_code = false;
  for (char c : s) {
    if (c == '`') in_code = !in_code;
    if (c == ' ' && !in_code) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

// A code span wider than `room` cannot stay on one line: it breaks at its
// own spaces, so that the terminal does not cut a name in two. A piece
// without spaces that is still too wide stays whole.
std::vector<std::string> fitted(std::vector<std::string> words, std::size_t room) {
  std::vector<std::string> out;
  for (auto& w : words) {
    if (display_width(w) <= room || w.find(' ') == std::string::npos) {
      out.push_back(std::move(w));
      continue;
    }
    std::size_t start = 0;
    while (start < w.size()) {
      auto space = w.find(' ', start);
      if (space == std::string::npos) space = w.size();
      if (space > start) out.push_back(w.substr(start, space - start));
      start = space + 1;
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> wrap_lines(std::string_view text, int width) {
  width = std::max(width, 20);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? nl : nl - start);
    if (nl == std::string_view::npos && line.empty()) break;
    start = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (display_width(line) <= static_cast<std::size_t>(width)) {
      out.emplace_back(line);
      continue;
    }
    if (preformatted(line)) {
      out.push_back(cut(line, width));
      continue;
    }
    auto first = line.find_first_not_of(' ');
    std::string indent(first == std::string_view::npos ? 0 : first, ' ');
    // A list item's text goes on under its text, not under its dash.
    std::string_view body = line.substr(indent.size());
    std::string hang = indent;
    if (body.starts_with("- ") || body.starts_with("* ")) hang += "  ";
    std::string cur = indent;
    std::size_t cur_w = indent.size();
    bool empty = true;
    // What a continuation line has room for (an indent takes at most half).
    auto room = static_cast<std::size_t>(width) -
                std::min(hang.size(), static_cast<std::size_t>(width) / 2);
    for (auto& w : fitted(words_of(body), room)) {
      std::size_t ww = display_width(w);
      if (!empty && cur_w + 1 + ww > static_cast<std::size_t>(width)) {
        out.push_back(std::move(cur));
        cur = hang;
        cur_w = hang.size();
        empty = true;
      }
      if (!empty) {
        cur += ' ';
        ++cur_w;
      }
      cur += w;
      cur_w += ww;
      empty = false;
    }
    out.push_back(std::move(cur));
  }
  return out;
}

std::string cut_line(std::string_view line, int width) { return cut(line, width); }

std::string wrap_text(std::string_view text, int width) {
  return join_lines(wrap_lines(text, width));
}

std::string join_lines(const std::vector<std::string>& lines, std::size_t from,
                       std::size_t n) {
  std::string out;
  for (std::size_t i = from; i < lines.size() && i - from < n; ++i) out += lines[i] + "\n";
  return out;
}

// ---- Verdicts -------------------------------------------------------------------

namespace {

std::string indent(std::string_view text, std::string_view pad) {
  std::string out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) out += std::string(pad) + line + "\n";
  return out;
}

std::string task_title(const lesson& l, int task) {
  if (task >= 1 && task <= static_cast<int>(l.tasks.size())) return l.tasks[task - 1].title;
  return task == 0 ? "other checks" : fmt::format("task {}", task);
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i)
    pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

// One failing case in full: its name, what it said, what the code printed,
// where it crashed.
std::string case_detail(const term& t, const case_result& c) {
  std::string out = "  " + t.yellow(c.name) + "\n";
  for (const auto& m : c.messages) out += indent(m, "    ");
  if (!c.frames.empty()) {
    out += "    it crashed at " + t.bold(c.frames.front()) + "\n";
    for (std::size_t i = 1; i < c.frames.size() && i < 5; ++i)
      out += "      called from " + c.frames[i] + "\n";
  }
  if (!c.output.empty()) {
    out += "    " + t.dim("what your code printed during this test:") + "\n";
    out += indent(c.output, "    | ");
  }
  return out;
}

using by_task_map = std::map<int, std::vector<const case_result*>>;

by_task_map group(const verdict& v) {
  by_task_map by_task;
  for (const auto& c : v.cases) by_task[c.task].push_back(&c);
  return by_task;
}

}  // namespace

std::string verdict_summary(const verdict& v) {
  switch (v.kind) {
    case verdict_kind::passed: return "passes";
    case verdict_kind::compile_error: return "does not compile";
    case verdict_kind::crashed: return "crashes";
    case verdict_kind::timed_out: return "a test hangs";
    case verdict_kind::memory_error: return "memory error";
    case verdict_kind::broken: return "could not be graded";
    case verdict_kind::failed: break;
  }
  auto by_task = group(v);
  std::size_t ok = 0;
  for (const auto& [task, cases] : by_task)
    ok += std::all_of(cases.begin(), cases.end(), [](auto* c) { return c->passed; });
  return fmt::format("{} of {} tasks pass", ok, by_task.size());
}

verdict_text describe_verdict(const term& t, const lesson& l, const verdict& v, bool full) {
  verdict_text out;
  auto by_task = group(v);
  std::size_t tasks_passed = 0;
  for (const auto& [task, cases] : by_task)
    tasks_passed += std::all_of(cases.begin(), cases.end(), [](auto* c) { return c->passed; });
  std::size_t tasks_total = std::max(by_task.size(), l.tasks.size());

  switch (v.kind) {
    case verdict_kind::compile_error:
      out.headline = t.fail_mark() + " " + t.bold("Your code does not compile yet.");
      out.detail = indent(v.diagnostics, "  ");
      if (!v.detail.empty()) out.detail += "  " + v.detail + "\n";
      break;
    case verdict_kind::crashed:
      out.headline = t.fail_mark() + " " + t.bold("Your code crashed") +
                     (v.crash_site.empty() ? "" : " at " + t.bold(v.crash_site)) + ": " +
                     v.detail + ".";
      break;
    case verdict_kind::timed_out:
      out.headline = t.fail_mark() + " " + t.bold("No verdict: ") + v.detail + ".";
      break;
    case verdict_kind::memory_error:
      out.headline = t.fail_mark() + " " +
                     t.bold("The tests pass, but the sanitizers found a memory error") +
                     (v.crash_site.empty() ? "." : " at " + t.bold(v.crash_site) + ".");
      break;
    case verdict_kind::broken:
      out.headline = t.fail_mark() + " " + t.bold("The tests could not run: ") + v.detail;
      if (!v.output.empty()) out.detail = indent(tail(v.output, 20), "  | ");
      return out;
    case verdict_kind::passed:
      out.headline = t.ok_mark() + " " + t.bold(fmt::format("All {} tasks pass.", tasks_total));
      break;
    case verdict_kind::failed:
      out.headline = t.fail_mark() + " " +
                     t.bold(fmt::format("{} of {} tasks pass.", tasks_passed, tasks_total));
      break;
  }

  if (v.kind != verdict_kind::compile_error) {
    // A line per task; a failing one also names its first failing case and
    // the first line of what that case said.
    bool detailed = false;
    for (int task = 1; task <= static_cast<int>(l.tasks.size()) || by_task.count(task); ++task) {
      auto it = by_task.find(task);
      if (it == by_task.end()) {
        out.tasks.push_back(fmt::format("  {} {} {}", t.dim("?"), task, task_title(l, task)) +
                            t.dim("  (not graded: the tests stopped before it)"));
        continue;
      }
      const case_result* failing = nullptr;
      for (const auto* c : it->second)
        if (!c->passed) {
          failing = c;
          break;
        }
      if (!failing) {
        out.tasks.push_back(fmt::format("  {} {} {}", t.ok_mark(), task, task_title(l, task)));
        continue;
      }
      // What the first failing case observed (or, without a message, what
      // it checks).
      std::string said = failing->messages.empty() ? "" : first_line(failing->messages.front());
      out.tasks.push_back(fmt::format("  {} {} {}\n      {}", t.fail_mark(), task,
                                      t.bold(task_title(l, task)),
                                      said.empty() ? t.yellow(failing->name) : said));
      if (!detailed || full) {
        out.detail += fmt::format("Task {} \u00b7 {}\n", task, task_title(l, task));
        for (const auto* c : it->second) {
          if (c->passed) continue;
          out.detail += case_detail(t, *c);
          if (!full) break;
        }
        out.detail += "\n";
        detailed = true;
      }
    }
    if (auto other = by_task.find(0); other != by_task.end())
      for (const auto* c : other->second)
        if (!c->passed) out.detail += case_detail(t, *c) + "\n";
  }

  if (v.kind == verdict_kind::timed_out) {
    if (!v.last_case.empty()) out.detail += "  It was running: " + v.last_case + "\n";
    out.detail += "  Something in it waited for longer than a test may: a wait on something "
                  "that never happens, or a loop that never awaits, keeps it running.\n";
  }
  if (v.kind == verdict_kind::crashed && v.crash_site.empty() && !v.output.empty())
    out.detail += "\n" + indent(tail(v.output, 12), "  | ");
  if (v.kind == verdict_kind::memory_error) {
    out.detail += "  " + t.dim("The tests, run again on your code built with AddressSanitizer "
                               "and UBSan, while running \"" + v.last_case + "\":") + "\n";
    out.detail += indent(v.sanitizer, "  ");
  }
  if (!v.warnings.empty())
    out.detail += "\n" + t.yellow("The compiler's warnings on your file:") + "\n" +
                  indent(v.warnings, "  ");
  return out;
}

std::string render_verdict(const term& t, const lesson& l, const verdict& v, bool full) {
  auto text = describe_verdict(t, l, v, full);
  std::string out = text.headline + "\n";
  if (!text.tasks.empty()) out += "\n";
  for (const auto& line : text.tasks) out += line + "\n";
  if (!text.detail.empty()) out += "\n" + text.detail;
  return wrap_text(out, t.columns);
}

std::string render_hint(const term& t, const lesson& l, const hint& h) {
  auto head = fmt::format("Hint {} of {} for task {} ({}):", h.number, h.of, h.task,
                          task_title(l, h.task));
  return t.yellow(head) + "\n" + h.text + "\n";
}

}  // namespace tutor
