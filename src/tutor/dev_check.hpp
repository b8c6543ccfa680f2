// Maintainer checks: the manifest and the tree agree; every solution passes;
// every shipped exercise and every kept wrong answer fails, cleanly.
#pragma once

#include "commands.hpp"

namespace tutor {

// Lists every disagreement between lessons.toml and the directories.
std::vector<std::string> tree_problems(const project& p);

asio::awaitable<int> cmd_dev_check_tree(context& c);
asio::awaitable<int> cmd_dev_expect_fail(context& c, fs::path binary);
asio::awaitable<int> cmd_dev_check(context& c);

}  // namespace tutor
