#include "commands.hpp"

#include "grade.hpp"
#include "process.hpp"
#include "state.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

namespace tutor {
namespace {

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

std::string header(const term& t, const project& p, std::size_t i) {
  const auto& l = p.lessons.lessons[i];
  return fmt::format("{} {}\n", t.bold(fmt::format("Lesson {} \u00b7 {}", l.number, l.title)),
                     t.dim(fmt::format("({} of {})", i + 1, p.lessons.lessons.size())));
}

}  // namespace

progress record_verdict(const project& p, const lesson& l, const verdict& v) {
  auto s = load_progress(p);
  if (v.passed())
    s.done.insert(l.dir);
  else if (v.kind == verdict_kind::failed || v.kind == verdict_kind::compile_error)
    s.done.erase(l.dir);
  save_progress(p, s);
  return s;
}

std::optional<std::size_t> pick_lesson(context& c, const std::optional<std::string>& which) {
  if (!which || which->empty()) {
    auto s = load_progress(c.proj);
    if (!s.current.empty())
      if (auto i = c.proj.lessons.find(s.current)) return i;
    return s.first_unfinished(c.proj.lessons);
  }
  auto i = c.proj.lessons.find(*which);
  if (!i) {
    std::string names;
    for (const auto& l : c.proj.lessons.lessons) names += " " + l.number;
    fmt::print(stderr, "error: no lesson '{}'. Lessons:{}\n", *which, names);
  }
  return i;
}

asio::awaitable<int> cmd_check(context& c, std::optional<std::string> which, bool full) {
  auto i = pick_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.proj.lessons.lessons[*i];
  print(header(c.out, c.proj, *i));
  print(c.out.dim("building and grading " + display_path(c.proj.exercise(l)) + " ...") + "\n");
  auto v = co_await grade_lesson(c.proj, l);
  record_verdict(c.proj, l, v);
  print("\n" + render_verdict(c.out, l, v, full));
  if (!v.passed())
    print(fmt::format("\nEdit {}, then run `scripts/tutor check {}` again.\n",
                      c.out.cyan(display_path(c.proj.exercise(l))), l.number));
  co_return v.passed() ? 0 : 1;
}

asio::awaitable<int> cmd_start(context& c) {
  std::string warning;
  auto s = load_progress(c.proj, &warning);
  if (!warning.empty()) fmt::print(stderr, "note: {}\n", warning);
  std::size_t i = s.first_unfinished(c.proj.lessons);
  std::optional<verdict> v;
  if (s.fresh) {
    // No usable progress file: rebuild it by grading from lesson 01 on. The
    // lesson that stops it is graded already.
    for (i = 0; i < c.proj.lessons.lessons.size(); ++i) {
      const auto& l = c.proj.lessons.lessons[i];
      v = co_await grade_lesson(c.proj, l);
      record_verdict(c.proj, l, *v);
      if (!v->passed() || i + 1 == c.proj.lessons.lessons.size()) break;
      print(fmt::format("{} lesson {} passes\n", c.out.ok_mark(), l.number));
    }
    s = load_progress(c.proj);
  }
  const auto& l = c.proj.lessons.lessons[i];
  s.current = l.dir;
  save_progress(c.proj, s);
  print(fmt::format("{}\n{}\n\n", c.out.bold("asynclings: async C++20 with Asio"),
                    progress_bar(s.done.size(), c.proj.lessons.lessons.size())));
  print(header(c.out, c.proj, i));
  print(fmt::format("Read   {}\nEdit   {}\n\n", c.out.cyan(display_path(c.proj.readme(l))),
                    c.out.cyan(display_path(c.proj.exercise(l)))));
  if (!v) {
    v = co_await grade_lesson(c.proj, l);
    record_verdict(c.proj, l, *v);
  }
  print(render_verdict(c.out, l, *v));
  if (v->passed())
    print("\nDone! `scripts/tutor next` moves on to the next lesson.\n");
  else
    print(fmt::format("\nSave your changes and run `scripts/tutor check` to grade "
                      "them again; `scripts/tutor hint` gives a hint.\n"));
  co_return v->passed() ? 0 : 1;
}

asio::awaitable<int> cmd_list(context& c) {
  auto s = load_progress(c.proj);
  auto current = pick_lesson(c, std::nullopt).value_or(0);
  for (std::size_t i = 0; i < c.proj.lessons.lessons.size(); ++i) {
    const auto& l = c.proj.lessons.lessons[i];
    bool done = s.done.count(l.dir);
    print(fmt::format("{} {}  {:<16} {}\n", i == current ? ">" : " ",
                      done ? c.out.ok_mark() : c.out.dim("\u00b7"), l.dir, l.title));
  }
  print("\n" + progress_bar(s.done.size(), c.proj.lessons.lessons.size()) + "\n");
  co_return 0;
}

asio::awaitable<int> cmd_check_all(context& c) {
  const auto& lessons = c.proj.lessons.lessons;
  std::vector<std::string> targets;
  for (const auto& l : lessons) targets.push_back(c.proj.test_target(l, "exercise"));
  print(c.out.dim("building every lesson ...") + "\n");
  // One build for all: lessons that do not compile are graded one by one
  // below, so their errors are reported against their own file.
  co_await build_targets(c.proj, targets, std::chrono::minutes(20));
  std::size_t passed = 0;
  for (const auto& l : lessons) {
    auto v = co_await grade_lesson(c.proj, l);
    record_verdict(c.proj, l, v);
    passed += v.passed();
    std::string summary =
        v.kind == verdict_kind::passed   ? "passes"
        : v.kind == verdict_kind::failed ? fmt::format("{} of {} test cases pass",
                                                       v.cases_passed(), v.cases.size())
        : v.kind == verdict_kind::compile_error ? "does not compile"
        : v.kind == verdict_kind::crashed       ? "crashes"
        : v.kind == verdict_kind::timed_out     ? "times out"
                                                : "could not be graded";
    print(fmt::format("  {} {:<16} {}\n", v.passed() ? c.out.ok_mark() : c.out.fail_mark(),
                      l.dir, summary));
  }
  print("\n" + progress_bar(passed, lessons.size()) + "\n");
  co_return passed == lessons.size() ? 0 : 1;
}

asio::awaitable<int> cmd_hint(context& c, std::optional<std::string> which) {
  auto i = pick_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.proj.lessons.lessons[*i];
  if (l.hints.empty()) {
    print("This lesson has no hints.\n");
    co_return 0;
  }
  auto s = load_progress(c.proj);
  int& shown = s.hints_shown[l.dir];
  shown = std::min<int>(shown + 1, l.hints.size());
  save_progress(c.proj, s);
  for (int h = 0; h < shown; ++h)
    print(fmt::format("{} {}\n\n", c.out.yellow(fmt::format("Hint {}/{}:", h + 1, l.hints.size())),
                      l.hints[h]));
  co_return 0;
}

asio::awaitable<int> cmd_run(context& c, std::optional<std::string> which, bool solution) {
  auto i = pick_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.proj.lessons.lessons[*i];
  std::string side = solution ? "solution" : "exercise";
  std::vector<std::string> targets{c.proj.demo_target(l, side)};
  auto built = co_await build_targets(c.proj, std::move(targets), std::chrono::minutes(5));
  if (!built.ok()) {
    print(c.out.fail_mark() + " the demo does not build:\n\n" +
          trim_diagnostics(built.output, solution ? c.proj.solution(l) : c.proj.exercise(l)));
    co_return 1;
  }
  print(c.out.dim(fmt::format("running the lesson {} demo with your {} (real time) ...",
                              l.number, solution ? "the reference solution" : "exercise.cpp")) +
        "\n\n");
  process_options o;
  o.passthrough = true;
  o.timeout = std::chrono::seconds(60);
  std::vector<std::string> argv{c.proj.demo_binary(l, side).string()};
  auto r = co_await run_process(std::move(argv), o);
  if (r.timed_out) print(c.out.red("\nthe demo was stopped after 60 s\n"));
  if (r.signal) print(c.out.red("\nthe demo crashed: " + describe_signal(r.signal) + "\n"));
  co_return r.ok() ? 0 : 1;
}

fs::path backup_exercise(const project& p, const lesson& l) {
  auto stamp = fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)));
  auto dir = p.state_dir() / "backups" / l.dir;
  fs::create_directories(dir);
  auto dest = dir / ("exercise-" + stamp + ".cpp");
  for (int n = 2; fs::exists(dest); ++n)
    dest = dir / fmt::format("exercise-{}-{}.cpp", stamp, n);
  fs::copy_file(p.exercise(l), dest);
  return dest;
}

asio::awaitable<restored> restore_exercise(const project& p, const lesson& l) {
  auto rel = fs::relative(p.exercise(l), p.root).string();
  process_options o;
  o.cwd = p.root;
  o.stdout_only = true;
  o.max_output = 16 << 20;
  std::vector<std::string> git{"git", "show", "HEAD:" + rel};
  auto original = co_await run_process(std::move(git), o);
  if (!original.ok() || original.dropped || original.output.empty())
    co_return restored{{}, fmt::format("cannot read the original {} from git", rel)};
  restored r;
  try {
    r.backup = backup_exercise(p, l);
    // Written beside it, then renamed over it: never half a file.
    auto tmp = p.exercise(l);
    tmp += ".reset-tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << original.output;
      if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, p.exercise(l));
  } catch (const std::exception& e) {
    co_return restored{{}, e.what()};
  }
  auto s = load_progress(p);
  s.done.erase(l.dir);
  save_progress(p, s);
  co_return r;
}

asio::awaitable<int> cmd_reset(context& c, std::string which, bool yes) {
  auto i = pick_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.proj.lessons.lessons[*i];
  auto rel = fs::relative(c.proj.exercise(l), c.proj.root).string();
  if (!yes) {
    if (!stdin_is_tty()) {
      fmt::print(stderr, "error: reset replaces {}; pass --yes to confirm\n", rel);
      co_return 2;
    }
    print(fmt::format("Reset {} to the original? Your version is kept as a backup. [y/N] ", rel));
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      print("Nothing changed.\n");
      co_return 1;
    }
  }
  auto r = co_await restore_exercise(c.proj, l);
  if (!r.error.empty()) {
    fmt::print(stderr, "error: {}; nothing changed\n", r.error);
    co_return 1;
  }
  print(fmt::format("{} reset to the original.\nYour previous version: {}\n", rel,
                    c.out.cyan(display_path(r.backup))));
  co_return 0;
}

asio::awaitable<std::string> diff_with_reference(const project& p, const lesson& l) {
  std::vector<std::string> argv{"diff", "-u", "--label", "your " + display_path(p.exercise(l)),
                                "--label", "reference " + display_path(p.solution(l)),
                                p.exercise(l).string(), p.solution(l).string()};
  auto diff = co_await run_process(std::move(argv));
  co_return diff.output;
}

asio::awaitable<int> cmd_solution(context& c, std::optional<std::string> which, bool force) {
  auto i = pick_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.proj.lessons.lessons[*i];
  auto s = load_progress(c.proj);
  if (!s.done.count(l.dir) && !force) {
    print(fmt::format("Lesson {} is not solved yet. Sure you want to see the reference?\n"
                      "Run `scripts/tutor solution {} --force` to see it anyway.\n",
                      l.number, l.number));
    co_return 1;
  }
  auto diff = co_await diff_with_reference(c.proj, l);
  print(diff.empty() ? "Your file is the same as the reference.\n" : diff);
  co_return 0;
}

asio::awaitable<int> cmd_next(context& c) {
  auto s = load_progress(c.proj);
  auto i = pick_lesson(c, std::nullopt).value_or(0);
  if (i + 1 >= c.proj.lessons.lessons.size()) {
    print("This is the last lesson.\n");
    co_return 0;
  }
  s.current = c.proj.lessons.lessons[i + 1].dir;
  save_progress(c.proj, s);
  print(header(c.out, c.proj, i + 1));
  const auto& l = c.proj.lessons.lessons[i + 1];
  print(fmt::format("Read   {}\nEdit   {}\n", c.out.cyan(display_path(c.proj.readme(l))),
                    c.out.cyan(display_path(c.proj.exercise(l)))));
  co_return 0;
}

}  // namespace tutor
