#include "process.hpp"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <set>
#include <stdexcept>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tutor {
namespace {

using asio::use_awaitable;
using asio::experimental::as_tuple;

// Process groups of the children still running.
std::set<pid_t>& running_groups() {
  static std::set<pid_t> groups;
  return groups;
}

// Forks and execs argv with stdout and stderr on one pipe (or stdout alone),
// in a process group of its own so a timeout can kill everything it started.
pid_t spawn(const std::vector<std::string>& argv, const process_options& o,
            int out_fd) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    auto key = entry.substr(0, entry.find('='));
    if (!o.env.count(std::string(key))) env_strings.emplace_back(entry);
  }
  for (const auto& [k, v] : o.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (o.foreground) {
      signal(SIGINT, SIG_DFL);
    } else {
      setpgid(0, 0);
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, 0);
    }
    if (!o.passthrough && !o.foreground) {
      dup2(out_fd, 1);
      int err = o.stdout_only ? open("/dev/null", O_WRONLY) : out_fd;
      if (err >= 0) dup2(err, 2);
    }
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(126);
    if (o.nice > 0 && nice(o.nice) == -1) {
      // Still runs, at the usual priority.
    }
    execvpe(args[0], args.data(), envp.data());
    dprintf(2, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (!o.foreground) setpgid(pid, pid);  // also from the parent: no race with kill below
  return pid;
}

}  // namespace

asio::awaitable<process_result> run_process(std::vector<std::string> argv,
                                            process_options options) {
  auto ex = co_await asio::this_coro::executor;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  auto start = std::chrono::steady_clock::now();
  pid_t pid;
  try {
    pid = spawn(argv, options, fds[1]);
  } catch (...) {
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  close(fds[1]);
  if (!options.foreground) running_groups().insert(pid);

  process_result result;
  bool finished = false;
  asio::steady_timer deadline(ex, options.timeout);
  deadline.async_wait([&](asio::error_code ec) {
    if (ec || finished) return;
    result.timed_out = true;
    kill(options.foreground ? pid : -pid, SIGKILL);
  });
  // Stopped from outside: not a timeout, but the same way out.
  asio::steady_timer grace(ex);
  if (options.control) {
    options.control->running = true;
    options.control->stop = [&, pid](std::chrono::milliseconds g) {
      if (finished) return;
      kill(-pid, SIGTERM);
      grace.expires_after(g);
      grace.async_wait([&, pid](asio::error_code ec) {
        if (!ec && !finished) kill(-pid, SIGKILL);
      });
    };
  }

  asio::posix::stream_descriptor out(ex, fds[0]);
  char buf[16384];
  if (options.passthrough || options.foreground) out.close();
  while (out.is_open()) {
    auto [ec, n] = co_await out.async_read_some(asio::buffer(buf),
                                                as_tuple(use_awaitable));
    if (n > 0 && options.on_output) options.on_output(std::string_view(buf, n));
    std::size_t keep = std::min(n, options.max_output - std::min(options.max_output, result.output.size()));
    result.output.append(buf, keep);
    result.dropped += n - keep;
    if (ec) break;  // EOF: every writer has closed the pipe
  }

  // Reap it. Output closed does not mean exited, so poll until the deadline.
  int status = 0;
  asio::steady_timer tick(ex);
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    tick.expires_after(std::chrono::milliseconds(5));
    co_await tick.async_wait(as_tuple(use_awaitable));
  }
  finished = true;
  running_groups().erase(pid);
  deadline.cancel();
  grace.cancel();
  if (options.control) {
    options.control->running = false;
    options.control->stop = [](auto) {};
  }
  if (!options.foreground) kill(-pid, SIGKILL);  // anything it left behind in its group
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (WIFSIGNALED(status))
    result.signal = WTERMSIG(status);
  else if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  if (result.timed_out) result.signal = 0;
  co_return result;
}

void kill_children() {
  for (pid_t group : running_groups()) kill(-group, SIGKILL);
}


std::string describe_signal(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (segmentation fault: a bad pointer or a dangling reference)";
    case SIGABRT: return "SIGABRT (abort: std::terminate, a failed assert or an uncaught exception)";
    case SIGFPE: return "SIGFPE (arithmetic error, such as a division by zero)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGKILL: return "SIGKILL (killed)";
    default: return fmt::format("signal {} ({})", sig, strsignal(sig));
  }
}

}  // namespace tutor
