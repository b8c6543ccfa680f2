// The learner's commands. Each returns the process exit code:
// 0 pass / done, 1 fail, 2 usage.
#pragma once

#include "grade.hpp"
#include "project.hpp"
#include "state.hpp"
#include "term.hpp"

#include <asio/awaitable.hpp>

#include <optional>
#include <string>

namespace tutor {

struct context {
  project proj;
  term out;
};

asio::awaitable<int> cmd_start(context& c);
asio::awaitable<int> cmd_list(context& c);
asio::awaitable<int> cmd_check(context& c, std::optional<std::string> which, bool full);
asio::awaitable<int> cmd_check_all(context& c);
asio::awaitable<int> cmd_hint(context& c, std::optional<std::string> which);
asio::awaitable<int> cmd_run(context& c, std::optional<std::string> which, bool solution);
asio::awaitable<int> cmd_reset(context& c, std::string which, bool yes);
asio::awaitable<int> cmd_solution(context& c, std::optional<std::string> which, bool force);
asio::awaitable<int> cmd_next(context& c);

// Resolves "03", "3", "03_gather", "gather", or the current lesson when
// empty; prints an error and returns nullopt when it names none.
std::optional<std::size_t> pick_lesson(context& c, const std::optional<std::string>& which);

// Copies the learner's file to .asynclings/backups/ and returns the copy.
fs::path backup_exercise(const project& p, const lesson& l);

// Puts a lesson's exercise back as shipped (its version in git's HEAD),
// once the learner's file is kept as a backup; the only place that writes
// a learner's file. Either `backup` is set, or `error` says why nothing
// changed.
struct restored {
  fs::path backup;
  std::string error;
};
asio::awaitable<restored> restore_exercise(const project& p, const lesson& l);

// The learner's file against the reference, as a unified diff ("" when
// they are the same).
asio::awaitable<std::string> diff_with_reference(const project& p, const lesson& l);

// Keeps a verdict in the progress file: a pass marks the lesson done; a
// failure or a compile error unmarks it (a crash or a hang says nothing
// new). Returns the progress as saved.
progress record_verdict(const project& p, const lesson& l, const verdict& v);

}  // namespace tutor
