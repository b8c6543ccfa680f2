// Building: one ninja at a time in a build directory (two would corrupt its
// logs), so every build of the tutor goes through here. A build the learner
// waits for (grading a save, running a demo) comes first: a background
// build in progress steps aside, and resumes when the other is done.
#pragma once

#include "process.hpp"
#include "project.hpp"

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tutor {

// ninja's progress: `done` of `total` steps.
using build_progress = std::function<void(int done, int total)>;

// Builds `targets` now. A background build is stopped first and goes on
// afterwards. The result's output holds the compiler's messages.
asio::awaitable<process_result> build_targets(const project& p,
                                              std::vector<std::string> targets,
                                              std::chrono::milliseconds timeout,
                                              build_progress progress);
inline asio::awaitable<process_result> build_targets(const project& p,
                                                     std::vector<std::string> targets,
                                                     std::chrono::milliseconds timeout) {
  return build_targets(p, std::move(targets), timeout, {});
}

// Builds `targets` at the lowest CPU priority (nice 19), stepping aside for
// every build_targets call, until they are all built, or a build fails, or
// stop_background_builds() is called. Returns whether they were all built.
asio::awaitable<bool> build_in_background(const project& p,
                                          std::vector<std::string> targets,
                                          build_progress progress);
void stop_background_builds();

// Reads "[12/340] ..." lines (NINJA_STATUS="[%f/%t] ") out of a stream of
// output that arrives in pieces.
class ninja_progress_reader {
public:
  explicit ninja_progress_reader(build_progress f) : f_(std::move(f)) {}
  void operator()(std::string_view chunk);

private:
  build_progress f_;
  std::string line_;
};

}  // namespace tutor
