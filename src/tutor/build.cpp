#include "build.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

namespace tutor {
namespace {

using asio::use_awaitable;
using asio::experimental::as_tuple;

// Who has the build directory. The tutor runs on one thread: plain state.
struct build_owner {
  int foreground = 0;  // builds the learner waits for, running or waiting
  std::shared_ptr<process_control> background;  // running, or null
  bool stopped = false;                         // stop_background_builds()
  std::optional<asio::steady_timer> changed;    // rung when any of it changes
};

build_owner& owner() {
  static build_owner o;
  return o;
}

void ring(build_owner& o) {
  if (o.changed) o.changed->cancel();
}

// Waits until `o` changes (a build started or ended). The timer never
// expires; ring() cancels every wait on it at once.
asio::awaitable<void> changed(build_owner& o) {
  if (!o.changed)
    o.changed.emplace(co_await asio::this_coro::executor,
                      asio::steady_timer::time_point::max());
  co_await o.changed->async_wait(as_tuple(use_awaitable));
}

// The Ninja a configured build directory uses (CMAKE_MAKE_PROGRAM in its
// cache), or nothing for another generator.
std::string ninja_of(const fs::path& build) {
  if (!fs::exists(build / "build.ninja")) return {};
  std::ifstream cache(build / "CMakeCache.txt");
  std::string line;
  constexpr std::string_view key = "CMAKE_MAKE_PROGRAM:FILEPATH=";
  while (std::getline(cache, line))
    if (line.starts_with(key)) return line.substr(key.size());
  return {};
}

// Ninja itself when the build directory is Ninja's: `cmake --build` only
// starts it, some 40 ms later on every save. Ninja runs CMake again when
// the build files are out of date, as `cmake --build` would.
std::vector<std::string> build_command(const project& p, std::vector<std::string> targets) {
  if (auto ninja = ninja_of(p.build); !ninja.empty()) {
    std::vector<std::string> argv{ninja, "-C", p.build.string()};
    for (auto& t : targets) argv.push_back(std::move(t));
    return argv;
  }
  std::vector<std::string> argv{"cmake", "--build", p.build.string()};
  for (auto& t : targets) {
    argv.push_back("--target");
    argv.push_back(std::move(t));
  }
  return argv;
}

}  // namespace

void ninja_progress_reader::operator()(std::string_view chunk) {
  for (char c : chunk) {
    if (c != '\n' && c != '\r') {
      if (line_.size() < 64) line_ += c;
      continue;
    }
    // "[12/340] Building CXX object ..."
    if (line_.size() > 3 && line_[0] == '[') {
      int done = 0, total = 0;
      const char* b = line_.data() + 1;
      const char* e = line_.data() + line_.size();
      auto r1 = std::from_chars(b, e, done);
      if (r1.ec == std::errc{} && r1.ptr < e && *r1.ptr == '/') {
        auto r2 = std::from_chars(r1.ptr + 1, e, total);
        if (r2.ec == std::errc{} && r2.ptr < e && *r2.ptr == ']' && f_) f_(done, total);
      }
    }
    line_.clear();
  }
}

asio::awaitable<process_result> build_targets(const project& p,
                                              std::vector<std::string> targets,
                                              std::chrono::milliseconds timeout,
                                              build_progress progress) {
  auto& o = owner();
  ++o.foreground;
  // A background build has the directory: ask it to step aside, and wait
  // for it to be gone (ninja stops its compilers and cleans up).
  while (o.background) {
    o.background->stop(std::chrono::seconds(3));
    co_await changed(o);
  }
  process_options opts;
  opts.timeout = timeout;
  opts.max_output = 1 << 20;
  opts.env["NINJA_STATUS"] = progress ? "[%f/%t] " : "";
  if (progress) opts.on_output = ninja_progress_reader(progress);
  process_result r;
  try {
    r = co_await run_process(build_command(p, std::move(targets)), opts);
  } catch (...) {
    --o.foreground;
    ring(o);
    throw;
  }
  --o.foreground;
  ring(o);
  co_return r;
}

asio::awaitable<bool> build_in_background(const project& p,
                                          std::vector<std::string> targets,
                                          build_progress progress) {
  auto& o = owner();
  o.stopped = false;
  for (;;) {
    while (o.foreground > 0 && !o.stopped) co_await changed(o);
    if (o.stopped) co_return false;
    auto control = std::make_shared<process_control>();
    process_options opts;
    opts.timeout = std::chrono::hours(2);
    opts.max_output = 64 * 1024;
    opts.nice = 19;
    opts.env["NINJA_STATUS"] = "[%f/%t] ";
    opts.on_output = ninja_progress_reader(progress);
    opts.control = control;
    o.background = control;
    ring(o);
    auto r = co_await run_process(build_command(p, targets), opts);
    o.background.reset();
    ring(o);
    if (r.ok()) co_return true;
    // Stopped to make way for the learner's build: go on after it. Any
    // other failure (a lesson that does not compile) ends it: grading
    // that lesson will say why.
    if (o.foreground == 0) co_return false;
  }
}

void stop_background_builds() {
  auto& o = owner();
  o.stopped = true;
  if (o.background) o.background->stop(std::chrono::seconds(3));
  ring(o);
}

}  // namespace tutor
