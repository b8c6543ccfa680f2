// Taught in lesson 05 (semaphores). The course's semaphore, as later lessons
// use it: asyncio.Semaphore, with `async with semaphore:` as a permit that
// goes back when it is destroyed.
//
//   common::async_semaphore limit(10);
//   auto p = co_await common::hold(limit);  // waits in line for a permit
//   ...                                     // p goes back at the scope's end
//
// Waiters are served first come, first served; release() wakes exactly one.
// A task cancelled while it waits leaves the line, takes no permit and
// throws asio::system_error(operation_aborted).
#pragma once

#include <asio/awaitable.hpp>

#include <cstddef>
#include <memory>

namespace common {

class async_semaphore {
public:
  explicit async_semaphore(std::size_t permits);

  asio::awaitable<void> acquire();
  void release();

  std::size_t available() const;  // permits free right now
  std::size_t waiting() const;    // tasks waiting in line

  struct state;

private:
  std::shared_ptr<state> state_;
};

// One permit, given back once: by release() or by the destructor. The
// semaphore must outlive it.
class permit {
public:
  permit() = default;
  explicit permit(async_semaphore& semaphore) : semaphore_(&semaphore) {}
  permit(permit&& other) noexcept;
  permit& operator=(permit&& other) noexcept;
  permit(const permit&) = delete;
  permit& operator=(const permit&) = delete;
  ~permit();

  void release();
  bool owns() const { return semaphore_ != nullptr; }

private:
  async_semaphore* semaphore_ = nullptr;
};

// Waits for a permit of `semaphore` and returns it.
asio::awaitable<permit> hold(async_semaphore& semaphore);

}  // namespace common
