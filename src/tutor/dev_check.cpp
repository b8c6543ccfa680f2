#include "dev_check.hpp"

#include "build.hpp"
#include "grade.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace tutor {
namespace {

std::string read_file(const fs::path& f) {
  std::ifstream in(f);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> subdirs(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

std::vector<std::string> tree_problems(const project& p) {
  std::vector<std::string> problems;
  std::set<std::string> listed;
  std::string previous;
  for (const auto& l : p.lessons.lessons) {
    if (!listed.insert(l.dir).second) problems.push_back("lessons.toml lists " + l.dir + " twice");
    if (!previous.empty() && l.dir <= previous)
      problems.push_back(fmt::format("lessons.toml: {} comes after {}", l.dir, previous));
    previous = l.dir;
    for (const auto& f : {p.exercise(l), p.solution(l), p.readme(l),
                          p.root / "lessons" / l.dir / "main.cpp",
                          p.root / "lessons" / l.dir / "lesson.hpp",
                          p.root / "tests" / l.dir / "test.cpp"})
      if (!fs::exists(f)) problems.push_back(fmt::format("{}: missing {}", l.dir,
                                                         fs::relative(f, p.root).string()));
    // Hints are per task, three each; a lesson not yet converted has three
    // lesson-wide ones instead.
    bool task_hints = std::all_of(l.tasks.begin(), l.tasks.end(),
                                  [](const task& t) { return t.hints.size() >= 3; });
    if (!task_hints && l.hints.size() < 3)
      problems.push_back(l.dir + ": every [[lesson.task]] needs 3 progressive hints in lessons.toml");
    for (const auto& t : l.tasks)
      if (t.title.empty()) problems.push_back(l.dir + ": a [[lesson.task]] has no title");
    if (l.title.empty() || l.python.empty())
      problems.push_back(l.dir + ": needs a title and a python equivalent in lessons.toml");
    if (fs::exists(p.exercise(l)) && read_file(p.exercise(l)).find("TODO") == std::string::npos)
      problems.push_back(l.dir + ": exercise.cpp has no TODO for the learner");

    // Every [taskN] tag in the tests has a title in the manifest, and back.
    auto tests = p.root / "tests" / l.dir / "test.cpp";
    if (fs::exists(tests)) {
      std::set<int> tags;
      std::string text = read_file(tests);
      std::regex tag(R"(\[task(\d+)\])");
      for (std::sregex_iterator it(text.begin(), text.end(), tag), end; it != end; ++it)
        tags.insert(std::stoi((*it)[1]));
      std::set<int> want;
      for (std::size_t n = 1; n <= l.tasks.size(); ++n) want.insert(static_cast<int>(n));
      if (tags != want)
        problems.push_back(fmt::format("{}: lessons.toml names {} tasks but the tests "
                                       "tag {} distinct [taskN]",
                                       l.dir, l.tasks.size(), tags.size()));
    }
    for (const auto& g : l.given)
      if (!fs::exists(p.root / "lessons" / l.dir / g))
        problems.push_back(fmt::format("{}: given source '{}' is not in lessons/{}/", l.dir, g,
                                       l.dir));
    // The learner's side stands alone: nothing there names the graders.
    for (const char* side : {"lessons", "solutions"}) {
      auto dir = p.root / side / l.dir;
      if (!fs::is_directory(dir)) continue;
      for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        auto text = read_file(e.path());
        if (text.find("tests/") != std::string::npos)
          problems.push_back(fmt::format("{} names a path under tests/: what a learner reads "
                                         "must not send them to the graders",
                                         fs::relative(e.path(), p.root).string()));
      }
    }
    // Wrong-answer fixtures: listed ones exist, existing ones are listed.
    std::set<std::string> wrong_listed(l.wrong.begin(), l.wrong.end());
    auto wrong_dir = p.root / "tests" / l.dir / "wrong";
    for (const auto& w : l.wrong)
      if (!fs::exists(wrong_dir / (w + ".patch")) && !fs::exists(wrong_dir / (w + ".cpp")))
        problems.push_back(fmt::format("{}: wrong answer '{}' has no tests/{}/wrong/{}.patch",
                                       l.dir, w, l.dir, w));
    if (fs::is_directory(wrong_dir))
      for (const auto& e : fs::directory_iterator(wrong_dir))
        if ((e.path().extension() == ".patch" || e.path().extension() == ".cpp") &&
            !wrong_listed.count(e.path().stem().string()))
          problems.push_back(fmt::format("{}: tests/{}/wrong/{} is not listed in lessons.toml",
                                         l.dir, l.dir, e.path().filename().string()));
  }
  for (const char* top : {"lessons", "solutions", "tests"})
    for (const auto& d : subdirs(p.root / top)) {
      // tests/ also holds the runtime's, the tutor's and the docs' own tests.
      bool lesson_like = d.size() > 3 && std::isdigit(d[0]) && std::isdigit(d[1]) && d[2] == '_';
      if (std::string_view(top) == "tests" && !lesson_like) continue;
      // lessons/common: what later lessons share of earlier ones.
      if (std::string_view(top) == "lessons" && d == "common") continue;
      if (!listed.count(d))
        problems.push_back(fmt::format("{}/{} is not in lessons/lessons.toml", top, d));
    }
  return problems;
}

asio::awaitable<int> cmd_dev_check_tree(course& c, const term& t) {
  auto problems = tree_problems(c.proj());
  for (const auto& p : problems) fmt::print("{} {}\n", t.fail_mark(), p);
  if (problems.empty())
    fmt::print("{} lessons.toml and the tree agree: {} lessons\n", t.ok_mark(),
               c.lessons().size());
  co_return problems.empty() ? 0 : 1;
}

asio::awaitable<int> cmd_dev_expect_fail(course& c, const term& t, fs::path binary) {
  grade_options o;
  o.case_timeout = std::chrono::seconds(20);
  o.root = c.proj().root;
  auto v = co_await run_tests(binary, o);
  auto name = binary.filename().string();
  // Built with the sanitizers (the asan presets), a wrong answer that reads
  // freed memory is stopped by their report: that is a clean failure too.
  if (v.kind == verdict_kind::crashed)
    for (const auto& cs : v.cases) {
      auto report = summarize_sanitizer(cs.raw_output, c.proj().root);
      if (report.headline.empty()) continue;
      fmt::print("{} {} fails: {} in \"{}\", as it should\n", t.ok_mark(), name,
                 report.headline, cs.name);
      co_return 0;
    }
  switch (v.kind) {
    case verdict_kind::failed:
      fmt::print("{} {} fails {} of {} test cases, as it should\n", t.ok_mark(), name,
                 v.cases.size() - v.cases_passed(), v.cases.size());
      for (const auto& cs : v.cases)
        if (!cs.passed) fmt::print("    fails: {}\n", cs.name);
      co_return 0;
    case verdict_kind::passed:
      fmt::print("{} {} passes every test: the tests do not catch it\n", t.fail_mark(), name);
      break;
    default:
      fmt::print("{} {} should fail its tests cleanly, but: {}\n{}\n", t.fail_mark(), name,
                 v.detail, v.output);
      break;
  }
  co_return 1;
}

asio::awaitable<int> cmd_dev_check(course& c, const term& t) {
  int failures = 0;
  auto problems = tree_problems(c.proj());
  for (const auto& p : problems) fmt::print("{} {}\n", t.fail_mark(), p);
  failures += static_cast<int>(problems.size());

  std::vector<std::string> targets;
  for (const auto& l : c.lessons()) {
    targets.push_back(c.proj().test_target(l, side::exercise()));
    targets.push_back(c.proj().test_target(l, side::solution()));
    for (const auto& w : l.wrong) targets.push_back(c.proj().test_target(l, side::wrong_answer(w)));
  }
  auto built = co_await build_targets(c.proj(), targets, std::chrono::minutes(30));
  if (!built.ok()) {
    fmt::print("{} the build failed:\n{}\n", t.fail_mark(), built.output);
    co_return 1;
  }
  grade_options o;
  o.case_timeout = std::chrono::seconds(20);
  o.root = c.proj().root;
  for (const auto& l : c.lessons()) {
    auto sol = co_await run_tests(c.proj().test_binary(l, side::solution()), o);
    bool sol_ok = sol.passed();
    fmt::print("{} {:<16} solution passes {}/{}\n", sol_ok ? t.ok_mark() : t.fail_mark(),
               l.dir, sol.cases_passed(), sol.cases.size());
    if (!sol_ok) {
      ++failures;
      fmt::print("{}", render_verdict(t, l, sol, true));
    }
    std::vector<side> sides{side::exercise()};
    for (const auto& w : l.wrong) sides.push_back(side::wrong_answer(w));
    for (const auto& s : sides) {
      auto v = co_await run_tests(c.proj().test_binary(l, s), o);
      bool ok = v.kind == verdict_kind::failed;
      fmt::print("{} {:<16} {} fails {}/{}{}\n", ok ? t.ok_mark() : t.fail_mark(), l.dir,
                 s.target_suffix(), v.cases.size() - v.cases_passed(), v.cases.size(),
                 ok ? "" : " (it must fail at least one test, cleanly: " + v.detail + ")");
      failures += !ok;
    }
  }
  fmt::print("\n{}\n", failures ? t.red(fmt::format("{} problem(s)", failures))
                                : t.green("integrity check passed"));
  co_return failures ? 1 : 0;
}

}  // namespace tutor
