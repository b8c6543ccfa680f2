#include "commands.hpp"

#include "build.hpp"
#include "process.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace tutor {
namespace {

using namespace std::chrono_literals;

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void error(const std::string& s) { fmt::print(stderr, "error: {}\n", s); }

}  // namespace

bool sanitizer_pass_on() {
  const char* v = std::getenv("ASYNCLINGS_SANITIZE");
  return !(v && std::string_view(v) == "0");
}

namespace {

}  // namespace

// ---- Actions -------------------------------------------------------------------

std::string lesson_header(const term& t, const course& c, std::size_t i) {
  const auto& l = c.at(i);
  return fmt::format("{} {}", t.bold(fmt::format("Lesson {} \u00b7 {}", l.number, l.title)),
                     t.dim(fmt::format("({} of {})", i + 1, c.lessons().size())));
}

std::string lesson_files(const term& t, const course& c, std::size_t i) {
  const auto& l = c.at(i);
  return fmt::format("Edit   {}\nRead   {}\n", t.cyan(display_path(c.proj().exercise(l))),
                     display_path(c.proj().readme(l)));
}

asio::awaitable<verdict> grade_and_record(course& c, std::size_t i, grade_options o) {
  auto v = co_await grade_lesson(c.proj(), c.at(i), o);
  if (o.what == side::exercise()) c.record(i, v);
  co_return v;
}

asio::awaitable<std::size_t> check_every_lesson(
    course& c, int columns, std::function<void(std::size_t, const verdict&)> each) {
  // One build for all first: lessons that do not compile are graded one by
  // one below, so their errors are reported against their own file.
  std::vector<std::string> targets;
  for (const auto& l : c.lessons()) targets.push_back(c.proj().test_target(l, side::exercise()));
  co_await build_targets(c.proj(), targets, 20min);
  std::size_t passed = 0;
  for (std::size_t i = 0; i < c.lessons().size(); ++i) {
    grade_options o;
    o.columns = columns;
    auto v = co_await grade_and_record(c, i, o);
    passed += v.passed();
    each(i, v);
  }
  co_return passed;
}

asio::awaitable<std::optional<std::string>> build_demo(const course& c, std::size_t i,
                                                       const side& s) {
  const auto& l = c.at(i);
  std::vector<std::string> targets{c.proj().demo_target(l, s)};
  auto built = co_await build_targets(c.proj(), std::move(targets), 5min);
  if (built.ok()) co_return std::nullopt;
  co_return trim_diagnostics(built.output, c.proj().source(l, s));
}

std::vector<std::string> every_lesson_target(const course& c) {
  std::vector<std::string> targets;
  for (const auto& l : c.lessons()) {
    targets.push_back(c.proj().test_target(l, side::exercise()));
    targets.push_back(c.proj().demo_target(l, side::exercise()));
  }
  return targets;
}

// ---- Commands ------------------------------------------------------------------

namespace {

// The lesson a command names (the current one when none), or nothing after
// saying why there is none.
std::optional<std::size_t> find_lesson(const course& c, const std::optional<std::string>& which) {
  std::string why;
  auto i = c.find(which, &why);
  if (!i) error(why);
  return i;
}

}  // namespace

asio::awaitable<int> cmd_check(course& c, const term& t, std::optional<std::string> which,
                               bool full) {
  auto i = find_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.at(*i);
  print(lesson_header(t, c, *i) + "\n");
  print(t.dim("building and grading " + display_path(c.proj().exercise(l)) + " ...") + "\n");
  grade_options o;
  o.columns = t.columns;
  auto v = co_await grade_and_record(c, *i, o);
  if (v.passed() && sanitizer_pass_on()) {
    // The tests pass: run them again on the code built with the sanitizers.
    print(t.dim("the tests pass; checking for memory errors (AddressSanitizer, UBSan) ...") +
          "\n");
    auto checked = co_await sanitize_lesson(c.proj(), l, o);
    if (checked.kind == verdict_kind::memory_error) {
      c.record(*i, checked);
      v = std::move(checked);
    } else if (!checked.passed()) {
      print(t.dim("(the sanitizer pass could not run: " + checked.detail + ")") + "\n");
    }
  }
  print("\n" + render_verdict(t, l, v, full));
  if (!v.passed())
    print("\n" + wrap_text(fmt::format("Edit {}, then run `scripts/tutor check {}` again.{}",
                                      t.cyan(display_path(c.proj().exercise(l))),
                                      l.number,
                                      full ? "" : " `--full` shows every failing test."),
                          t.columns));
  co_return v.passed() ? 0 : 1;
}

asio::awaitable<int> cmd_start(course& c, const term& t) {
  if (!c.warning().empty()) fmt::print(stderr, "note: {}\n", c.warning());
  std::size_t i = c.current();
  std::optional<verdict> v;
  grade_options o;
  o.columns = t.columns;
  if (c.fresh()) {
    // No usable progress file: rebuild it by grading from lesson 01 on. The
    // lesson that stops it is graded already.
    for (i = 0; i < c.lessons().size(); ++i) {
      v = co_await grade_and_record(c, i, o);
      if (!v->passed() || i + 1 == c.lessons().size()) break;
      print(fmt::format("{} lesson {} passes\n", t.ok_mark(), c.at(i).number));
    }
  }
  c.select(i);
  print(fmt::format("{}\n{}\n\n", t.bold("asynclings: async C++20 with Asio"),
                    progress_bar(c.done_count(), c.lessons().size())));
  print(lesson_header(t, c, i) + "\n");
  print(lesson_files(t, c, i) + "\n");
  if (!v) v = co_await grade_and_record(c, i, o);
  print(render_verdict(t, c.at(i), *v));
  if (v->passed())
    print("\nDone! `scripts/tutor next` moves on to the next lesson.\n");
  else
    print("\n" + wrap_text("Save your changes and run `scripts/tutor check` to grade them "
                           "again; `scripts/tutor hint` gives a hint for the first failing "
                           "task.",
                           t.columns));
  co_return v->passed() ? 0 : 1;
}

asio::awaitable<int> cmd_list(course& c, const term& t) {
  auto current = c.current();
  for (std::size_t i = 0; i < c.lessons().size(); ++i) {
    const auto& l = c.at(i);
    print(fmt::format("{} {}  {:<18} {}\n", i == current ? ">" : " ",
                      c.done(i) ? t.ok_mark() : t.dim("\u00b7"), l.dir, l.title));
  }
  print("\n" + progress_bar(c.done_count(), c.lessons().size()) + "\n");
  co_return 0;
}

asio::awaitable<int> cmd_check_all(course& c, const term& t) {
  print(t.dim("building every lesson ...") + "\n");
  auto passed = co_await check_every_lesson(c, t.columns, [&](std::size_t i, const verdict& v) {
    print(fmt::format("  {} {:<18} {}\n", v.passed() ? t.ok_mark() : t.fail_mark(),
                      c.at(i).dir, verdict_summary(v)));
  });
  print("\n" + progress_bar(passed, c.lessons().size()) + "\n");
  co_return passed == c.lessons().size() ? 0 : 1;
}

asio::awaitable<int> cmd_hint(course& c, const term& t, std::optional<std::string> which,
                              std::optional<int> task, bool all) {
  auto i = find_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.at(*i);
  if (task && (*task < 1 || *task > static_cast<int>(l.tasks.size()))) {
    error(fmt::format("lesson {} has tasks 1 to {}", l.number, l.tasks.size()));
    co_return 2;
  }
  if (all) {
    int n = c.hint_task(*i, task);
    auto shown = c.shown_hints(*i, n);
    if (shown.empty()) print(fmt::format("No hint shown yet for task {}.\n", n));
    for (const auto& h : shown) print(wrap_text(render_hint(t, l, h), t.columns) + "\n");
    co_return 0;
  }
  auto h = c.next_hint(*i, task);
  if (!h) {
    print(fmt::format("Lesson {} has no hints for that task.\n", l.number));
    co_return 0;
  }
  if (h->repeated)
    print(wrap_text(t.dim(fmt::format("That was the last hint for task {}; here it is again. "
                                      "`--all` shows every hint so far; `scripts/tutor "
                                      "solution {} --force` shows the reference.",
                                      h->task, l.number)),
                    t.columns) +
          "\n");
  print(wrap_text(render_hint(t, l, *h), t.columns));
  if (!h->repeated && h->number < h->of)
    print(t.dim(fmt::format("\nRun it again for hint {} of {}.", h->number + 1, h->of)) + "\n");
  co_return 0;
}

asio::awaitable<int> cmd_run(course& c, const term& t, std::optional<std::string> which,
                             bool solution) {
  auto i = find_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.at(*i);
  auto s = solution ? side::solution() : side::exercise();
  if (auto errors = co_await build_demo(c, *i, s)) {
    print(t.fail_mark() + " the demo does not build:\n\n" + *errors);
    co_return 1;
  }
  print(t.dim(fmt::format("running the lesson {} demo with {} (real time) ...", l.number,
                          s.describe())) +
        "\n\n");
  process_options o;
  o.passthrough = true;
  o.timeout = 60s;
  std::vector<std::string> argv{c.proj().demo_binary(l, s).string()};
  auto r = co_await run_process(std::move(argv), o);
  if (r.timed_out) print(t.red("\nthe demo was stopped after 60 s\n"));
  if (r.signal) print(t.red("\nthe demo crashed: " + describe_signal(r.signal) + "\n"));
  co_return r.ok() ? 0 : 1;
}

asio::awaitable<int> cmd_reset(course& c, const term& t, std::string which, bool yes) {
  auto i = find_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.at(*i);
  auto rel = fs::relative(c.proj().exercise(l), c.proj().root).string();
  if (!yes) {
    if (!stdin_is_tty()) {
      error(fmt::format("reset replaces {}; without a terminal to ask, pass --yes to "
                        "confirm (your version is still kept as a backup)",
                        rel));
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
  auto r = co_await c.reset(*i);
  if (!r.error.empty()) {
    error(r.error + "; nothing changed");
    co_return 1;
  }
  print(fmt::format("{} reset to the original.\nYour previous version: {}\n", rel,
                    t.cyan(display_path(r.backup))));
  co_return 0;
}

asio::awaitable<int> cmd_solution(course& c, const term& t, std::optional<std::string> which,
                                  bool force) {
  auto i = find_lesson(c, which);
  if (!i) co_return 2;
  const auto& l = c.at(*i);
  if (!c.done(*i) && !force) {
    print(fmt::format("Lesson {} is not solved yet. Sure you want to see the reference?\n"
                      "Run `scripts/tutor solution {} --force` to see it anyway.\n",
                      l.number, l.number));
    co_return 1;
  }
  auto diff = co_await c.solution_diff(*i);
  print(diff.empty() ? "Your file is the same as the reference.\n" : diff);
  co_return 0;
}

asio::awaitable<int> cmd_next(course& c, const term& t) {
  auto i = c.current();
  if (i + 1 >= c.lessons().size()) {
    print("This is the last lesson.\n");
    co_return 0;
  }
  c.select(i + 1);
  print(lesson_header(t, c, i + 1) + "\n" + lesson_files(t, c, i + 1));
  co_return 0;
}

}  // namespace tutor
