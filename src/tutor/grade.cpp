#include "grade.hpp"

#include "build.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <cxxabi.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace tutor {
namespace {

using namespace std::chrono_literals;

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

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto at = line.find(sep, start);
    parts.push_back(line.substr(start, at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

std::string read_text(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "[lesson03][task2]" -> 2; 0 when there is no [taskN] tag.
int task_of(std::string_view tags) {
  auto at = tags.find("[task");
  if (at == std::string_view::npos) return 0;
  int n = 0;
  auto b = tags.data() + at + 5;
  auto [end, ec] = std::from_chars(b, tags.data() + tags.size(), n);
  return ec == std::errc{} && end < tags.data() + tags.size() && *end == ']' ? n : 0;
}

// The report written by tests/support/report.cpp. A case that shows up
// twice (written early because it crashed) keeps its last entry.
struct report {
  std::vector<case_result> cases;
  std::string running;  // started, never ended
  int running_task = 0;
  std::string frames;  // a crash's stack: offsets into the program
  double seconds = 0;  // the cases' own time, added up
};

report read_report(const fs::path& file) {
  report rep;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto parts = split(line, '\t');
    if (parts[0] == "start" && parts.size() >= 3) {
      rep.running_task = task_of(unescape(parts[1]));
      rep.running = unescape(parts[2]);
    } else if (parts[0] == "msg" && parts.size() >= 2) {
      if (!rep.cases.empty()) rep.cases.back().messages.push_back(unescape(parts[1]));
    } else if (parts[0] == "time" && parts.size() >= 2) {
      double t = std::strtod(parts[1].c_str(), nullptr);
      rep.seconds += t;
      if (!rep.cases.empty()) rep.cases.back().seconds = t;
    } else if (parts[0] == "frames" && parts.size() >= 2) {
      rep.frames = parts[1];
    } else if (parts[0] == "case" && parts.size() >= 4) {
      case_result c;
      c.passed = parts[1] == "pass";
      c.name = unescape(parts[3]);
      c.task = task_of(unescape(parts[2]));
      std::erase_if(rep.cases, [&](const case_result& old) { return old.name == c.name; });
      if (c.name == rep.running) rep.running.clear();
      rep.cases.push_back(std::move(c));
    }
  }
  return rep;
}

fs::path temp_file(std::string_view what) {
  static std::mt19937 random{std::random_device{}()};
  return fs::temp_directory_path() /
         fmt::format("asynclings-{}-{}-{:08x}.txt", what, getpid(), random());
}

// The last `n` lines of `text`, at most `bytes` long.
std::string last_lines(const std::string& text, std::size_t n, std::size_t bytes) {
  std::size_t pos = text.size();
  if (pos && text[pos - 1] == '\n') --pos;
  for (std::size_t i = 0; i < n && pos != std::string::npos && pos > 0; ++i)
    pos = text.rfind('\n', pos - 1);
  std::string out = pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
  if (out.size() > bytes) out = "[...]" + out.substr(out.size() - bytes);
  bool cut = out.size() < text.size();
  return (cut ? "[... earlier output cut]\n" : "") + out;
}

}  // namespace

std::size_t verdict::cases_passed() const {
  std::size_t n = 0;
  for (const auto& c : cases) n += c.passed;
  return n;
}

std::vector<int> verdict::tasks() const {
  std::set<int> all;
  for (const auto& c : cases) all.insert(c.task);
  return {all.begin(), all.end()};
}

std::vector<int> verdict::failing_tasks() const {
  std::set<int> failing;
  for (const auto& c : cases)
    if (!c.passed) failing.insert(c.task);
  return {failing.begin(), failing.end()};
}

// ---- Compiler messages -------------------------------------------------------

namespace {

// Keeps "file:line:col: <kind>: ..." for `file`, plus the lines the
// compiler prints under it (source and caret) and the notes in the same
// file, up to `max` of them.
std::string messages_in(const std::string& output, const fs::path& file,
                        std::string_view kind, std::size_t max) {
  std::istringstream in(output);
  std::string line, out;
  std::size_t found = 0;
  bool keeping = false;
  const std::string name = file.string();
  const std::string marker = fmt::format(": {}:", kind);
  while (std::getline(in, line)) {
    bool located = line.find(".cpp:") != std::string::npos ||
                   line.find(".hpp:") != std::string::npos;
    bool is_kind = line.find(marker) != std::string::npos ||
                   (kind == "error" && line.find(": fatal error:") != std::string::npos);
    bool is_other = !is_kind && (line.find(": error:") != std::string::npos ||
                                 line.find(": warning:") != std::string::npos);
    bool ours = line.find(name) != std::string::npos;
    if (located && is_kind) {
      keeping = ours && found < max;
      if (keeping) {
        ++found;
        out += line + "\n";
      }
      continue;
    }
    if (located && is_other) {
      keeping = false;
      continue;
    }
    if (located) {
      // A note: keep the ones about the learner's file while in a message.
      keeping = keeping && ours;
      if (keeping) out += line + "\n";
      continue;
    }
    if (keeping && (line.starts_with(" ") || line.starts_with("\t")))
      out += line + "\n";
    else if (!line.starts_with(" "))
      keeping = false;
  }
  return out;
}

}  // namespace

std::string trim_diagnostics(const std::string& output, const fs::path& file,
                             std::size_t max_errors) {
  auto out = messages_in(output, file, "error", max_errors);
  if (!out.empty()) return out;
  // Not in the learner's file (a header, the build itself): show the first
  // error lines as they are.
  std::istringstream again(output);
  std::string line;
  std::size_t shown = 0;
  while (std::getline(again, line) && shown < 12) {
    if (line.find("error") != std::string::npos) {
      out += line + "\n";
      ++shown;
    }
  }
  if (out.empty()) out = output.substr(0, 2000);
  return out;
}

std::string file_warnings(const std::string& output, const fs::path& file,
                          std::size_t max_warnings) {
  return messages_in(output, file, "warning", max_warnings);
}

namespace {

// Warnings are printed only when a file is compiled. The learner's file
// is compiled once per change, but graded every time: the last warnings
// are kept with a fingerprint of the source they were for.
fs::path warnings_cache(const project& p, const lesson& l, const side& s) {
  return p.build / "asynclings" / "warnings" / (l.number + "_" + s.target_suffix() + ".txt");
}

std::string fingerprint(const fs::path& source) {
  return fmt::format("{:x}", std::hash<std::string>{}(read_text(source)));
}

std::string remembered_warnings(const project& p, const lesson& l, const side& s,
                                const std::string& build_output) {
  auto source = p.source(l, s);
  auto cache = warnings_cache(p, l, s);
  auto object = source.filename().string() + ".o";
  bool compiled = build_output.find(object) != std::string::npos ||
                  build_output.find(source.string()) != std::string::npos;
  std::error_code ec;
  if (compiled) {
    auto text = file_warnings(build_output, source);
    fs::create_directories(cache.parent_path(), ec);
    std::ofstream out(cache, std::ios::trunc);
    out << fingerprint(source) << "\n" << text;
    return text;
  }
  auto kept = read_text(cache);
  auto nl = kept.find('\n');
  if (nl == std::string::npos || kept.substr(0, nl) != fingerprint(source)) return {};
  return kept.substr(nl + 1);
}

// ---- Running the tests --------------------------------------------------------

// One run of a test binary: every case, or the one named by `spec`.
struct shard {
  process_result run;
  report rep;
  std::string reporter;  // what Catch2's reporter printed
  std::vector<std::string> frames;  // a crash's stack, symbolized
  bool started = false;
  // In a run of several cases: what each printed (the report's marks on
  // the output, tests/support/report.cpp), by name; the marks are taken
  // out of run.output.
  std::map<std::string, std::string> printed;
};

// Catch2 caught a fatal signal and said so: the program ended on its own,
// with a failing exit code, but crashed.
bool fatal_error(const shard& s) {
  return s.run.exit_code != 0 && s.reporter.find("FATAL ERROR") != std::string::npos;
}

// Splits a run's output at the marks the report puts before each case.
void split_printed(shard& s) {
  static constexpr std::string_view mark = "\x1etut-case\t";
  const std::string& out = s.run.output;
  if (out.find(mark) == std::string::npos) return;
  std::string rest;  // the output without the marks
  std::string* current = nullptr;
  std::size_t at = 0;
  while (at < out.size()) {
    auto next = out.find(mark, at);
    auto piece = std::string_view(out).substr(at, next == std::string::npos
                                                      ? std::string::npos
                                                      : next - at);
    rest += piece;
    if (current) *current += piece;
    if (next == std::string::npos) break;
    auto eol = out.find('\n', next);
    if (eol == std::string::npos) break;
    auto name = unescape(out.substr(next + mark.size(), eol - next - mark.size()));
    current = &s.printed[name];
    at = eol + 1;
  }
  s.run.output = std::move(rest);
}

asio::awaitable<shard> run_shard(const fs::path& binary, std::string spec,
                                 const grade_options& o,
                                 std::chrono::milliseconds timeout) {
  shard s;
  s.started = true;
  auto report_file = temp_file("report");
  auto reporter_file = temp_file("reporter");
  process_options opts;
  opts.timeout = timeout;
  opts.max_output = 64 * 1024;
  opts.env = o.env;
  opts.env["TUT_REPORT"] = report_file.string();
  if (o.columns > 0) opts.env["TUT_COLUMNS"] = std::to_string(o.columns);
  // The reporter writes to a file of its own: what is left on the
  // process's output is what the code under test printed.
  std::vector<std::string> argv{binary.string(), "--reporter", "compact", "--out",
                                reporter_file.string()};
  if (!spec.empty()) argv.push_back(std::move(spec));
  s.run = co_await run_process(std::move(argv), opts);
  s.rep = read_report(report_file);
  s.reporter = read_text(reporter_file);
  split_printed(s);
  std::error_code ignored;
  fs::remove(report_file, ignored);
  fs::remove(reporter_file, ignored);
  co_return s;
}

// The test cases of a binary, in the order they are declared; nothing
// when it cannot tell (it crashes before main, say).
asio::awaitable<std::vector<std::string>> list_cases(const fs::path& binary) {
  process_options o;
  o.timeout = 5s;
  o.stdout_only = true;
  o.max_output = 1 << 20;
  std::vector<std::string> argv{binary.string(), "--list-test-names-only"};
  auto r = co_await run_process(std::move(argv), o);
  std::vector<std::string> names;
  if (r.timed_out || r.signal || r.dropped) co_return names;  // Catch2 2 exits
  std::istringstream in(r.output);                             // with the count
  std::string line;
  while (std::getline(in, line)) {
    // Names that start with '#' are listed in quotes.
    if (line.size() >= 2 && line.front() == '"' && line.back() == '"')
      line = line.substr(1, line.size() - 2);
    if (!line.empty()) names.push_back(line);
  }
  co_return names;
}

// list_cases, kept beside the binary (<binary>.cases) until the binary
// changes: a test program that runs the exercise as a shared library (the
// tutor preset) is not relinked when the exercise is, and its cases are
// the same from one save to the next.
asio::awaitable<std::vector<std::string>> cases_of(const fs::path& binary) {
  std::error_code ec;
  auto stamp = fs::last_write_time(binary, ec);
  auto size = fs::file_size(binary, ec);
  if (ec) co_return co_await list_cases(binary);
  auto key = fmt::format("{} {}", stamp.time_since_epoch().count(), size);
  auto cache = binary;
  cache += ".cases";
  {
    std::ifstream in(cache);
    std::string line;
    if (std::getline(in, line) && line == key) {
      std::vector<std::string> names;
      while (std::getline(in, line)) names.push_back(line);  // a name a line, as listed
      if (!names.empty()) co_return names;
    }
  }
  auto names = co_await list_cases(binary);
  if (!names.empty()) {
    std::ofstream out(cache);
    out << key << "\n";
    for (const auto& n : names) out << n << "\n";
  }
  co_return names;
}

// A Catch2 test spec that selects the case called `name` and no other: the
// name in quotes, with `\`, `,` and `"` escaped. Empty for a name that a
// spec cannot say exactly (a '*' at either end is a wildcard).
std::string test_spec(const std::string& name) {
  if (name.empty() || name.front() == '*' || name.back() == '*' ||
      name.starts_with("exclude:"))
    return {};
  std::string spec = "\"";
  for (char c : name) {
    if (c == '\\' || c == ',' || c == '"') spec += '\\';
    spec += c;
  }
  return spec + "\"";
}

// The shards of one grading, run by a few workers that each take the next
// shard until none is left: at most `workers` test processes at once, each
// with its own time.
// The shards are taken in the order given; `timeouts`, when not empty,
// gives each its own time instead of `timeout`.
struct shard_pool {
  const fs::path& binary;
  const std::vector<std::string>& specs;
  const grade_options& options;
  std::chrono::milliseconds timeout;
  std::vector<shard> results;
  std::vector<std::chrono::milliseconds> timeouts;
  std::size_t next = 0;
};

asio::awaitable<void> shard_worker(shard_pool& pool) {
  while (pool.next < pool.specs.size()) {
    std::size_t i = pool.next++;
    auto timeout = i < pool.timeouts.size() ? pool.timeouts[i] : pool.timeout;
    pool.results[i] = co_await run_shard(pool.binary, pool.specs[i], pool.options, timeout);
  }
}

asio::awaitable<std::vector<shard>> run_pool(
    const fs::path& binary, const std::vector<std::string>& specs,
    const grade_options& options, std::chrono::milliseconds timeout, std::size_t workers,
    std::vector<std::chrono::milliseconds> timeouts = {}) {
  shard_pool pool{binary, specs, options, timeout, std::vector<shard>(specs.size()),
                  std::move(timeouts)};
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer all_ended(ex, asio::steady_timer::time_point::max());
  std::size_t running = std::min(workers, pool.specs.size());
  std::exception_ptr error;
  for (std::size_t w = 0, n = running; w < n; ++w)
    asio::co_spawn(ex, shard_worker(pool), [&](std::exception_ptr e) {
      if (e && !error) error = e;
      if (--running == 0) all_ended.cancel();
    });
  if (running > 0)
    co_await all_ended.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (error) std::rethrow_exception(error);
  co_return std::move(pool.results);
}

// addr2line turns the offsets of a crash's stack into functions, files and
// lines (the tutor preset keeps line tables for the lessons' code). An
// offset is into the test program, or into a library of the project's when
// it reads "path@offset" (the learner's exercise, linked as a shared
// library by the tutor preset): each run of frames in one file is one
// addr2line. Frames in the project's own files are kept, as "path:line in
// function", paths relative to the repository; the graders' own (tests/)
// are left out.
asio::awaitable<std::vector<std::string>> symbolize(const fs::path& binary,
                                                    const std::string& offsets,
                                                    const fs::path& root) {
  std::vector<std::string> frames;
  // Consecutive frames in one file, in the stack's order.
  std::vector<std::pair<std::string, std::vector<std::string>>> runs;
  for (const auto& o : split(offsets, ' ')) {
    if (o.empty()) continue;
    auto at = o.rfind('@');
    std::string file = at == std::string::npos ? binary.string() : o.substr(0, at);
    std::string offset = at == std::string::npos ? o : o.substr(at + 1);
    if (runs.empty() || runs.back().first != file) runs.push_back({file, {}});
    runs.back().second.push_back(offset);
  }
  const std::string prefix = root.string() + "/";
  for (const auto& [file, run] : runs) {
    std::vector<std::string> argv{"addr2line", "-C", "-f", "-i", "-e", file};
    argv.insert(argv.end(), run.begin(), run.end());
    process_options po;
    po.timeout = 10s;
    po.stdout_only = true;
    auto r = co_await run_process(std::move(argv), po);
    std::istringstream in(r.output);
    std::string function, where;
    while (std::getline(in, function) && std::getline(in, where)) {
      auto disc = where.find(" (discriminator");
      if (disc != std::string::npos) where.resize(disc);
      if (!where.starts_with(prefix)) continue;
      auto rel = where.substr(prefix.size());
      if (rel.starts_with("tests/") || rel.starts_with("build/")) continue;
      // Keep the function's name short: no parameter list.
      auto paren = function.find('(');
      if (paren != std::string::npos) function.resize(paren);
      auto entry = fmt::format("{} in {}", rel, function);
      if (frames.empty() || frames.back() != entry) frames.push_back(entry);
      if (frames.size() >= 8) co_return frames;
    }
  }
  co_return frames;
}

std::string with_dropped(const process_result& r) {
  if (!r.dropped) return r.output;
  return r.output + fmt::format("\n[... {} more bytes of output cut]\n", r.dropped);
}

// The verdict of one or more runs of the binary: the whole of it, or a
// case per run (`names`, empty for a whole run). A case that crashed or
// hung fails on its own; the other runs still say what they found.
verdict verdict_of(std::vector<shard>& shards, const std::vector<std::string>& names,
                   std::chrono::milliseconds timeout) {
  verdict v;
  const shard* hung = nullptr;
  const shard* crashed = nullptr;
  const shard* broken = nullptr;
  std::vector<std::string> crash_frames;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    auto& s = shards[i];
    const auto& r = s.run;
    bool reported = !s.rep.cases.empty();
    bool all_passed = std::all_of(s.rep.cases.begin(), s.rep.cases.end(),
                                  [](const case_result& c) { return c.passed; });
    bool per_case = i < names.size();
    for (auto& c : s.rep.cases) {
      // A case in a process of its own: all that process printed is its.
      if (per_case && !c.passed) {
        c.output = last_lines(r.output, 30, 4000);
        c.raw_output = r.output;
      } else if (!c.passed) {
        // One of several cases in a process: what it printed, if it did.
        if (auto p = s.printed.find(c.name); p != s.printed.end()) {
          c.output = last_lines(p->second, 30, 4000);
          c.raw_output = p->second;
        }
      }
      v.cases.push_back(std::move(c));
    }
    case_result lost;  // the case that never reported
    lost.name = !s.rep.running.empty() ? s.rep.running : per_case ? names[i] : "";
    lost.task = s.rep.running_task;
    bool fatal = fatal_error(s);
    if (r.timed_out) {
      lost.messages.push_back(fmt::format(
          "did not finish within {:g} s and was stopped", timeout.count() / 1000.0));
      if (!hung) hung = &s;
    } else if (r.signal || fatal) {
      lost.messages.push_back(r.signal ? "crashed: killed by " + describe_signal(r.signal)
                                       : "crashed");
      if (!crashed) {
        crashed = &s;
        crash_frames = s.frames;
      }
      lost.frames = s.frames;
    } else if (!s.rep.running.empty() && r.exit_code != 0) {
      // It ended in the middle of a test case, without a signal: exit()
      // called from the code, or a sanitizer that found an error.
      lost.messages.push_back(fmt::format(
          "the test program ended in the middle of this test, with exit code {}",
          r.exit_code));
      if (!crashed) crashed = &s;
    } else if (!reported || (r.exit_code != 0 && all_passed)) {
      // No case, or every case passed and the program still failed (a
      // leak found at exit, say): something other than the tests is wrong.
      if (!broken) broken = &s;
      continue;
    } else {
      continue;
    }
    lost.output = last_lines(r.output, 30, 4000);
    lost.raw_output = r.output;
    if (!lost.name.empty()) {
      // A crash may have written the case's entry already: replace it.
      std::erase_if(v.cases, [&](const case_result& c) { return c.name == lost.name; });
      v.cases.push_back(std::move(lost));
    }
  }
  if (hung) {
    v.kind = verdict_kind::timed_out;
    v.detail = fmt::format("a test did not finish within {:g} s and was stopped",
                           timeout.count() / 1000.0);
    v.last_case = !hung->rep.running.empty() ? hung->rep.running : "";
    v.output = with_dropped(hung->run);
  } else if (crashed) {
    v.kind = verdict_kind::crashed;
    v.detail = crashed->run.signal
                   ? "the test program was killed by " + describe_signal(crashed->run.signal)
               : crashed->run.exit_code != 0 && !crashed->rep.running.empty()
                   ? fmt::format("the test program ended in the middle of a test (exit code {})",
                                 crashed->run.exit_code)
                   : "the test program crashed";
    v.last_case = crashed->rep.running;
    v.output = with_dropped(crashed->run);
    if (!crash_frames.empty()) v.crash_site = crash_frames.front();
  } else if (broken) {
    v.kind = verdict_kind::broken;
    v.detail = fmt::format("the test program exited with code {} and reported {} "
                           "test case(s)", broken->run.exit_code, broken->rep.cases.size());
    v.output = with_dropped(broken->run);
  } else {
    v.kind = v.cases_passed() == v.cases.size() ? verdict_kind::passed
                                                : verdict_kind::failed;
  }
  // Cases in the order of their tasks, then as declared.
  std::stable_sort(v.cases.begin(), v.cases.end(),
                   [](const case_result& a, const case_result& b) { return a.task < b.task; });
  return v;
}

}  // namespace

std::size_t default_parallel_tests() {
  if (const char* jobs = std::getenv("ASYNCLINGS_TEST_JOBS"))
    if (auto n = std::strtoul(jobs, nullptr, 10); n > 0) return n;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(cores * 8, 2, 16);
}

namespace {

// Whether a run of the whole binary ended by itself, every case reported:
// no hang, no crash, not stopped in the middle of a case.
bool ended_whole(const shard& s, std::size_t cases) {
  return !s.run.timed_out && s.run.signal == 0 && !fatal_error(s) &&
         s.rep.running.empty() && s.rep.cases.size() == cases;
}

// Beside a binary whose whole run did not fit in its budget: the next
// grading goes straight to a process per case. Gone once a grading's cases
// fit again.
fs::path slow_marker(const fs::path& binary) {
  auto m = binary;
  m += ".per-case";
  return m;
}

void mark_slow(const fs::path& binary, const std::string& why) {
  std::ofstream(slow_marker(binary)) << why << "\n";
}

// Beside a binary graded by cases, how long each case ran the last time,
// a line each: "<seconds>\t<name>".
fs::path times_file(const fs::path& binary) {
  auto m = binary;
  m += ".times";
  return m;
}

std::map<std::string, double> read_times(const fs::path& binary) {
  std::map<std::string, double> times;
  std::ifstream in(times_file(binary));
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    times[line.substr(tab + 1)] = std::strtod(line.c_str(), nullptr);
  }
  return times;
}

void write_times(const fs::path& binary, const std::vector<shard>& results) {
  auto times = read_times(binary);
  bool changed = false;
  for (const auto& s : results) {
    for (const auto& c : s.rep.cases)
      if (c.seconds >= 0) {
        times[c.name] = c.seconds;
        changed = true;
      }
    // Stopped in the middle of a case: it is a slow one, whatever it was.
    if (s.run.timed_out && !s.rep.running.empty()) {
      times[s.rep.running] = std::chrono::duration<double>(s.run.elapsed).count();
      changed = true;
    }
  }
  if (!changed) return;
  std::ofstream out(times_file(binary));
  for (const auto& [name, seconds] : times) out << fmt::format("{:.6f}\t{}\n", seconds, name);
}

// The cases of `names` that `run`, a run of several of them in one
// process, settled, as a shard of their own: those that passed, but not
// one under way when it crashed or hung. After a crash or a hang, a
// failure runs again on its own, where a crash is named with its frames:
// what is not settled stays in `names` and `specs`, to run a process each.
shard settle(const shard& run, std::vector<std::string>& names,
             std::vector<std::string>& specs) {
  shard settled;
  settled.started = true;
  settled.run.exit_code = 0;
  std::vector<std::string> rest_names, rest_specs;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto it = std::find_if(run.rep.cases.begin(), run.rep.cases.end(),
                           [&](const case_result& c) { return c.name == names[i]; });
    bool done = it != run.rep.cases.end() && it->passed && names[i] != run.rep.running;
    if (done) {
      settled.rep.cases.push_back(*it);
      if (auto p = run.printed.find(names[i]); p != run.printed.end())
        settled.printed.insert(*p);
    } else {
      rest_names.push_back(names[i]);
      rest_specs.push_back(specs[i]);
    }
  }
  names = std::move(rest_names);
  specs = std::move(rest_specs);
  return settled;
}

// What one test process of a grading by cases runs: one case, or a few
// (indices into the binary's cases), and how long they took the last time.
struct planned_shard {
  std::vector<std::size_t> cases;
  double seconds = 0;
};

// Starting a process costs a test program tens of milliseconds of CPU, a
// lot on 2 cores when twenty start at once; the cases of the real-time
// lessons mostly wait. So the cases are packed, by their last time, the
// longest first, into processes that each take about as long as the
// slowest case (at least 50 ms): the grading takes about that long, in a
// few processes. A case not timed yet has a process of its own, first.
std::vector<planned_shard> plan_shards(const std::vector<std::string>& names,
                                       const std::map<std::string, double>& times) {
  std::vector<planned_shard> plan;
  std::vector<std::pair<double, std::size_t>> timed;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto it = times.find(names[i]);
    if (it == times.end())
      plan.push_back({{i}, 0});
    else
      timed.emplace_back(it->second, i);
  }
  std::stable_sort(timed.begin(), timed.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  double capacity = std::max(0.05, timed.empty() ? 0.0 : timed.front().first);
  std::size_t first_timed = plan.size();
  for (const auto& [took, i] : timed) {
    double seconds = took;
    auto fits = std::find_if(plan.begin() + static_cast<std::ptrdiff_t>(first_timed), plan.end(),
                             [&](const planned_shard& s) {
                               return s.seconds + seconds <= capacity;
                             });
    if (fits == plan.end()) {
      plan.push_back({{i}, seconds});
    } else {
      fits->cases.push_back(i);
      fits->seconds += seconds;
    }
  }
  std::stable_sort(plan.begin() + static_cast<std::ptrdiff_t>(first_timed), plan.end(),
                   [](const planned_shard& a, const planned_shard& b) {
                     return a.seconds > b.seconds;
                   });
  return plan;
}

}  // namespace

asio::awaitable<verdict> run_tests(const fs::path& binary, grade_options o) {
  auto start = std::chrono::steady_clock::now();
  std::size_t parallel = o.parallel ? o.parallel : default_parallel_tests();
  std::vector<std::string> names, specs;
  if (parallel > 1) names = co_await cases_of(binary);
  for (const auto& name : names) {
    specs.push_back(test_spec(name));
    if (specs.back().empty()) break;
  }
  auto timeout = o.case_timeout;
  if (names.size() < 2 || specs.size() < names.size() || specs.back().empty()) {
    names.clear();
    specs = {""};  // one process for every case, in turn
  }
  std::vector<shard> results;
  std::error_code ignored;
  if (!names.empty() && o.whole_budget.count() > 0 &&
      !fs::exists(slow_marker(binary), ignored)) {
    // Most lessons' tests run on virtual time: the whole binary takes a
    // few milliseconds, less than starting a process per case. So it runs
    // whole first, within a budget; the cases it did not settle (those
    // that failed, for their own output; those after a crash or a hang,
    // or all of them when it ran too long) then run a process each.
    auto whole_start = std::chrono::steady_clock::now();
    auto whole = co_await run_shard(binary, "", o, std::min(o.whole_budget, timeout));
    auto took = std::chrono::steady_clock::now() - whole_start;
    if (ended_whole(whole, names.size())) {
      // Every case reported: passed, failed (each with what it printed),
      // or broken (every case passed and the program failed).
      if (took > o.whole_preferred)
        mark_slow(binary, fmt::format(
                              "its whole run took {} ms, over {} ms",
                              std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                              o.whole_preferred.count()));
      results.push_back(std::move(whole));
      names.clear();
    } else {
      if (whole.run.timed_out)
        mark_slow(binary, fmt::format("its whole run took over {} ms", o.whole_budget.count()));
      auto settled = settle(whole, names, specs);
      results = co_await run_pool(binary, specs, o, timeout, parallel);
      if (!settled.rep.cases.empty()) results.push_back(std::move(settled));
    }
  } else if (names.empty()) {
    // One process for every case, in turn: the binary has its cases' time
    // together.
    timeout = o.case_timeout * 3;
    results = co_await run_pool(binary, specs, o, timeout, parallel);
  } else {
    // Cases in processes of their own or a few together, by their time
    // in the last grading (plan_shards); the longest first, so that their
    // waits overlap the others' work.
    auto times = read_times(binary);
    auto plan = plan_shards(names, times);
    std::vector<std::string> pool_specs;
    std::vector<std::chrono::milliseconds> timeouts;
    for (const auto& s : plan) {
      std::string joined;
      for (auto i : s.cases) joined += (joined.empty() ? "" : ",") + specs[i];
      pool_specs.push_back(std::move(joined));
      // A few cases together get the time a whole run has, or more when
      // they took more; what a stopped run did not settle runs again, a
      // process each.
      auto four_times = std::chrono::milliseconds(static_cast<long>(s.seconds * 4000));
      timeouts.push_back(s.cases.size() == 1
                             ? timeout
                             : std::min(timeout, std::max(o.whole_budget, four_times)));
    }
    auto pool_start = std::chrono::steady_clock::now();
    auto ran = co_await run_pool(binary, pool_specs, o, timeout, parallel, timeouts);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - pool_start;
    std::vector<std::string> solo_names, solo_specs, again_names, again_specs;
    std::vector<shard> together;
    std::chrono::duration<double> total{0};
    bool hung = false;
    for (std::size_t k = 0; k < plan.size(); ++k) {
      total += std::chrono::duration<double>(ran[k].rep.seconds);
      hung = hung || ran[k].run.timed_out;
      if (plan[k].cases.size() == 1) {
        solo_names.push_back(names[plan[k].cases[0]]);
        solo_specs.push_back(specs[plan[k].cases[0]]);
        results.push_back(std::move(ran[k]));
        continue;
      }
      std::vector<std::string> group_names, group_specs;
      for (auto i : plan[k].cases) {
        group_names.push_back(names[i]);
        group_specs.push_back(specs[i]);
      }
      if (ended_whole(ran[k], group_names.size())) {
        together.push_back(std::move(ran[k]));  // as a whole run: every case said
      } else {
        together.push_back(settle(ran[k], group_names, group_specs));
        again_names.insert(again_names.end(), group_names.begin(), group_names.end());
        again_specs.insert(again_specs.end(), group_specs.begin(), group_specs.end());
      }
    }
    if (!again_specs.empty()) {
      auto again = co_await run_pool(binary, again_specs, o, timeout, parallel);
      solo_names.insert(solo_names.end(), again_names.begin(), again_names.end());
      solo_specs.insert(solo_specs.end(), again_specs.begin(), again_specs.end());
      for (auto& r : again) results.push_back(std::move(r));
    }
    names = std::move(solo_names);
    specs = std::move(solo_specs);
    // The cases' own time, without starting a process each, is about
    // what a whole run takes: when the processes together took as long
    // (cases that wait little: starting them costs more than their
    // waits overlapping saves), the next grading runs whole.
    if (!hung && (took >= total || total * 2 < o.whole_preferred))
      fs::remove(slow_marker(binary), ignored);
    for (auto& t : together)
      if (!t.rep.cases.empty()) results.push_back(std::move(t));
  }
  // A spec that selected nothing (a name Catch2 reads another way): this
  // way of running does not fit the binary, so run it whole after all.
  bool missed = !names.empty() &&
                std::any_of(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(
                                                 std::min(results.size(), names.size())),
                            [](const shard& s) {
                              return s.started && s.run.ok() && s.rep.cases.empty();
                            });
  if (missed) {
    names.clear();
    specs = {""};
    timeout = o.case_timeout * 3;
    results = co_await run_pool(binary, specs, o, timeout, 1);
  }
  // <root>/build/<preset>/tests/<binary>, unless told.
  auto root = !o.root.empty() ? o.root
                              : binary.parent_path().parent_path().parent_path().parent_path();
  for (auto& s : results)
    if (!s.rep.frames.empty()) s.frames = co_await symbolize(binary, s.rep.frames, root);
  if (fs::exists(slow_marker(binary), ignored)) write_times(binary, results);
  auto v = verdict_of(results, names, timeout);
  v.run_time = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  co_return v;
}

namespace {

// The tutor preset links the learner's exercise as a shared library and
// the test program once (cmake/Lessons.cmake): a function the file no
// longer defines is then not the linker's error but the loader's, as the
// program starts, before any test: "<program>: symbol lookup error:
// <file>: undefined symbol: <mangled name>". Said here as the linker says
// it; empty when the output holds no such line.
std::string undefined_at_load(const std::string& output) {
  static constexpr std::string_view mark = ": undefined symbol: ";
  auto at = output.find(mark);
  if (at == std::string::npos) return {};
  auto line_start = output.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  auto end = output.find_first_of("\n ,", at + mark.size());
  auto mangled = output.substr(at + mark.size(), end == std::string::npos
                                                     ? std::string::npos
                                                     : end - at - mark.size());
  auto in = std::string_view(output).substr(line_start, at - line_start);
  auto lookup = in.rfind(": ");
  auto who = lookup == std::string_view::npos ? in : in.substr(lookup + 2);
  std::string name = mangled;
  int status = 0;
  if (char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status)) {
    if (status == 0) name = d;
    std::free(d);
  }
  bool from_exercise = who.find("_exercise.so") != std::string_view::npos;
  return fmt::format(
      "undefined reference to `{}'\n{}\n", name,
      from_exercise
          ? "Your code calls it, and nothing defines it."
          : "The tests call it, and your file does not define it: lesson.hpp declares "
            "it; check its name and its parameters against the declaration.");
}

}  // namespace

asio::awaitable<verdict> grade_lesson(const project& p, const lesson& l,
                                      grade_options o) {
  verdict v;
  std::string warnings;
  if (o.build) {
    std::vector<std::string> targets{p.test_target(l, o.what)};
    auto built = co_await build_targets(p, std::move(targets), o.build_timeout);
    v.build_time = built.elapsed;
    if (!built.ok()) {
      v.kind = built.timed_out ? verdict_kind::timed_out : verdict_kind::compile_error;
      v.diagnostics = trim_diagnostics(built.output, p.source(l, o.what));
      v.warnings = file_warnings(built.output, p.source(l, o.what));
      v.detail = built.timed_out ? "the build did not finish in time" : "";
      co_return v;
    }
    warnings = remembered_warnings(p, l, o.what, built.output);
  }
  o.root = p.root;
  auto tested = co_await run_tests(p.test_binary(l, o.what), o);
  if (tested.kind == verdict_kind::broken || tested.kind == verdict_kind::crashed)
    if (auto missing = undefined_at_load(tested.output); !missing.empty()) {
      tested.kind = verdict_kind::compile_error;
      tested.diagnostics = missing;
      tested.detail.clear();
    }
  tested.build_time = v.build_time;
  tested.warnings = std::move(warnings);
  co_return tested;
}

namespace {

// "    #1 0x55d in lesson01::add_slowly(int, int, ...) (.resume) /repo/lessons/01/exercise.cpp:50:44"
// -> "lessons/01/exercise.cpp:50 in lesson01::add_slowly", for frames in the
// project's own files (not the graders'); empty for any other.
std::string project_frame(const std::string& line, const fs::path& root) {
  auto prefix = root.string() + "/";
  auto at = line.find(prefix);
  auto in = line.find(" in ");
  if (at == std::string::npos || in == std::string::npos || in > at) return {};
  auto where = line.substr(at + prefix.size());
  where = where.substr(0, where.find(' '));
  if (where.starts_with("tests/") || where.starts_with("build/")) return {};
  auto colon = where.rfind(':');  // drop the column
  if (colon != std::string::npos && where.find(':') != colon) where.resize(colon);
  auto function = line.substr(in + 4, at - in - 5);
  auto paren = function.find('(');
  if (paren != std::string::npos) function.resize(paren);
  return fmt::format("{} in {}", where, function);
}

}  // namespace

sanitizer_report summarize_sanitizer(const std::string& output, const fs::path& root) {
  sanitizer_report r;
  std::istringstream in(output);
  std::string line;
  std::string section;  // "", "freed", "allocated", "leak"
  std::string first_frame;
  auto add = [&](const std::string& text) { r.text += text + "\n"; };
  while (std::getline(in, line)) {
    if (auto at = line.find("ERROR: AddressSanitizer: "); at != std::string::npos) {
      auto what = line.substr(at + 25);
      what = what.substr(0, what.find(" on address"));
      r.headline = "AddressSanitizer: " + what;
      add(r.headline);
      section = "access";
    } else if (auto at2 = line.find("ERROR: LeakSanitizer: "); at2 != std::string::npos) {
      r.headline = "LeakSanitizer: " + line.substr(at2 + 22);
      add(r.headline);
      section = "leak";
    } else if (auto at3 = line.find(": runtime error: "); at3 != std::string::npos) {
      // UBSan: "/repo/lessons/01/exercise.cpp:12:5: runtime error: ..."
      auto where = line.substr(0, at3);
      auto prefix = root.string() + "/";
      if (where.starts_with(prefix)) where = where.substr(prefix.size());
      r.headline = "UBSan: " + line.substr(at3 + 17);
      add(r.headline + " (" + where + ")");
      if (r.site.empty() && !where.starts_with("tests/")) r.site = where;
      section = "ub";
    } else if (line.starts_with("READ of size") || line.starts_with("WRITE of size")) {
      add("  " + line.substr(0, line.find(" at 0x")));
    } else if (line.find("freed by thread") != std::string::npos) {
      section = "freed";
      first_frame.clear();
    } else if (line.find("previously allocated by thread") != std::string::npos) {
      section = "allocated";
      first_frame.clear();
    } else if (line.starts_with("Direct leak") || line.starts_with("Indirect leak")) {
      add("  " + line);
      section = "leak";
    } else if (line.starts_with("SUMMARY:")) {
      break;
    } else if (line.find("    #") == 0) {
      auto frame = project_frame(line, root);
      if (frame.empty()) continue;
      if (section == "access" && r.site.empty()) r.site = frame;
      if (section == "access" || section == "ub" || section == "leak")
        add("    at " + frame);
      else if (section == "freed" && first_frame.empty())
        add("  freed at " + (first_frame = frame));
      else if (section == "allocated" && first_frame.empty())
        add("  allocated at " + (first_frame = frame));
    }
  }
  if (r.headline.empty()) r.text.clear();
  return r;
}

fs::path sanitizer_build(const project& p) {
  return p.build.parent_path() / (p.build.filename().string() + "-asan");
}

asio::awaitable<verdict> sanitize_lesson(const project& p, const lesson& l,
                                         grade_options o) {
  auto start = std::chrono::steady_clock::now();
  project sp = p;
  sp.build = sanitizer_build(p);
  verdict v;
  if (!fs::exists(sp.build / "build.ninja")) {
    // The same compiler and flags as the tutor preset, with ASan and UBSan.
    process_options po;
    po.timeout = 5min;
    po.cwd = p.root;
    po.max_output = 1 << 20;
    auto preset = p.build.filename().string() + "-asan";
    std::vector<std::string> argv{"cmake", "--preset", preset};
    auto r = co_await run_process(std::move(argv), po);
    if (!r.ok()) {
      v.kind = verdict_kind::broken;
      v.detail = "the sanitizer build could not be configured (cmake --preset " + preset + ")";
      v.output = r.output;
      co_return v;
    }
  }
  o.case_timeout *= 3;  // instrumented code runs slower
  o.env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0";
  o.env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1";
  for (const char* symbolizer : {"/usr/lib/llvm-14/bin/llvm-symbolizer", "/usr/bin/llvm-symbolizer"})
    if (fs::exists(symbolizer)) {
      o.env["ASAN_SYMBOLIZER_PATH"] = symbolizer;
      break;
    }
  v = co_await grade_lesson(sp, l, o);
  v.sanitizer_time = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (v.kind == verdict_kind::compile_error || v.kind == verdict_kind::broken) co_return v;
  // A sanitizer's report, in a case's output: shown short, with the lines
  // of the project's files it names, and where in the learner's file.
  for (auto& c : v.cases) {
    auto report = summarize_sanitizer(c.raw_output, p.root);
    if (report.text.empty()) continue;
    v.sanitizer = report.text;
    v.crash_site = report.site;
    v.last_case = c.name;
    c.output.clear();  // the report says it better
    c.messages = {report.headline};
    break;
  }
  if (!v.sanitizer.empty()) v.kind = verdict_kind::memory_error;
  co_return v;
}

}  // namespace tutor
