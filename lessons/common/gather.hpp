// Taught in lesson 03 (gather). The course's gather for jobs that return
// nothing, as later lessons use it: every job runs as a task of its own;
// gather returns once all have ended and then rethrows the first error.
// A failing job does not cancel the others (each of them decides what its
// failure means); cancelling gather itself cancels every job, still waits
// for them to end, and then throws operation_aborted.
#pragma once

#include <asio/awaitable.hpp>

#include <vector>

namespace common {

asio::awaitable<void> gather(std::vector<asio::awaitable<void>> jobs);

}  // namespace common
