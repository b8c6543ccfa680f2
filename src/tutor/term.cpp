#include "term.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include <unistd.h>

namespace tutor {

std::string term::wrap(const char* code, std::string_view s) const {
  if (!color) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

term detect_term() {
  term t;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term_name = std::getenv("TERM");
  t.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
            !(term_name && std::string_view(term_name) == "dumb");
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

namespace {

std::string indent(std::string_view text, std::string_view pad) {
  std::string out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) out += std::string(pad) + line + "\n";
  return out;
}

std::string task_title(const lesson& l, const std::string& task) {
  if (task.starts_with("task")) {
    std::size_t n = std::strtoul(task.c_str() + 4, nullptr, 10);
    if (n >= 1 && n <= l.tasks.size()) return l.tasks[n - 1].title;
  }
  return task.empty() ? "other checks" : task;
}

std::string tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i)
    pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

}  // namespace

std::string render_verdict(const term& t, const lesson& l, const verdict& v,
                           bool full) {
  std::string out;
  switch (v.kind) {
    case verdict_kind::compile_error:
      out += t.fail_mark() + " " + t.bold("Your code does not compile yet.") + "\n\n";
      out += indent(v.diagnostics, "  ");
      if (!v.detail.empty()) out += "  " + v.detail + "\n";
      return out;
    case verdict_kind::crashed:
      out += t.fail_mark() + " " + t.bold("Your code crashed: ") + v.detail + "\n";
      if (!v.last_case.empty()) out += "  while running: " + v.last_case + "\n";
      out += "\n" + indent(tail(v.output, 15), "  | ");
      break;
    case verdict_kind::timed_out:
      out += t.fail_mark() + " " + t.bold("No verdict: ") + v.detail + ".\n";
      if (!v.last_case.empty()) out += "  It was running: " + v.last_case + "\n";
      out += "  A loop that never awaits, or a wait on something that never\n"
             "  happens, holds the loop forever. Look for a `while` without a\n"
             "  `co_await` inside, or a blocking call.\n";
      if (!v.output.empty()) out += "\n" + indent(tail(v.output, 10), "  | ");
      break;
    case verdict_kind::broken:
      out += t.fail_mark() + " " + t.bold("The tests could not run: ") + v.detail + "\n";
      if (!v.output.empty()) out += "\n" + indent(tail(v.output, 20), "  | ");
      return out;
    case verdict_kind::passed:
    case verdict_kind::failed:
      break;
  }

  // Group the test cases by task, in task order.
  std::map<std::string, std::vector<const case_result*>> by_task;
  for (const auto& c : v.cases) by_task[c.task].push_back(&c);
  std::size_t tasks_passed = 0;
  for (const auto& [task, cases] : by_task) {
    bool ok = true;
    for (const auto* c : cases) ok = ok && c->passed;
    tasks_passed += ok;
  }
  if (v.kind == verdict_kind::passed)
    out += t.ok_mark() + " " +
           t.bold(fmt::format("All {} tasks pass.", by_task.size())) + "\n";
  else if (v.kind == verdict_kind::failed)
    out += t.fail_mark() + " " +
           t.bold(fmt::format("{} of {} tasks pass.", tasks_passed, by_task.size())) +
           "\n";
  out += "\n";

  bool shown_failure = false;
  for (const auto& [task, cases] : by_task) {
    bool ok = true;
    for (const auto* c : cases) ok = ok && c->passed;
    out += fmt::format("  {} {}\n", ok ? t.ok_mark() : t.fail_mark(),
                       ok ? task_title(l, task) : t.bold(task_title(l, task)));
    if (ok || (shown_failure && !full)) continue;
    for (const auto* c : cases) {
      if (c->passed) continue;
      out += "\n    " + t.yellow(c->name) + "\n";
      for (const auto& m : c->messages) out += indent(m, "      ");
      out += "\n";
      if (!full) break;
    }
    shown_failure = true;
  }
  return out;
}

}  // namespace tutor
