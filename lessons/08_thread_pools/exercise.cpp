// Lesson 08: blocking code and thread pools. The loop has one thread, so a
// call that holds that thread (a blocking HTTP client, a password hash, a
// big parse) holds every other task too. What cannot wait on the loop goes
// to a thread pool: the coroutine awaits the result, and the loop runs the
// other tasks meanwhile. That is asyncio.to_thread, or FastAPI's
// run_in_threadpool.
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each as you save.
#include "lesson.hpp"

#include <httplib.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace lesson08 {

// Task 1: how late do the loop's timers fire? Each tick notes when it is
// due, sleeps, and compares. On a free loop a tick is on time; after a
// task held the thread for 100 ms, the next tick is up to 100 ms late.
awaitable<tut::clock::duration> worst_lag(tut::clock::duration interval,
                                          int ticks) {
  tut::clock::duration worst{0};
  // TODO: tick `ticks` times. Before each sleep of `interval`, note when
  // the tick is due, on the loop's clock (tut::now()); after it, how late
  // the tick came is the difference. Keep the largest.
  co_return worst;
}

// The blocking client (given). httplib::Client::Get sends the request and
// waits for the answer on the calling thread, like Python's requests.get.
std::string blocking_get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2s);
  client.set_read_timeout(2s);
  auto answer = client.Get(path);
  if (!answer)
    throw std::runtime_error("GET " + path + ": " +
                             httplib::to_string(answer.error()));
  if (answer->status != 200)
    throw std::runtime_error("GET " + path + ": status " +
                             std::to_string(answer->status));
  return answer->body;
}

// co_spawn starts a coroutine, so the work is wrapped in one. It takes
// `work` by value: the function lives in this coroutine's frame.
awaitable<std::string> call(std::function<std::string()> work) {
  co_return work();
}

// Tasks 2 and 3: asyncio.to_thread. Spawned on the pool's executor, `call`
// runs on a pool thread. Awaiting it with use_awaitable suspends this
// coroutine (the loop runs other tasks) and resumes it on the loop with the
// result, or rethrows the exception here.
awaitable<std::string> to_thread(asio::thread_pool& pool,
                                 std::function<std::string()> work) {
  // TODO (task 2): this runs `work` right here, on the loop's thread. Spawn
  // `call` on the pool instead (co_spawn takes the pool as its executor)
  // and await it with use_awaitable: the loop runs on meanwhile, and you
  // resume on the loop with the result, or with the work's exception.

  // TODO (task 3): when this coroutine is cancelled while it waits, the
  // work on the pool runs on (a thread cannot be interrupted), and so does
  // the wait: the work may be using the caller's data. Once it is over, a
  // cancelled caller must hear operation_aborted, not the result:
  // asio::this_coro::cancellation_state says whether it was cancelled.
  co_return work();
}

// Task 4: the blocking client, moved off the loop. The call is a named
// function first: g++ 12 frees the captures of a lambda written inside a
// co_await expression twice.
awaitable<std::string> fetch(asio::thread_pool& pool, int port,
                             std::string path) {
  // TODO: blocking_get holds the loop until the server answers. Hand the
  // call to to_thread as a named std::function<std::string()> that captures
  // what it needs by value, and await that.
  co_return blocking_get(port, path);
}

// Task 5: two fetches at once. Each waits on a pool thread of its own, so
// the pool runs them side by side (up to as many as it has threads).
awaitable<std::pair<std::string, std::string>> fetch_both(
    asio::thread_pool& pool, int port, std::string first,
    std::string second) {
  // TODO: the second fetch starts when the first has ended. Start both at
  // once with the && operator: awaiting `a && b` gives a std::tuple of the
  // two results, in order.
  auto a = co_await fetch(pool, port, std::move(first));
  auto b = co_await fetch(pool, port, std::move(second));
  co_return std::pair{std::move(a), std::move(b)};
}

}  // namespace lesson08
