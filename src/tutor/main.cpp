// asynclings: the tutor. Arguments here; the course's state in course.cpp;
// each command in commands.cpp, watch mode in watch*.cpp, the maintainers'
// checks in dev_check.cpp.
#include "commands.hpp"
#include "course.hpp"
#include "dev_check.hpp"
#include "watch.hpp"

#include "tut/run.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <optional>

#include <unistd.h>

int main(int argc, char** argv) {
  using namespace tutor;
  CLI::App app{"asynclings: an interactive course in async C++20 with Asio.\n"
               "Run without a command to start (or continue) the course: in a terminal,\n"
               "watch mode grades your exercise.cpp every time you save it.",
               "scripts/tutor"};
  app.set_help_all_flag("--help-all", "Show every command's options");
  app.footer("Lessons are named by number or name: 03, 3, 03_gather or gather.\n"
             "Your progress is in .asynclings/state.toml; reset keeps backups in "
             ".asynclings/backups/.");

  // Set by scripts/tutor; hidden from the help (an empty group).
  std::string root_arg, build_arg;
  app.add_option("--root", root_arg, "The asynclings repository")->group("");
  app.add_option("--build", build_arg, "The CMake build directory")->group("");

  std::optional<std::string> which;
  std::optional<int> task;
  bool full = false, solution = false, yes = false, force = false, all = false;
  std::string reset_which, binary;

  auto* list = app.add_subcommand("list", "List the lessons and your progress");
  auto* check = app.add_subcommand("check", "Grade a lesson (default: the current one)");
  check->add_option("lesson", which, "Lesson number or name, e.g. 03 or gather");
  check->add_flag("--full", full, "Show every failing test, not only the first task's");
  auto* check_all = app.add_subcommand("check-all", "Grade every lesson");
  auto* hint = app.add_subcommand(
      "hint", "The next hint for a task: by default the first task that failed when you "
              "last graded it");
  hint->add_option("lesson", which, "Lesson number or name (default: the current one)");
  hint->add_option("task", task, "Task number (default: the first failing task)");
  hint->add_flag("--all", all, "Show again every hint shown so far for the task");
  auto* run = app.add_subcommand("run", "Build and run a lesson's demo in real time");
  run->add_option("lesson", which, "Lesson number or name");
  run->add_flag("--solution", solution, "Run the demo with the reference solution");
  auto* reset = app.add_subcommand(
      "reset", "Put a lesson's exercise back as shipped; your file is kept as a backup");
  reset->add_option("lesson", reset_which, "Lesson number or name")->required();
  reset->add_flag("-y,--yes", yes,
                  "Do not ask for confirmation (needed when not run at a terminal)");
  auto* sol = app.add_subcommand("solution", "Show the reference solution as a diff against your file");
  sol->add_option("lesson", which, "Lesson number or name");
  sol->add_flag("--force", force, "Show it even before you pass");
  auto* next = app.add_subcommand("next", "Move on to the next lesson");

  auto* dev = app.add_subcommand("dev", "Maintainer checks");
  dev->require_subcommand(1);
  auto* dev_check = dev->add_subcommand("check", "Integrity: solutions pass, exercises and wrong answers fail, the tree agrees");
  auto* dev_tree = dev->add_subcommand("check-tree", "The manifest and the directories agree");
  auto* dev_fail = dev->add_subcommand("expect-fail", "A test binary must fail at least one test, cleanly");
  dev_fail->add_option("binary", binary, "The test binary")->required();

  app.require_subcommand(0, 1);
  app.fallthrough();  // --root/--build work after the command too
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  term out = detect_term();
  std::optional<course> c;
  try {
    project p;
    p.root = root_arg.empty() ? find_root(fs::current_path()) : fs::weakly_canonical(fs::absolute(root_arg));
    p.build = build_arg.empty() ? p.root / "build" / "tutor" : fs::weakly_canonical(fs::absolute(build_arg));
    p.lessons = load_manifest(p.manifest_file());
    c.emplace(std::move(p));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }

  try {
    return tut::run([&]() -> asio::awaitable<int> {
      if (*list) co_return co_await cmd_list(*c, out);
      if (*check) co_return co_await cmd_check(*c, out, which, full);
      if (*check_all) co_return co_await cmd_check_all(*c, out);
      if (*hint) co_return co_await cmd_hint(*c, out, which, task, all);
      if (*run) co_return co_await cmd_run(*c, out, which, solution);
      if (*reset) co_return co_await cmd_reset(*c, out, reset_which, yes);
      if (*sol) co_return co_await cmd_solution(*c, out, which, force);
      if (*next) co_return co_await cmd_next(*c, out);
      if (*dev_check) co_return co_await cmd_dev_check(*c, out);
      if (*dev_tree) co_return co_await cmd_dev_check_tree(*c, out);
      if (*dev_fail) co_return co_await cmd_dev_expect_fail(*c, out, binary);
      // A person at a terminal gets watch mode; scripts get one verdict.
      if (stdin_is_tty() && isatty(STDOUT_FILENO)) co_return co_await cmd_watch(*c, out);
      co_return co_await cmd_start(*c, out);
    }());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
