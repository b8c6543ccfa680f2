// Lesson 06's interface: the queue and the producer/consumer pipeline. Your
// exercise.cpp defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson06) and once for the reference, renamed to
// lesson06_reference, so both can run side by side.
#include "tut/tut.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lesson06 {

// asyncio.Queue(maxsize=capacity): a bounded queue of strings shared by
// producers and consumers on one loop. `capacity` must be at least 1.
class async_queue {
public:
  async_queue(asio::any_io_executor ex, std::size_t capacity);

  // Task 1: put an item at the back; waits while the queue holds
  // `capacity` items. Throws std::logic_error after close().
  // Task 2: cancelled while it waits, it throws
  // asio::system_error(operation_aborted), and the item never goes in.
  asio::awaitable<void> push(std::string item);

  // Task 1: take the item at the front; waits while the queue is empty.
  // Task 2: cancelled while it waits, it throws
  // asio::system_error(operation_aborted) and takes no item.
  // Task 3: after close(), every item pushed before it still comes out, then
  // std::nullopt, to every consumer, as often as they ask.
  asio::awaitable<std::optional<std::string>> pop();

  // Task 3: end of stream. Takes its place behind the items already in the
  // queue (so it waits while the queue is full); no push after it.
  asio::awaitable<void> close();

  // Task 4: the item that a consumer popped is fully handled.
  // Throws std::logic_error when called more often than items were pushed.
  void task_done();

  // Task 4: waits until every item pushed so far has been marked done.
  // Cancelled while it waits, it throws asio::system_error(operation_aborted).
  asio::awaitable<void> join();

private:
  struct state;  // defined in exercise.cpp
  std::shared_ptr<state> state_;
};

// Given: makes `count` items "<name>1", "<name>2", ..., one every 100 ms,
// and pushes each one.
asio::awaitable<void> producer(async_queue& queue, std::string name,
                               int count);

// Given: handling one item takes 1 s.
asio::awaitable<void> handle(std::string item);

// Task 5: pops items until the end of the stream; handles each one, adds it
// to `handled` and marks it done.
asio::awaitable<void> consumer(async_queue& queue,
                               std::vector<std::string>& handled);

// Task 5: producers A, B and C (5 items each, the rows "producer A", ...)
// all push into `queue`; once they are all done, the stream ends.
asio::awaitable<void> produce_all(async_queue& queue);

// Task 5: the three producers and `consumers` consumers (the rows
// "consumer 1", ...) share a queue of `capacity`. Returns every item
// handled, in the order they were handled.
asio::awaitable<std::vector<std::string>> run_pipeline(int consumers,
                                                       std::size_t capacity);

}  // namespace lesson06
