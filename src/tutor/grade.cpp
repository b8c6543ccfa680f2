#include "grade.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <algorithm>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

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
  std::string running;       // started, never ended
  std::string running_task;  // its [taskN]
};

std::string task_of(const std::string& tags) {
  std::smatch m;
  if (std::regex_search(tags, m, std::regex(R"(\[(task\d+)\])"))) return m[1];
  return {};
}

report read_report(const std::filesystem::path& file) {
  report rep;
  auto& cases = rep.cases;
  std::ifstream in(file);
  std::string line;
  std::vector<std::string> pending;
  while (std::getline(in, line)) {
    auto parts = split_tabs(line);
    if (parts[0] == "start" && parts.size() >= 3) {
      rep.running_task = task_of(unescape(parts[1]));
      rep.running = unescape(parts[2]);
    } else if (parts[0] == "msg" && parts.size() >= 2) {
      cases.empty() ? void() : cases.back().messages.push_back(unescape(parts[1]));
    } else if (parts[0] == "case" && parts.size() >= 4) {
      case_result c;
      c.passed = parts[1] == "pass";
      c.name = unescape(parts[3]);
      c.task = task_of(unescape(parts[2]));
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

namespace {

// One run of a test binary: every case, or the one named by `spec`.
struct shard {
  process_result run;
  report rep;
  bool started = false;  // false: the time was up before its turn
};

asio::awaitable<shard> run_shard(const std::filesystem::path& binary,
                                 std::string spec,
                                 std::chrono::milliseconds timeout) {
  shard s;
  s.started = true;
  auto file = temp_report();
  process_options o;
  o.timeout = timeout;
  o.max_output = 64 * 1024;
  o.env["TUT_REPORT"] = file.string();
  std::vector<std::string> argv{binary.string(), "--reporter", "compact"};
  if (!spec.empty()) argv.push_back(std::move(spec));
  s.run = co_await run_process(std::move(argv), o);
  s.rep = read_report(file);
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  co_return s;
}

// The test cases of a binary, in the order they are declared; nothing
// when it cannot tell (it crashes before main, say).
asio::awaitable<std::vector<std::string>> list_cases(
    const std::filesystem::path& binary) {
  process_options o;
  o.timeout = std::chrono::seconds(5);
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
// shard until none is left: at most `workers` test processes at once.
struct shard_pool {
  const std::filesystem::path& binary;
  const std::vector<std::string>& specs;
  std::chrono::steady_clock::time_point deadline;
  std::vector<shard> results;
  std::size_t next = 0;
};

asio::awaitable<void> shard_worker(shard_pool& pool) {
  while (pool.next < pool.specs.size()) {
    std::size_t i = pool.next++;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        pool.deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) continue;  // not started
    pool.results[i] = co_await run_shard(pool.binary, pool.specs[i], left);
  }
}

// Runs `specs` (a run of the binary each), `workers` at a time, until
// `deadline`; a spec not started by then is left as it is.
asio::awaitable<std::vector<shard>> run_pool(const std::filesystem::path& binary,
                                             const std::vector<std::string>& specs,
                                             std::chrono::steady_clock::time_point deadline,
                                             std::size_t workers) {
  shard_pool pool{binary, specs, deadline, std::vector<shard>(specs.size())};
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer all_ended(ex, asio::steady_timer::time_point::max());
  std::size_t running = std::min(workers, pool.specs.size());
  std::exception_ptr error;
  for (std::size_t w = 0, n = running; w < n; ++w)
    asio::co_spawn(ex, shard_worker(pool), [&](std::exception_ptr e) {
      if (e && !error) error = e;
      if (--running == 0) all_ended.cancel();
    });
  co_await all_ended.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (error) std::rethrow_exception(error);
  co_return std::move(pool.results);
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
  for (std::size_t i = 0; i < shards.size(); ++i) {
    auto& s = shards[i];
    const auto& r = s.run;
    bool reported = !s.rep.cases.empty();
    bool all_passed = std::all_of(s.rep.cases.begin(), s.rep.cases.end(),
                                  [](const case_result& c) { return c.passed; });
    for (auto& c : s.rep.cases) v.cases.push_back(std::move(c));
    case_result lost;  // the case that never reported
    lost.name = !s.rep.running.empty() ? s.rep.running : i < names.size() ? names[i] : "";
    lost.task = s.rep.running_task;
    if (!s.started) {
      lost.messages.push_back("not run: the time for the tests was up");
      if (!hung) hung = &s;
    } else if (r.timed_out) {
      lost.messages.push_back(fmt::format(
          "did not finish within {} s and was stopped", timeout.count() / 1000.0));
      if (!hung) hung = &s;
    } else if (r.signal) {
      lost.messages.push_back("crashed: killed by " + describe_signal(r.signal));
      if (!crashed) crashed = &s;
    } else if (r.exit_code != 0 && r.output.find("FATAL ERROR") != std::string::npos) {
      lost.messages.push_back("crashed");
      if (!crashed) crashed = &s;
    } else if (!reported || (r.exit_code != 0 && all_passed)) {
      // No case, or every case passed and the program still failed (a
      // leak found at exit, say): something other than the tests is wrong.
      if (!broken) broken = &s;
      continue;
    } else {
      continue;
    }
    if (!lost.name.empty() && (!s.rep.running.empty() || !reported))
      v.cases.push_back(std::move(lost));
  }
  if (hung) {
    v.kind = verdict_kind::timed_out;
    v.detail = fmt::format("the tests did not finish within {} s and were stopped",
                           timeout.count() / 1000.0);
    v.last_case = hung->rep.running;
    v.output = with_dropped(hung->run);
  } else if (crashed) {
    v.kind = verdict_kind::crashed;
    v.detail = crashed->run.signal
                   ? "the test program was killed by " + describe_signal(crashed->run.signal)
                   : "the test program crashed";
    v.last_case = crashed->rep.running;
    v.output = with_dropped(crashed->run);
  } else if (broken) {
    v.kind = verdict_kind::broken;
    v.detail = fmt::format("the test program exited with code {} and reported {} "
                           "test case(s)", broken->run.exit_code, broken->rep.cases.size());
    v.output = with_dropped(broken->run);
  } else {
    v.kind = v.cases_passed() == v.cases.size() ? verdict_kind::passed
                                                : verdict_kind::failed;
  }
  return v;
}

}  // namespace

std::size_t default_parallel_tests() {
  if (const char* jobs = std::getenv("ASYNCLINGS_TEST_JOBS"))
    if (auto n = std::strtoul(jobs, nullptr, 10); n > 0) return n;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(cores * 8, 2, 16);
}

asio::awaitable<verdict> run_tests(const std::filesystem::path& binary,
                                   std::chrono::milliseconds timeout,
                                   std::size_t parallel) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> names, specs;
  if (parallel > 1) names = co_await list_cases(binary);
  for (const auto& name : names) {
    specs.push_back(test_spec(name));
    if (specs.back().empty()) break;
  }
  if (names.size() < 2 || specs.size() < names.size() || specs.back().empty()) {
    names.clear();
    specs = {""};  // one process for every case, in turn
  }
  auto results = co_await run_pool(binary, specs, start + timeout, parallel);
  // A spec that selected nothing (a name Catch2 reads another way): this
  // way of running does not fit the binary, so run it whole after all.
  bool missed = !names.empty() &&
                std::any_of(results.begin(), results.end(), [](const shard& s) {
                  return s.started && s.run.ok() && s.rep.cases.empty();
                });
  if (missed) {
    names.clear();
    specs = {""};
    results = co_await run_pool(binary, specs, start + timeout, 1);
  }
  auto v = verdict_of(results, names, timeout);
  v.run_time = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
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
  auto tested = co_await run_tests(p.test_binary(l, o.side), o.test_timeout,
                                   o.parallel ? o.parallel : default_parallel_tests());
  tested.build_time = v.build_time;
  co_return tested;
}

}  // namespace tutor
