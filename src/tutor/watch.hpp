// Watch mode: the course as a learner lives in it. Shows the current lesson
// and its verdict, regrades when the exercise file is saved, and takes
// single-key commands, all on one Asio loop: the keyboard, the file watcher,
// grading and a background build of the other lessons run concurrently.
// The keys and the file watcher are in watch_input, the layout in
// watch_screen; what each key does goes through `course` and the actions
// of commands.hpp, as the subcommands do.
#pragma once

#include "course.hpp"
#include "term.hpp"

#include <asio/awaitable.hpp>

namespace tutor {

asio::awaitable<int> cmd_watch(course& c, term t);

}  // namespace tutor
