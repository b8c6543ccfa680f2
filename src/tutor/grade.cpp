#include "grade.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <unistd.h>

namespace tutor {
namespace {

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto tab = line.find('\t', start);
    parts.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return parts;
}

// Parses the report written by tests/support/report.cpp. A case that shows
// up twice (written early because it crashed) keeps its last entry.
struct report {
  std::vector<case_result> cases;
  std::string running;  // started, never ended
};

report read_report(const std::filesystem::path& file) {
  report rep;
  auto& cases = rep.cases;
  std::ifstream in(file);
  std::string line;
  std::vector<std::string> pending;
  while (std::getline(in, line)) {
    auto parts = split_tabs(line);
    if (parts[0] == "start" && parts.size() >= 2) {
      rep.running = unescape(parts[1]);
    } else if (parts[0] == "msg" && parts.size() >= 2) {
      cases.empty() ? void() : cases.back().messages.push_back(unescape(parts[1]));
    } else if (parts[0] == "case" && parts.size() >= 4) {
      case_result c;
      c.passed = parts[1] == "pass";
      c.name = unescape(parts[3]);
      std::smatch m;
      std::string tags = unescape(parts[2]);
      if (std::regex_search(tags, m, std::regex(R"(\[(task\d+)\])"))) c.task = m[1];
      std::erase_if(cases, [&](const case_result& old) { return old.name == c.name; });
      if (c.name == rep.running) rep.running.clear();
      cases.push_back(std::move(c));
    }
  }
  return rep;
}

std::filesystem::path temp_report() {
  auto dir = std::filesystem::temp_directory_path();
  return dir / fmt::format("asynclings-report-{}-{}.txt", getpid(),
                           std::rand());
}

}  // namespace

std::size_t verdict::cases_passed() const {
  std::size_t n = 0;
  for (const auto& c : cases) n += c.passed;
  return n;
}

std::string trim_diagnostics(const std::string& output,
                             const std::filesystem::path& file,
                             std::size_t max_errors) {
  // Keep "file:line:col: error: ..." for the learner's file, plus the lines
  // the compiler prints under it (source and caret), up to max_errors.
  std::istringstream in(output);
  std::string line, out;
  std::size_t errors = 0;
  bool keeping = false;
  const std::string name = file.string();
  const std::string rel = file.filename().string();
  while (std::getline(in, line)) {
    bool located = line.find(".cpp:") != std::string::npos ||
                   line.find(".hpp:") != std::string::npos;
    bool is_error = line.find(": error:") != std::string::npos ||
                    line.find(": fatal error:") != std::string::npos;
    bool ours = line.starts_with(name) || line.find(name) != std::string::npos;
    if (located && is_error) {
      if (ours && errors < max_errors) {
        ++errors;
        keeping = true;
        out += line + "\n";
      } else {
        keeping = false;
      }
      continue;
    }
    if (located) {
      // A note: keep the ones about the learner's file while in an error.
      keeping = keeping && ours;
      if (keeping) out += line + "\n";
      continue;
    }
    if (keeping && (line.starts_with(" ") || line.starts_with("\t")))
      out += line + "\n";
    else if (!line.starts_with(" "))
      keeping = false;
  }
  if (errors == 0) {
    // Not in the learner's file (a header, the build itself): show the
    // first error lines as they are.
    std::istringstream again(output);
    std::size_t shown = 0;
    while (std::getline(again, line) && shown < 12) {
      if (line.find("error") != std::string::npos) {
        out += line + "\n";
        ++shown;
      }
    }
    if (out.empty()) out = output.substr(0, 2000);
  }
  (void)rel;
  return out;
}

asio::awaitable<process_result> build_targets(const project& p,
                                              std::vector<std::string> targets,
                                              std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{"cmake", "--build", p.build.string()};
  for (auto& t : targets) {
    argv.push_back("--target");
    argv.push_back(std::move(t));
  }
  process_options o;
  o.timeout = timeout;
  o.max_output = 1 << 20;
  o.env["NINJA_STATUS"] = "";
  co_return co_await run_process(argv, o);
}

asio::awaitable<verdict> run_tests(const std::filesystem::path& binary,
                                   std::chrono::milliseconds timeout) {
  verdict v;
  auto report = temp_report();
  process_options o;
  o.timeout = timeout;
  o.max_output = 64 * 1024;
  o.env["TUT_REPORT"] = report.string();
  std::vector<std::string> argv{binary.string(), "--reporter", "compact"};
  auto r = co_await run_process(std::move(argv), o);
  v.run_time = r.elapsed;
  v.output = r.output;
  if (r.dropped)
    v.output += fmt::format("\n[... {} more bytes of output cut]\n", r.dropped);
  auto rep = read_report(report);
  v.cases = std::move(rep.cases);
  std::error_code ignored;
  std::filesystem::remove(report, ignored);

  if (r.timed_out) {
    v.kind = verdict_kind::timed_out;
    v.detail = fmt::format("the tests did not finish within {} s and were stopped",
                           timeout.count() / 1000.0);
  } else if (r.signal) {
    v.kind = verdict_kind::crashed;
    v.detail = "the test program was killed by " + describe_signal(r.signal);
  } else if (r.exit_code == 0 && !v.cases.empty() &&
             v.cases_passed() == v.cases.size()) {
    v.kind = verdict_kind::passed;
  } else if (!v.cases.empty() && v.cases_passed() < v.cases.size()) {
    v.kind = verdict_kind::failed;
  } else if (r.exit_code != 0 && v.output.find("FATAL ERROR") != std::string::npos) {
    v.kind = verdict_kind::crashed;
    v.detail = "the test program crashed";
  } else {
    v.kind = verdict_kind::broken;
    v.detail = fmt::format("the test program exited with code {} and reported "
                           "{} test case(s)", r.exit_code, v.cases.size());
  }
  if (v.kind == verdict_kind::crashed || v.kind == verdict_kind::timed_out)
    v.last_case = rep.running;
  co_return v;
}

asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l,
                                      grade_options o) {
  verdict v;
  if (o.build) {
    std::vector<std::string> targets{p.test_target(l, o.side)};
    auto built = co_await build_targets(p, std::move(targets), o.build_timeout);
    v.build_time = built.elapsed;
    if (!built.ok()) {
      auto file = o.side == "exercise" ? p.exercise(l)
                  : o.side == "solution" ? p.solution(l)
                                          : p.build / "tests" / "wrong" / l.dir /
                                                (o.side.substr(6) + ".cpp");
      v.kind = built.timed_out ? verdict_kind::timed_out : verdict_kind::compile_error;
      v.diagnostics = trim_diagnostics(built.output, file);
      v.detail = built.timed_out ? "the build did not finish in time" : "";
      co_return v;
    }
  }
  auto tested = co_await run_tests(p.test_binary(l, o.side), o.test_timeout);
  tested.build_time = v.build_time;
  co_return tested;
}

}  // namespace tutor
