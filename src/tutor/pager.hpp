// Long output (a solution's diff, a demo's output) in a pager the learner
// can scroll and leave: $PAGER, or `less -R`, or `more`.
#pragma once

#include <asio/awaitable.hpp>

#include <string>

namespace tutor {

// Shows `text` in the pager and returns when the learner leaves it. The
// terminal must be in its normal (cooked) mode meanwhile.
asio::awaitable<void> show_in_pager(const std::string& text);

}  // namespace tutor
