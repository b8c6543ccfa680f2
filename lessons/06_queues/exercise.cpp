// Lesson 06: queues. A bounded queue connects producers and consumers that
// run at different speeds (asyncio.Queue). `push` waits while the queue is
// full, so fast producers slow down to the pace of the consumers
// (backpressure); `pop` waits while it is empty. Here the queue is built on
// Asio's channel. Two things the channel lacks you add yourself: an end of
// stream that still delivers every item pushed before it (the channel's own
// close() throws buffered items away), and asyncio's task_done()/join().
//
// Fill in the TODOs of tasks 1 to 4; `scripts/tutor` grades each as you save.
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

// Task 1: wait for room, then put the item in.
awaitable<void> async_queue::push(std::string item) {
  auto s = state_;  // keeps the state alive while this task waits
  if (s->closed) throw std::logic_error("push() after close()");
  ++s->unfinished;  // counted until task_done() (task 3)
  asio::error_code ec;
  // TODO: put the item in the channel; this waits while the channel is full:
  // `std::tie(ec) = co_await s->items.async_send(asio::error_code{},
  //     std::move(item), as_tuple(use_awaitable));`
  if (ec) {  // cancelled while waiting for room: the item never went in
    task_done();
    throw asio::system_error(ec);
  }
  co_return;
}

// Tasks 1 and 2: wait for a message; pass the end of the stream on.
awaitable<std::optional<std::string>> async_queue::pop() {
  auto s = state_;
  // TODO: take the next message, waiting while the channel is empty:
  // `auto [ec, item] =
  //     co_await s->items.async_receive(as_tuple(use_awaitable));`
  // An error means this pop was cancelled: throw asio::system_error(ec).
  // Return the item.

  // TODO (task 2): an empty item is the end of the stream, and every
  // consumer must see it: put it back for the next one with
  // `s->items.try_send(asio::error_code{}, std::nullopt);`
  co_return std::nullopt;
}

// Task 2: the end of the stream goes in behind the items.
awaitable<void> async_queue::close() {
  auto s = state_;
  if (s->closed) co_return;
  s->closed = true;
  // TODO: not `s->items.close()`: Asio's close() throws away the items
  // still in the channel. Send the end of the stream as a message behind
  // them: `co_await s->items.async_send(asio::error_code{}, std::nullopt,
  // use_awaitable);`
}

// Task 3: one item fewer to wait for; the last one wakes every join().
void async_queue::task_done() {
  auto& s = *state_;
  // TODO: throw std::logic_error when `s.unfinished` is already 0.
  // Otherwise count one down; at 0, wake every join(): `s.all_done.cancel()`.
  (void)s;
}

awaitable<void> async_queue::join() {
  auto s = state_;
  // TODO: while `s->unfinished > 0`, sleep on the parked timer:
  // `co_await s->all_done.async_wait(as_tuple(use_awaitable));`
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

// Task 4: take items until the end of the stream.
awaitable<void> consumer(async_queue& queue,
                         std::vector<std::string>& handled) {
  // TODO: `while (auto item = co_await queue.pop())`: co_await
  // handle(*item), add it to `handled`, then `queue.task_done()`. pop()
  // gives std::nullopt at the end of the stream, and the loop ends.
  co_return;
}

// Task 4: three producers; when all are done, the stream ends.
awaitable<void> produce_all(async_queue& queue) {
  std::vector<awaitable<void>> producers;
  for (std::string name : {"A", "B", "C"})
    producers.push_back(
        tut::traced("producer " + name, producer(queue, name, 5)));
  co_await gather(std::move(producers));
  // TODO: every producer is done: end the stream, so that the consumers
  // exit once they have taken the last item.
}

// Task 4: producers and consumers side by side on one queue.
awaitable<std::vector<std::string>> run_pipeline(int consumers,
                                                 std::size_t capacity) {
  async_queue queue(co_await asio::this_coro::executor, capacity);
  std::vector<std::string> handled;
  std::vector<awaitable<void>> jobs;
  jobs.push_back(produce_all(queue));
  // TODO: add `consumers` consumers to the jobs, each a row of its own:
  // `tut::traced(fmt::format("consumer {}", i), consumer(queue, handled))`
  // for i = 1 .. consumers.
  co_await gather(std::move(jobs));
  co_return handled;
}

}  // namespace lesson06
