// Lesson 13's interface: what your exercise.cpp defines, and what is given
// beside it (given/given.cpp). The tests call collect, paginated and merge
// directly, on virtual time, and talk to serve() over sockets on 127.0.0.1.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson13) and once for the reference, renamed to
// lesson13_reference, so both can run side by side.
#include "given/api.hpp"
#include "given/feed.hpp"
#include "tut/tut.hpp"

#include "common/server.hpp"

// In Asio 1.22, channel.hpp must come before coro.hpp: coro.hpp declares a
// concept experimental::detail::execution_context, and a channel compiled
// after it takes that for the class asio::execution_context (and fails).
#include <asio/experimental/channel.hpp>
#include <asio/experimental/coro.hpp>
#include <asio/experimental/use_coro.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace lesson13 {

namespace http = common::http;
namespace web = common::web;

// A stream of items a consumer pulls from: Asio's resumable coroutine. A
// function returning one is an async generator (Python's `async def` with
// `yield`): it runs only while the consumer waits for its next item, up to
// its next co_yield. `co_await s.async_resume(asio::use_awaitable)` gives
// the next item, or std::nullopt once the generator has returned.
// Destroying the stream between two items closes it.
using stream = asio::experimental::coro<std::string>;

// Task 1. `async for item in items`, at most `limit` times: the items in
// the order they came. Pulls nothing more once it has `limit` of them
// (limit 0: nothing at all), and closes the stream when it returns. An
// exception from the stream comes out of collect, a cancellation too.
asio::awaitable<std::vector<std::string>> collect(stream items,
                                                  std::size_t limit);

// Task 2. Every item of every page of `api`, in order, from page 1 on,
// following each page's `next`. A page is fetched only when the consumer
// asks for an item that is on it (or past an empty page). A fetch that
// fails ends the stream with its exception. `ex` is the loop the stream
// runs on (a coro's first parameter names it).
stream paginated(asio::any_io_executor ex, upstream::fake_api& api);

// Tasks 3 and 4. The items of `a` and `b`, each as soon as it is there,
// until both have ended. It pulls at most one item of each stream ahead of
// its consumer. Task 4: when the merge is closed (destroyed, or cancelled
// while it waits), what its streams have under way is cancelled; when one
// stream fails, the other is cancelled and the merge ends with the error.
stream merge(asio::any_io_executor ex, stream a, stream b);

// Tasks 5 and 6. GET /items: the items of `items` as server-sent events,
// each sent as soon as it is there (the head first, then an event per
// item); the response ends when the stream does. Task 6: a client that
// goes away stops the stream at once, even while it waits for a fetch.
asio::awaitable<http::response> handle_items(web::request_context& ctx,
                                             stream items);

// Given. Returns once the client of `ctx` has closed its connection (or
// reset it); it never returns for a client that stays, and it can be
// cancelled.
asio::awaitable<void> client_gone(web::request_context& ctx);

// Given. Serves on cfg.server's address and port (port 0: any free port,
// reported in stats.port once listening): GET / and GET /items, the
// paginated items of an API made of cfg.api (counting in stats.api), fed
// to handle_items. Until SIGINT or SIGTERM, or until cancelled (then it
// throws operation_aborted); either way the connections are closed first.
asio::awaitable<void> serve(upstream::feed_config cfg,
                            upstream::feed_stats& stats);

}  // namespace lesson13
