// The learner's commands. Each returns the process exit code:
// 0 pass / done, 1 fail, 2 usage.
#pragma once

#include "project.hpp"
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

}  // namespace tutor
