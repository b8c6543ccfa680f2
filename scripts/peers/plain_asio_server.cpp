// The ceiling of one Asio loop on this machine, for the benchmark: the
// plainest coroutine server there is. One coroutine per connection reads
// until a blank line and answers the same JSON every time; a request for
// /sleep?ms=N first waits N ms on a timer. No parser, no router, no limits,
// no timeouts, no shutdown: nothing the lessons' server has. What the
// lessons' server reaches against it is what its care costs.
//
//   bench_plain_asio_server --port 8000
#include <asio.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

// N of "GET /sleep?ms=N ...", or -1 for any other request.
int sleep_ms(std::string_view head) {
  constexpr std::string_view prefix = "GET /sleep?ms=";
  if (!head.starts_with(prefix)) return -1;
  int ms = -1;
  std::from_chars(head.data() + prefix.size(), head.data() + head.size(), ms);
  return ms;
}

// The answer to /sleep?ms=N, as lesson 10 gives it.
std::string slept(int ms) {
  auto body = "{\"slept_ms\": " + std::to_string(ms) + "}";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

awaitable<void> session(tcp::socket socket) {
  static const std::string reply =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 20\r\n\r\n{\"hello\": \"Asyncio\"}";
  asio::steady_timer timer(socket.get_executor());
  std::string answer;
  socket.set_option(tcp::no_delay(true));
  std::string buffer(4096, '\0');
  std::size_t have = 0;
  try {
    for (;;) {
      if (have == buffer.size()) co_return;  // a head longer than 4 KiB
      have += co_await socket.async_read_some(
          asio::buffer(buffer.data() + have, buffer.size() - have),
          use_awaitable);
      std::string_view got(buffer.data(), have);
      auto end = got.find("\r\n\r\n");
      if (end == got.npos) continue;
      int ms = sleep_ms(got.substr(0, end));
      // GET requests have no body; keep what follows (pipelining).
      buffer.erase(0, end + 4);
      buffer.resize(4096);
      have -= end + 4;
      if (ms < 0) {
        co_await asio::async_write(socket, asio::buffer(reply), use_awaitable);
        continue;
      }
      timer.expires_after(std::chrono::milliseconds(ms));
      co_await timer.async_wait(use_awaitable);
      answer = slept(ms);
      co_await asio::async_write(socket, asio::buffer(answer), use_awaitable);
    }
  } catch (const std::exception&) {
    // The client went away.
  }
}

awaitable<void> listener(tcp::acceptor& acceptor) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(use_awaitable);
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket)),
                   asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--port") {
    std::fprintf(stderr, "usage: bench_plain_asio_server --port N\n");
    return 2;
  }
  asio::io_context loop(1);
  tcp::acceptor acceptor(
      loop, {asio::ip::make_address("127.0.0.1"),
             static_cast<unsigned short>(std::atoi(argv[2]))});
  asio::signal_set stop(loop, SIGINT, SIGTERM);
  stop.async_wait([&](auto, int) { loop.stop(); });
  asio::co_spawn(loop, listener(acceptor), asio::detached);
  loop.run();
}
