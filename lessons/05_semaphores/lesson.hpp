// Lesson 05's interface: the semaphore, its permit and fetch_all. Your
// exercise.cpp defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson05) and once for the reference, renamed to
// lesson05_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lesson05 {

// asyncio.Semaphore: at most `permits` tasks hold a permit at once; the
// others wait in line, first come, first served.
class async_semaphore {
public:
  explicit async_semaphore(std::size_t permits);

  // Task 1: take a free permit at once.
  // Task 2: while none is free (or others are already in line), wait at
  // the back of the line, first come, first served.
  // Task 3: a task cancelled while it waits takes no permit and loses none:
  // it leaves the line and throws asio::system_error(operation_aborted).
  asio::awaitable<void> acquire();

  // Task 1: give a permit back to the pool when nobody waits.
  // Task 2: when tasks wait, hand it to the first in line instead, waking
  // exactly that one.
  void release();

  std::size_t available() const;  // permits free right now
  std::size_t waiting() const;    // tasks waiting in line

private:
  struct state;  // defined in exercise.cpp
  std::shared_ptr<state> state_;
};

// Task 4: one permit held by one task, `async with semaphore:`. It goes back
// to the semaphore when the permit is destroyed, however the scope ends
// (return, exception, cancellation). The semaphore must outlive it.
class permit {
public:
  permit() = default;
  // Takes charge of a permit already acquired from `semaphore`.
  explicit permit(async_semaphore& semaphore) : semaphore_(&semaphore) {}
  permit(permit&& other) noexcept;
  permit& operator=(permit&& other) noexcept;
  permit(const permit&) = delete;
  permit& operator=(const permit&) = delete;
  ~permit();

  void release();     // give the permit back now; later calls do nothing
  bool owns() const { return semaphore_ != nullptr; }

private:
  async_semaphore* semaphore_ = nullptr;
};

// Task 4: acquire a permit from `semaphore` and return it as a `permit`.
asio::awaitable<permit> hold(async_semaphore& semaphore);

// What fetch_all fetches with: the page at `url`, or an exception.
using fetcher = std::function<asio::awaitable<std::string>(std::string)>;

// Task 5: fetch every url, at most `limit` at a time. Returns the pages in
// the order of `urls`; a fetch that threw gives "failed: <what()>".
asio::awaitable<std::vector<std::string>> fetch_all(
    std::vector<std::string> urls, std::size_t limit, fetcher fetch);

}  // namespace lesson05
