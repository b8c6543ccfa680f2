// Lesson 06: queues. A bounded queue connects producers and consumers that
// run at different speeds (asyncio.Queue). `push` waits while the queue is
// full, so fast producers slow down to the pace of the consumers
// (backpressure); `pop` waits while it is empty. Here the queue is built on
// Asio's channel. Two things the channel lacks you add yourself: an end of
// stream that still delivers every item pushed before it (the channel's own
// close() throws buffered items away), and asyncio's task_done()/join().
//
// Reference solution: the end of the stream is a message behind the items,
// passed on from consumer to consumer; join waits for a count to reach zero.
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
  std::tie(ec) = co_await s->items.async_send(
      asio::error_code{}, std::move(item), as_tuple(use_awaitable));
  if (ec) {  // cancelled while waiting for room: the item never went in
    task_done();
    throw asio::system_error(asio::error::operation_aborted, "push");
  }
}

// Tasks 1 to 3: wait for a message; pass the end of the stream on.
awaitable<std::optional<std::string>> async_queue::pop() {
  auto s = state_;
  auto [ec, item] = co_await s->items.async_receive(as_tuple(use_awaitable));
  // This pop was cancelled (the channel says channel_cancelled; to the
  // caller it is a cancellation like any other).
  if (ec) throw asio::system_error(asio::error::operation_aborted, "pop");
  if (!item) {
    // The end of the stream: put it back for the next consumer. There is
    // room, since nothing is pushed after it and it was just taken out.
    s->items.try_send(asio::error_code{}, std::nullopt);
  }
  co_return item;
}

// Task 3: the end of the stream goes in behind the items.
awaitable<void> async_queue::close() {
  auto s = state_;
  if (s->closed) co_return;
  s->closed = true;
  co_await s->items.async_send(asio::error_code{}, std::nullopt,
                               use_awaitable);
}

// Task 4: one item fewer to wait for; the last one wakes every join().
void async_queue::task_done() {
  auto& s = *state_;
  if (s.unfinished == 0)
    throw std::logic_error("task_done() called more times than items pushed");
  if (--s.unfinished == 0) s.all_done.cancel();
}

awaitable<void> async_queue::join() {
  auto s = state_;
  // Woken with items still unfinished: this join was cancelled, and the
  // next co_await throws operation_aborted (a coroutine's default:
  // asio::this_coro::throw_if_cancelled).
  while (s->unfinished > 0)
    co_await s->all_done.async_wait(as_tuple(use_awaitable));
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
  while (auto item = co_await queue.pop()) {
    co_await handle(*item);
    handled.push_back(*item);
    queue.task_done();
  }
}

// Task 5: three producers; when all are done, the stream ends.
awaitable<void> produce_all(async_queue& queue) {
  std::vector<awaitable<void>> producers;
  for (std::string name : {"A", "B", "C"})
    producers.push_back(
        tut::traced("producer " + name, producer(queue, name, 5)));
  co_await gather(std::move(producers));
  co_await queue.close();
}

// Task 5: producers and consumers side by side on one queue.
awaitable<std::vector<std::string>> run_pipeline(int consumers,
                                                 std::size_t capacity) {
  async_queue queue(co_await asio::this_coro::executor, capacity);
  std::vector<std::string> handled;
  std::vector<awaitable<void>> jobs;
  jobs.push_back(produce_all(queue));
  for (int i = 1; i <= consumers; ++i)
    jobs.push_back(tut::traced(fmt::format("consumer {}", i),
                               consumer(queue, handled)));
  co_await gather(std::move(jobs));
  co_return handled;
}

}  // namespace lesson06
