// Lesson 10 demo: your server (exercise.cpp) on 127.0.0.1, in real time,
// and a few clients that show what one loop does with them. Three requests
// travel on one connection; two hundred clients that each wait 100 ms are
// answered together, in about 100 ms and not 20 s; a client that sends half
// a request is cut off by the watchdog. Then the server is stopped. Run it
// with `scripts/tutor run 10`.
#include "lesson.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <memory>
#include <string>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
namespace http = common::http;
namespace web = common::web;

namespace {

double since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

// A client is a socket and what it has read. `ask` sends one request and
// reads its reply with the course's response parser; a status of 0 means
// the connection ended first.
struct client {
  explicit client(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  std::string in;
};

awaitable<http::received> ask(client& c, std::string request) {
  auto [error, sent] = co_await asio::async_write(
      c.socket, asio::buffer(request), as_tuple(use_awaitable));
  if (error) co_return http::received{};
  char chunk[4096];
  for (;;) {
    auto r = http::parse_response(c.in, false);
    if (r.status == http::parse_status::complete) {
      c.in.erase(0, r.consumed);
      co_return r.res;
    }
    auto [ec, n] = co_await c.socket.async_read_some(
        asio::buffer(chunk), as_tuple(use_awaitable));
    if (ec) co_return http::received{};
    c.in.append(chunk, n);
  }
}

awaitable<void> connect(client& c, unsigned short port) {
  co_await c.socket.async_connect(
      {asio::ip::make_address("127.0.0.1"), port}, use_awaitable);
}

std::string get(std::string_view target) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: demo\r\n\r\n", target);
}

// Keep-alive: one connection, three requests, one after the other. The
// server's per-connection coroutine reads each, answers it, and waits for
// the next on the same socket.
awaitable<void> one_connection(unsigned short port) {
  client c(co_await asio::this_coro::executor);
  co_await connect(c, port);
  for (auto target : {"/", "/sleep?ms=10", "/"}) {
    auto start = tut::now();
    auto r = co_await ask(c, get(target));
    fmt::print("  GET {:<14} {} {} in {:.3f} s\n", target, r.status,
               r.body, since(start));
    if (r.status == 0) break;  // the connection ended
  }
}

// Two hundred clients at once, each asking /sleep?ms=100 on a connection
// of its own. Each is a coroutine on the server's loop that sleeps on a
// timer: together they take about as long as one.
awaitable<void> sleeper(unsigned short port, std::shared_ptr<int> answered) {
  client c(co_await asio::this_coro::executor);
  co_await connect(c, port);
  auto r = co_await ask(c, get("/sleep?ms=100"));
  *answered += r.status == 200;
}

awaitable<void> many_at_once(unsigned short port,
                             const web::server_stats& stats) {
  auto ex = co_await asio::this_coro::executor;
  auto answered = std::make_shared<int>(0);
  auto start = tut::now();
  for (int i = 0; i < 200; ++i)
    co_spawn(ex, sleeper(port, answered), detached);
  while (*answered < 200 && since(start) < 5) co_await tut::sleep(5ms);
  fmt::print("  200 x GET /sleep?ms=100 at once: {} answered in {:.2f} s, "
             "{} in flight at the peak\n",
             *answered, since(start), stats.peak_in_flight.load());
}

// A client that sends half a request and stops. Without the watchdog it
// would hold its connection forever; with it, the connection ends once
// the idle timeout has passed.
awaitable<void> half_a_request(unsigned short port) {
  client c(co_await asio::this_coro::executor);
  co_await connect(c, port);
  auto start = tut::now();
  auto r = co_await ask(c, "GET / HTTP/1.1\r\nHo");
  fmt::print("  half a request, then nothing: {} after {:.2f} s\n",
             r.status ? "answered " + std::to_string(r.status)
                      : std::string("the server closed the connection"),
             since(start));
}

// The tour, once the server listens.
awaitable<void> tour(const web::server_stats& stats) {
  while (stats.port == 0) co_await tut::sleep(1ms);
  auto port = stats.port.load();
  fmt::print("serving on http://127.0.0.1:{}\n\n", port);
  co_await tut::traced("one connection", one_connection(port));
  co_await tut::traced("200 clients", many_at_once(port, stats));
  co_await tut::traced("a slow client", half_a_request(port));
}

// The server and the tour race: when the tour is done, || cancels the
// server, which closes its connections and ends. SIGINT or SIGTERM ends
// both at once.
awaitable<void> main_coroutine() {
  web::config cfg;
  cfg.idle_timeout = 500ms;  // for the slow client
  web::server_stats stats;
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT,
                           SIGTERM);
  co_await (lesson10::serve(cfg, stats) || tour(stats) ||
            signals.async_wait(use_awaitable));
  fmt::print("\nthe server stopped; {} requests answered\n",
             stats.requests.load());
}

}  // namespace

int main() {
  try {
    tut::run(main_coroutine());
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
