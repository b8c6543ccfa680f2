// Lesson 09, given: the parts of the client that are not the lesson's tasks
// (defined in given.cpp, compiled beside your exercise.cpp): the client's
// public face, fetch_text, and for task 5 a semaphore and a gather.
//
// Like lesson.hpp, everything here is in namespace lesson09, which the
// reference solution's build renames to lesson09_reference.
#pragma once

#include "lesson.hpp"

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lesson09 {

// What the client keeps between requests: its timeout, and connections
// that finished their last exchange and may carry another one, by
// host:port.
struct http_client::state {
  tut::clock::duration timeout;
  std::map<std::string, std::vector<std::shared_ptr<wire::connection>>>
      idle;
};

// Yours, in exercise.cpp (task 2): one request, within the client's
// timeout. The client's get, post and request call it.
asio::awaitable<response> send_with_timeout(
    std::shared_ptr<http_client::state> s, std::string method,
    wire::target t, std::string body);

// For task 5: lesson 05's semaphore, in short. At most `permits` holders
// at once; the others wait in line, each on a timer parked at
// time_point::max() that a permit going back cancels to wake it.
class limiter {
public:
  explicit limiter(std::size_t permits)
      : state_(std::make_shared<state>(permits)) {}

  struct waiter {
    explicit waiter(asio::any_io_executor ex)
        : wake(ex, tut::clock::time_point::max()) {}
    tut::timer wake;
    bool granted = false;
  };
  struct state {
    explicit state(std::size_t permits) : free(permits) {}
    std::size_t free;
    std::deque<std::shared_ptr<waiter>> line;
  };
  std::shared_ptr<state> state_;
};

// One permit, given back when it is destroyed (`async with semaphore:`).
class permit {
public:
  permit() = default;
  explicit permit(std::shared_ptr<limiter::state> s) : state_(std::move(s)) {}
  permit(permit&& other) noexcept = default;
  permit& operator=(permit&&) = delete;
  ~permit() {
    if (!state_) return;
    auto& s = *state_;
    if (s.line.empty()) {
      ++s.free;
    } else {  // hand it straight to the first in line
      s.line.front()->granted = true;
      s.line.front()->wake.cancel();
      s.line.pop_front();
    }
  }

private:
  std::shared_ptr<limiter::state> state_;
};

// Waits for a permit of `limit` and returns it.
asio::awaitable<permit> hold(limiter& limit);

// Lesson 03's gather, for jobs that return nothing: runs every job as a
// task of its own, waits until all have ended, then rethrows the first
// error. Cancelling it cancels the jobs, and it still waits for them to
// end.
asio::awaitable<void> gather(std::vector<asio::awaitable<void>> jobs);

}  // namespace lesson09
