// asynclings: the tutor. Arguments here; each command in its own file.
#include "commands.hpp"
#include "dev_check.hpp"
#include "watch.hpp"

#include "tut/run.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <optional>

#include <unistd.h>

namespace tutor {

fs::path find_root(fs::path start) {
  for (auto dir = fs::absolute(start); ; dir = dir.parent_path()) {
    if (fs::exists(dir / "lessons" / "lessons.toml")) return dir;
    if (dir == dir.root_path()) break;
  }
  throw std::runtime_error(
      "no lessons/lessons.toml here or above: run this from the asynclings repository");
}

}  // namespace tutor

int main(int argc, char** argv) {
  using namespace tutor;
  CLI::App app{"asynclings: an interactive course in async C++20 with Asio.\n"
               "Run without a command to start (or continue) the course."};
  app.set_help_all_flag("--help-all", "Show every command's options");

  std::string root_arg, build_arg;
  app.add_option("--root", root_arg, "The asynclings repository (default: found from here)");
  app.add_option("--build", build_arg, "The CMake build directory (default: <root>/build/dev)");

  std::optional<std::string> which;
  bool full = false, solution = false, yes = false, force = false;
  std::string reset_which, binary;

  auto* list = app.add_subcommand("list", "List the lessons and your progress");
  auto* check = app.add_subcommand("check", "Grade a lesson (default: the current one)");
  check->add_option("lesson", which, "Lesson number or name, e.g. 03 or gather");
  check->add_flag("--full", full, "Show every failure, not only the first task's");
  auto* check_all = app.add_subcommand("check-all", "Grade every lesson");
  auto* hint = app.add_subcommand("hint", "Show the next hint for a lesson");
  hint->add_option("lesson", which, "Lesson number or name");
  auto* run = app.add_subcommand("run", "Build and run a lesson's demo in real time");
  run->add_option("lesson", which, "Lesson number or name");
  run->add_flag("--solution", solution, "Run the demo with the reference solution");
  auto* reset = app.add_subcommand("reset", "Put a lesson's exercise back as shipped (keeps a backup)");
  reset->add_option("lesson", reset_which, "Lesson number or name")->required();
  reset->add_flag("-y,--yes", yes, "Do not ask for confirmation");
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

  context c;
  c.out = detect_term();
  try {
    c.proj.root = root_arg.empty() ? find_root(fs::current_path()) : fs::absolute(root_arg);
    c.proj.build = build_arg.empty() ? c.proj.root / "build" / "dev" : fs::absolute(build_arg);
    c.proj.lessons = load_manifest(c.proj.manifest_file());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }

  try {
    return tut::run([&]() -> asio::awaitable<int> {
      if (*list) co_return co_await cmd_list(c);
      if (*check) co_return co_await cmd_check(c, which, full);
      if (*check_all) co_return co_await cmd_check_all(c);
      if (*hint) co_return co_await cmd_hint(c, which);
      if (*run) co_return co_await cmd_run(c, which, solution);
      if (*reset) co_return co_await cmd_reset(c, reset_which, yes);
      if (*sol) co_return co_await cmd_solution(c, which, force);
      if (*next) co_return co_await cmd_next(c);
      if (*dev_check) co_return co_await cmd_dev_check(c);
      if (*dev_tree) co_return co_await cmd_dev_check_tree(c);
      if (*dev_fail) co_return co_await cmd_dev_expect_fail(c, binary);
      // A person at a terminal gets watch mode; scripts get one verdict.
      if (stdin_is_tty() && isatty(STDOUT_FILENO)) co_return co_await cmd_watch(c);
      co_return co_await cmd_start(c);
    }());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
