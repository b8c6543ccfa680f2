// Lesson 13 demo: streams, in real time, with your code (exercise.cpp). A
// fake paginated API answers each page after 100 ms. The demo reads it
// lazily and stops early, reads it slowly, merges two APIs of different
// paces, breaks out of a merge, and then serves the pages as server-sent
// events to two clients on 127.0.0.1: one reads to the end, one leaves
// after its first event. What each API was asked for is printed as it
// went. Run it with `scripts/tutor run 13`.
#include "lesson.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

double since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

upstream::api_config pages_of(std::string name, int pages,
                              tut::clock::duration delay) {
  upstream::api_config cfg;
  cfg.name = std::move(name);
  cfg.pages = pages;
  cfg.per_page = 2;
  cfg.delay = delay;
  return cfg;
}

void print_asked(const upstream::fake_api& api) {
  fmt::print("  {} was asked for pages {}\n", api.config().name,
             api.requested());
}

// The first three items of four pages: collect stops pulling after the
// third, so page 3 is never fetched, nor page 4.
awaitable<void> lazily() {
  auto ex = co_await asio::this_coro::executor;
  upstream::fake_api api(ex, pages_of("pages", 4, 100ms));
  auto start = tut::now();
  auto items = co_await lesson13::collect(lesson13::paginated(ex, api), 3);
  fmt::print("collect(paginated, 3): {} items in {:.2f} s\n", items.size(),
             since(start));
  print_asked(api);
}

// A consumer that takes 200 ms over each item, for one second: the stream
// fetches a page only when the consumer comes back for more, so the API
// sees two requests, not ten.
awaitable<void> slowly() {
  auto ex = co_await asio::this_coro::executor;
  upstream::fake_api api(ex, pages_of("slow", 10, 100ms));
  auto items = lesson13::paginated(ex, api);
  int read = 0;
  for (auto until = tut::now() + 1s; tut::now() < until; ++read) {
    if (!co_await items.async_resume(use_awaitable)) break;
    co_await tut::sleep(200ms);
  }
  fmt::print("\na consumer at 200 ms per item read {} items in 1 s\n", read);
  print_asked(api);
}

// Two APIs merged: left answers a page every 100 ms, right every 250 ms.
// Each item is printed when it comes out of the merge: they interleave.
awaitable<void> merged() {
  auto ex = co_await asio::this_coro::executor;
  upstream::fake_api left(ex, pages_of("left", 3, 100ms));
  upstream::fake_api right(ex, pages_of("right", 2, 250ms));
  auto both = lesson13::merge(ex, lesson13::paginated(ex, left),
                              lesson13::paginated(ex, right));
  fmt::print("\nmerge(left, right):\n");
  auto start = tut::now();
  while (auto item = co_await both.async_resume(use_awaitable))
    fmt::print("  {:.2f} s  {}\n", since(start), *item);
}

// Breaking out of a merge after three items: right's first page is still
// being fetched then, and closing the merge cancels that fetch.
awaitable<void> broken_out() {
  auto ex = co_await asio::this_coro::executor;
  upstream::fake_api left(ex, pages_of("left", 3, 100ms));
  upstream::fake_api right(ex, pages_of("right", 2, 250ms));
  auto items = co_await lesson13::collect(
      lesson13::merge(ex, lesson13::paginated(ex, left),
                      lesson13::paginated(ex, right)),
      3);
  co_await tut::sleep(100ms);  // time for a fetch left running to finish
  const auto& seen = right.seen();
  fmt::print("\ncollect(merge, 3): {} items; right's fetches: {} begun, {} "
             "completed, {} cancelled\n",
             items.size(), seen.started.load(), seen.completed.load(),
             seen.cancelled.load());
}

// GET /items from the server, read as it comes: the chunks' size lines
// are skipped, each "data:" line printed with the time it arrived. With
// `leave_after`, the client closes its connection 50 ms after so many
// events, while the server waits for the next page.
awaitable<void> watch(unsigned short port, std::string who, int leave_after) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                use_awaitable);
  std::string request = "GET /items HTTP/1.1\r\nHost: demo\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), use_awaitable);
  auto start = tut::now();
  std::string in;
  bool head = false;
  int events = 0;
  char chunk[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk),
                                                   as_tuple(use_awaitable));
    in.append(chunk, n);
    bool last = in.ends_with("0\r\n\r\n");  // the chunk of size 0: the end
    if (!head && in.find("\r\n\r\n") != std::string::npos) {
      head = true;
      if (!in.starts_with("HTTP/1.1 200")) {  // not an event stream
        fmt::print("  {}: {}\n", who, in.substr(0, in.find('\r')));
        co_return;
      }
    }
    for (auto at = in.find('\n'); at != std::string::npos; at = in.find('\n')) {
      auto line = in.substr(0, at);
      in.erase(0, at + 1);
      if (!line.starts_with("data: ")) continue;
      fmt::print("  {} {:.2f} s  {}\n", who, since(start), line);
      if (++events == leave_after) {
        co_await tut::sleep(50ms);
        fmt::print("  {} {:.2f} s  leaves\n", who, since(start));
        co_return;  // the socket closes
      }
    }
    if (ec || last) co_return;
  }
}

// The server, its API at 150 ms a page, and two clients one after the
// other. The first sees each event as its page arrives, not all at the end;
// the second leaves after one event, and its stream's fetch is cancelled.
awaitable<void> served() {
  upstream::feed_config cfg;
  cfg.api = pages_of("feed", 3, 150ms);
  upstream::feed_stats stats;
  auto tour = [&]() -> awaitable<void> {
    while (stats.port == 0) co_await tut::sleep(1ms);
    fmt::print("\nserving on http://127.0.0.1:{}/items\n", stats.port.load());
    co_await watch(stats.port, "client 1", -1);
    co_await watch(stats.port, "client 2", 1);
    co_await tut::sleep(200ms);  // time for a fetch left running to finish
    fmt::print("the feed's fetches: {} begun, {} completed, {} cancelled\n",
               stats.api.started.load(), stats.api.completed.load(),
               stats.api.cancelled.load());
  };
  // Whichever ends first, the other is cancelled: the tour ends the server,
  // and SIGINT (serve() listens for it) ends the tour.
  co_await (lesson13::serve(cfg, stats) || tour());
}

awaitable<void> main_coroutine() {
  co_await lazily();
  co_await slowly();
  co_await merged();
  co_await broken_out();
  co_await served();
}

}  // namespace

int main() {
  try {
    tut::run(main_coroutine());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
