// Lesson 06: queues. A bounded queue connects producers and consumers that
// run at different speeds (asyncio.Queue). `push` waits while the queue is
// full, so fast producers slow down to the pace of the consumers
// (backpressure); `pop` waits while it is empty. Here the queue is built on
// Asio's channel. Two things the channel lacks you add yourself: an end of
// stream that still delivers every item pushed before it (the channel's own
// close() throws buffered items away), and asyncio's task_done()/join().
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each as you save.
#include "lesson.hpp"

#include "common/gather.hpp"

#include <asio/experimental/channel.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace std::chrono_literals;

namespace lesson06 {

// Given. The messages of the queue: an item, or std::nullopt for the end
// of the stream.
using channel = asio::experimental::channel<void(asio::error_code,
                                                 std::optional<std::string>)>;

// Given. What the handles of one queue share.
struct async_queue::state {
  state(asio::any_io_executor ex, std::size_t capacity)
      : items(ex, capacity), all_done(ex, tut::clock::time_point::max()) {}
  channel items;        // holds up to `capacity` messages
  tut::timer all_done;  // parked at max(); cancelled to wake join()
  std::size_t unfinished = 0;  // pushed, not yet marked done
  bool closed = false;
};

async_queue::async_queue(asio::any_io_executor ex, std::size_t capacity) {
  if (capacity == 0)
    throw std::invalid_argument("async_queue needs a capacity of at least 1");
  state_ = std::make_shared<state>(ex, capacity);
}

// Tasks 1 and 2: wait for room, then put the item in.
awaitable<void> async_queue::push(std::string item) {
  auto s = state_;  // keeps the state alive while this task waits
  if (s->closed) throw std::logic_error("push() after close()");
  ++s->unfinished;  // counted until task_done() (task 4)
  asio::error_code ec;
  // TODO (task 1): put the item in the channel. Its async_send waits while
  // the channel holds `capacity` messages: that wait is the backpressure.
  // Take its result as a value (as_tuple) into `ec`, so that the code
  // below sees a send that was cancelled.
  if (ec) {  // cancelled while waiting for room: the item never went in
    task_done();
    throw asio::system_error(asio::error::operation_aborted, "push");
  }
  co_return;
}

// Tasks 1 to 3: wait for a message; pass the end of the stream on.
awaitable<std::optional<std::string>> async_queue::pop() {
  auto s = state_;
  // TODO (task 1): take the next message out of the channel and return it.
  // Its async_receive waits while the channel is empty; with as_tuple it
  // gives the error code and the message as values.

  // TODO (task 2): an error code means this pop was cancelled while it
  // waited, and took nothing. Say so as any cancellation is said: throw
  // asio::system_error with asio::error::operation_aborted (the channel's
  // own code for it is channel_cancelled). Returning std::nullopt would
  // tell the caller that the stream has ended.

  // TODO (task 3): std::nullopt is the end of the stream, one message for
  // every consumer: before returning it, put it back in the channel for
  // the next one. There is room (it was just taken out, and nothing is
  // pushed after it), so the channel's try_send does it without waiting.
  co_return std::nullopt;
}

// Task 3: the end of the stream goes in behind the items.
awaitable<void> async_queue::close() {
  auto s = state_;
  if (s->closed) co_return;
  s->closed = true;
  // TODO (task 3): send the end of the stream, std::nullopt, as a message
  // behind the items, with the async_send that waits for room as push()
  // does. Not the channel's own close(): in Asio 1.22 that throws away the
  // items still in the channel.
}

// Task 4: one item fewer to wait for; the last one wakes every join().
void async_queue::task_done() {
  auto& s = *state_;
  // TODO (task 4): one item fewer is unfinished. Called more often than
  // items were pushed, it is a bug of the caller's: throw std::logic_error
  // (asyncio raises ValueError). When no item is left unfinished, wake every
  // task in join(): cancelling the all_done timer wakes them all.
  (void)s;
}

awaitable<void> async_queue::join() {
  auto s = state_;
  // TODO (task 4): sleep on the all_done timer while items are unfinished.
  // The wake-up is the timer being cancelled, so await it with as_tuple.
  // Look at the count again after every wake-up: a join that is itself
  // cancelled wakes with items unfinished, and its next co_await throws
  // operation_aborted, as a cancelled wait should.
  co_return;
}

// Lesson 03's gather, for jobs that return nothing: lessons/common/gather.hpp.
using common::gather;

// Given: makes an item every 100 ms and pushes it; each push that went in
// is marked on the producer's row.
awaitable<void> producer(async_queue& queue, std::string name, int count) {
  for (int i = 1; i <= count; ++i) {
    co_await tut::sleep(100ms);
    auto item = name + std::to_string(i);
    co_await queue.push(item);
    tut::note("producer " + name, item);
  }
}

// Given: handling one item takes 1 s.
awaitable<void> handle(std::string item) { co_await tut::sleep(1s); }

// Task 5: take items until the end of the stream.
awaitable<void> consumer(async_queue& queue,
                         std::vector<std::string>& handled) {
  // TODO: pop items until pop() gives std::nullopt, the end of the stream.
  // Handle each with handle(), add it to `handled`, and only then mark it
  // done: join() promises that the work is over, not that it has started.
  co_return;
}

// Task 5: three producers; when all are done, the stream ends.
awaitable<void> produce_all(async_queue& queue) {
  std::vector<awaitable<void>> producers;
  for (std::string name : {"A", "B", "C"})
    producers.push_back(
        tut::traced("producer " + name, producer(queue, name, 5)));
  co_await gather(std::move(producers));
  // TODO: every producer is done: end the stream, so that the consumers
  // exit once they have taken the last item.
}

// Task 5: producers and consumers side by side on one queue.
awaitable<std::vector<std::string>> run_pipeline(int consumers,
                                                 std::size_t capacity) {
  async_queue queue(co_await asio::this_coro::executor, capacity);
  std::vector<std::string> handled;
  std::vector<awaitable<void>> jobs;
  jobs.push_back(produce_all(queue));
  // TODO: add `consumers` consumer jobs, each a row of its own on the
  // timeline: tut::traced names them "consumer 1", "consumer 2", ...
  co_await gather(std::move(jobs));
  co_return handled;
}

}  // namespace lesson06
