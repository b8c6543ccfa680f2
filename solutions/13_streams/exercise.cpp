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
// Reference solution: every stream is lazy, and whoever stops pulling
// closes it; what a closed stream had under way is cancelled, never left
// running.
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
  while (out.size() < limit) {
    auto item = co_await items.async_resume(use_awaitable);
    if (!item) break;  // the generator has returned
    out.push_back(std::move(*item));
  }
  co_return out;
}

// ---- Task 2: an async generator -------------------------------------------

stream paginated(asio::any_io_executor ex, upstream::fake_api& api) {
  std::optional<int> next = 1;
  while (next) {
    auto page = co_await api.async_fetch(*next, use_coro);
    for (auto& item : page.items) co_yield std::move(item);
    next = page.next;
  }
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
  pulled end;
  try {
    while (auto item = co_await s.async_resume(use_awaitable)) {
      pulled next{std::move(*item), {}};  // named: see `pulled` above
      co_await m->out.async_send(asio::error_code{}, std::move(next),
                                 use_awaitable);
    }
  } catch (...) {
    end.error = std::current_exception();
  }
  co_await m->out.async_send(asio::error_code{}, std::move(end), use_awaitable);
}

// Task 4: when the merge is destroyed, each pump is cancelled where it
// waits (its pull, and the fetch under it, or its send).
struct stop_pumps {
  std::shared_ptr<merge_state> m;
  ~stop_pumps() {
    for (auto& signal : m->stop) signal.emit(asio::cancellation_type::terminal);
  }
};

stream merge(asio::any_io_executor ex, stream a, stream b) {
  auto m = std::make_shared<merge_state>(ex);
  co_spawn(ex, pump(std::move(a), m),
           asio::bind_cancellation_slot(m->stop[0].slot(), detached));
  co_spawn(ex, pump(std::move(b), m),
           asio::bind_cancellation_slot(m->stop[1].slot(), detached));
  stop_pumps closing{m};
  for (int open = 2; open > 0;) {
    auto [ec, next] = co_await m->out.async_receive(as_tuple(use_coro));
    if (ec)  // cancelled: a channel says channel_cancelled; say it as one
      throw asio::system_error(asio::error::operation_aborted, "merge");
    if (next.item) {
      co_yield std::move(*next.item);
    } else {
      --open;
      if (next.error) std::rethrow_exception(next.error);
    }
  }
}

// ---- Tasks 5 and 6: a streaming response ----------------------------------

// Task 5: an event per item, each written before the next is pulled.
awaitable<void> send_events(web::request_context& ctx, stream items) {
  while (auto item = co_await items.async_resume(use_awaitable))
    co_await ctx.send(upstream::sse_event(*item));
}

awaitable<http::response> handle_items(web::request_context& ctx,
                                       stream items) {
  co_await ctx.send_head(upstream::event_stream_head());
  // Task 6: the events, raced against the client leaving.
  co_await (send_events(ctx, std::move(items)) || client_gone(ctx));
  co_return http::response{};  // the head has gone: this is not sent
}

}  // namespace lesson13
