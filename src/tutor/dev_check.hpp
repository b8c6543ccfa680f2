// Maintainer checks: the manifest and the tree agree; every solution passes;
// every shipped exercise and every kept wrong answer fails, cleanly.
#pragma once

#include "commands.hpp"
#include "course.hpp"
#include "term.hpp"

namespace tutor {

// Lists every disagreement between lessons.toml and the directories.
std::vector<std::string> tree_problems(const project& p);

asio::awaitable<int> cmd_dev_check_tree(course& c, const term& t);
asio::awaitable<int> cmd_dev_expect_fail(course& c, const term& t, fs::path binary);
asio::awaitable<int> cmd_dev_check(course& c, const term& t);

}  // namespace tutor
