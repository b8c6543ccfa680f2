// Child processes on the loop: run a command with a time limit, capture what
// it prints (up to a cap), and say how it ended. A hung child is killed with
// its whole process group.
#pragma once

#include <asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tutor {

struct process_options {
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_output = 256 * 1024;  // bytes kept; the rest is counted
  std::filesystem::path cwd;
  std::map<std::string, std::string> env;  // added to the environment
  bool passthrough = false;  // print straight to our terminal, capture nothing
  // Run as part of the terminal's session: our stdin, stdout and process
  // group (a pager, which reads the keyboard). Implies passthrough.
  bool foreground = false;
  bool stdout_only = false;  // capture stdout alone (stderr to /dev/null)
  int nice = 0;              // lower the child's priority (nice(2))
  // Called with each piece of output as it arrives (before the cap applies).
  std::function<void(std::string_view)> on_output;
  // Filled in while the child runs: a way to ask it to stop early.
  std::shared_ptr<struct process_control> control;
};

// Stops a running child from outside: SIGTERM to its process group now,
// SIGKILL if it is still there after `grace`. Does nothing once it ended.
struct process_control {
  std::function<void(std::chrono::milliseconds grace)> stop = [](auto) {};
  bool running = false;
};

struct process_result {
  int exit_code = -1;   // valid when !signaled && !timed_out
  int signal = 0;       // the signal that ended it, if any
  bool timed_out = false;
  std::string output;   // stdout and stderr, interleaved
  std::size_t dropped = 0;  // bytes past max_output
  std::chrono::milliseconds elapsed{0};

  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
};

// (No default arguments on coroutines: g++ 12 destroys them twice.)
asio::awaitable<process_result> run_process(std::vector<std::string> argv,
                                            process_options options);
inline asio::awaitable<process_result> run_process(std::vector<std::string> argv) {
  return run_process(std::move(argv), process_options{});
}

// Kills every child process group still running (the learner quit).
void kill_children();

// "SIGSEGV (segmentation fault)"
std::string describe_signal(int sig);

}  // namespace tutor
