// Lesson 13: async streams. A stream is pulled: its consumer asks for the
// next item, and only then does the producer run, up to its next item. So
// a paginated API read through a stream fetches page n + 1 only when the
// consumer wants what is on it: a slow consumer means fewer requests, and
// one that stops early fetches nothing more. Here a stream is Asio's
// resumable coroutine, asio::experimental::coro: co_yield hands an item to
// the consumer, which pulls with async_resume (Python's async generators
// and `async for`). Two streams merged are pulled side by side by two
// tasks; the merge, closed early, cancels what they have under way. And a
// stream feeds an HTTP response that goes out in pieces, an event per item,
// as each is produced.
//
// Given, in given/: the fake paginated API (api.hpp), the server's config
// and the bytes of an event (feed.hpp), the routes, serve() and
// client_gone (given.cpp).
//
// Fill in the TODOs, task by task; `scripts/tutor` grades each one as you
// save, and `scripts/tutor run 13` runs the demo with your code.
#include "lesson.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/channel.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::experimental::use_coro;
using namespace asio::experimental::awaitable_operators;

namespace lesson13 {

// ---- Task 1: async for ----------------------------------------------------

awaitable<std::vector<std::string>> collect(stream items, std::size_t limit) {
  std::vector<std::string> out;
  // TODO: `async for`, in C++. Ask the stream for its next item with
  // async_resume (use_awaitable: this is an awaitable coroutine): you get a
  // std::optional, empty once the generator has returned. Keep each item
  // until you have `limit` of them, and stop asking then: an item you ask
  // for is an item the producer has to make (a page it has to fetch).
  // What the stream throws, let through. The stream closes itself when
  // `items` goes out of scope.
  co_return out;
}

// ---- Task 2: an async generator -------------------------------------------

stream paginated(asio::any_io_executor ex, upstream::fake_api& api) {
  // TODO: Python's `async def` with `yield`. Fetch a page with
  // api.async_fetch, awaited with the completion token use_coro (inside a
  // coro you await operations, not asio::awaitable coroutines), then hand
  // each of its items to the consumer with co_yield; then on to the page
  // the page names as its `next`, until there is none. The first page is
  // 1. A co_yield waits until the consumer asks again, so the next page is
  // fetched only when someone wants what is on it.
  co_return;
}

// ---- Tasks 3 and 4: merging two streams -----------------------------------

// Given. What goes through a merge's channel: an item, or the end of one
// stream (with its exception, if it failed). Make one in a variable of its
// own, not in braces inside a co_await: g++ 12 destroys an aggregate built
// there twice (clang does not).
struct pulled {
  std::optional<std::string> item;
  std::exception_ptr error;
};

// Given. What the merge and its two pumps share. The channel has no room:
// a pump that has pulled an item waits in async_send until the merge takes
// it, so neither stream is read more than one item ahead.
struct merge_state {
  explicit merge_state(asio::any_io_executor ex) : out(ex, 0) {}
  asio::experimental::channel<void(asio::error_code, pulled)> out;
  asio::cancellation_signal stop[2];  // one per pump (task 4)
};

// Tasks 3 and 4: pulls every item of `s` and sends it into the channel;
// then its end, with the exception that ended it, if one did.
awaitable<void> pump(stream s, std::shared_ptr<merge_state> m) {
  // TODO (task 3): pull the items of `s` as collect does, and send each
  // into m->out (async_send with an empty error code, awaited: it waits
  // until the merge takes it). When the stream ends, send one `pulled`
  // without an item: that tells the merge this stream is done.
  //
  // TODO (task 4): a stream that throws must end the merge with its
  // error, not leave it waiting for an end that never comes: catch it,
  // and send it in the end's `error`.
  co_return;
}

// Task 4: when the merge is destroyed, each pump is cancelled where it
// waits (its pull, and the fetch under it, or its send).
struct stop_pumps {
  std::shared_ptr<merge_state> m;
  ~stop_pumps() {
    // TODO (task 4): a merge closed early (its consumer broke out) must not
    // leave its pumps fetching for nobody. Emit a cancellation
    // (cancellation_type::terminal) on each of m->stop; it reaches a pump
    // only if its co_spawn was bound to that signal's slot.
  }
};

stream merge(asio::any_io_executor ex, stream a, stream b) {
  auto m = std::make_shared<merge_state>(ex);
  // TODO (task 3): start a pump for each stream, as a task of its own
  // (co_spawn, detached), each moving its stream in: both run at once.
  // Then receive from m->out (async_receive, awaited with
  // as_tuple(use_coro)) until both pumps have sent their end, and co_yield
  // each item as it comes.
  //
  // TODO (task 4): bind each pump's co_spawn to the slot of its signal in
  // m->stop (asio::bind_cancellation_slot around detached), and keep a
  // stop_pumps in this frame: it is destroyed with the merge. A receive
  // that fails was cancelled (the channel says channel_cancelled): end the
  // merge with operation_aborted then. An end that carries an error:
  // rethrow it (std::rethrow_exception).
  co_return;
}

// ---- Tasks 5 and 6: a streaming response ----------------------------------

// Task 5: an event per item, each written before the next is pulled.
awaitable<void> send_events(web::request_context& ctx, stream items) {
  // TODO (task 5): pull the items one by one, as collect does, and send
  // each as an event: upstream::sse_event makes its bytes, ctx.send writes
  // them as a chunk. Awaiting the write before you pull the next item is
  // what makes a slow client slow its own stream down, and nothing else.
  co_return;
}

awaitable<http::response> handle_items(web::request_context& ctx,
                                       stream items) {
  // TODO (task 5): this reply goes in pieces (door 1 of
  // common/server.hpp): send its head first, with ctx.send_head and
  // upstream::event_stream_head(), then the events (send_events). What
  // you return after that is not sent.
  //
  // TODO (task 6): a client that goes away is noticed only at the next
  // write, which may be a page fetch away. Race the events against the
  // given client_gone with the || operator: whichever ends first, the
  // other is cancelled, and with it the fetch it waits for.
  co_return http::json_error(501, "GET /items is not written yet");
}

}  // namespace lesson13
