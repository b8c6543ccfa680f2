// The benchmark's upstream service: every server's /dashboard/{user_id}
// calls it three times (/users/{id}, /orders/{id}, /recommendations/{id}).
// It answers any GET after a fixed delay (200 ms by default), so a
// dashboard's time is the upstream's delay when its three calls overlap and
// three times that when they run one after another. One thread, one loop:
// thousands of waiting requests cost nothing but their sockets.
//
//   bench_upstream --port 9000 [--delay-ms 200]
#include "work.hpp"  // lessons/11_web_app/given: the answers of lesson 11's fakes

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto as_values = asio::experimental::as_tuple(use_awaitable);

// The parts of a request the upstream looks at.
struct request {
  std::string path;
  bool keep_alive = true;
};

request parse_head(std::string_view head) {
  request req;
  auto first = head.substr(0, head.find("\r\n"));
  auto path_start = first.find(' ') + 1;
  req.path = std::string(
      first.substr(path_start, first.find(' ', path_start) - path_start));
  // Header names and these values are case-insensitive.
  std::string lower(head);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(ch));
  auto has = [&lower](std::string_view line) {
    return lower.find(line) != std::string::npos;
  };
  req.keep_alive = first.ends_with("HTTP/1.0")
                       ? has("\r\nconnection: keep-alive")
                       : !has("\r\nconnection: close");
  return req;
}

std::string response_for(const request& req) {
  auto body = webapp::upstream_body(req.path);
  return fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\nConnection: {}\r\n\r\n{}",
      body.size(), req.keep_alive ? "keep-alive" : "close", body);
}

// One connection: read a request head, wait, answer; again while the
// client keeps the connection open.
awaitable<void> session(tcp::socket socket,
                        std::chrono::milliseconds delay) {
  std::string buffer;
  for (;;) {
    auto [error, n] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buffer), "\r\n\r\n", as_values);
    if (error) co_return;  // the client closed the connection
    auto req = parse_head(std::string_view(buffer).substr(0, n));
    buffer.erase(0, n);
    asio::steady_timer timer(socket.get_executor(), delay);
    co_await timer.async_wait(use_awaitable);
    auto [write_error, written] = co_await asio::async_write(
        socket, asio::buffer(response_for(req)), as_values);
    if (write_error || !req.keep_alive) co_return;
  }
}

awaitable<void> listener(tcp::acceptor& acceptor,
                         std::chrono::milliseconds delay) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(as_values);
    if (error == asio::error::operation_aborted) co_return;
    if (error) continue;  // out of file descriptors, a reset: keep serving
    socket.set_option(tcp::no_delay(true));
    co_spawn(acceptor.get_executor(), session(std::move(socket), delay),
             detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  long delay_ms = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--port")
      port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (flag == "--delay-ms")
      delay_ms = std::atol(argv[i + 1]);
  }
  try {
    asio::io_context ctx(1);
    tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"), port});
    fmt::print("upstream on 127.0.0.1:{}, answering after {} ms\n",
               acceptor.local_endpoint().port(), delay_ms);
    std::fflush(stdout);
    // SIGINT/SIGTERM stop the loop, and with it every waiting request.
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { ctx.stop(); });
    co_spawn(ctx, listener(acceptor, std::chrono::milliseconds(delay_ms)),
             detached);
    ctx.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "upstream: {}\n", e.what());
    return 1;
  }
}
