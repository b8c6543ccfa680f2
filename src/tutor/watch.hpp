// Watch mode: the course as a learner lives in it. Shows the current lesson
// and its verdict, regrades when the exercise file is saved, and takes
// single-key commands, all on one Asio loop: the keyboard, the file watcher
// and grading run concurrently.
#pragma once

#include "commands.hpp"

namespace tutor {

asio::awaitable<int> cmd_watch(context& c);

}  // namespace tutor
