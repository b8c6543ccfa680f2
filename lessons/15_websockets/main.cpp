// Lesson 15 demo: your WebSocket server (exercise.cpp) on 127.0.0.1, in
// real time, and clients on the same loop that show what it does. Messages
// come back from /echo; a room of 100 members hears every message one of
// them says, and the demo measures how late; a member that does not read
// is closed with 1008 while the others go on; SIGTERM closes every session
// with 1001 (SIGINT too, at any point of the tour). Run it with
// `scripts/tutor run 15`. With `--serve PORT` it only serves: open
// http://127.0.0.1:PORT/ in a browser to chat.
#include "lesson.hpp"
#include "given/handshake.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
namespace http = common::http;
using steady = std::chrono::steady_clock;

namespace {

// A client is a socket, what it has read, and a decoder for the server's
// frames (unmasked). It masks what it sends, as every client must.
struct client {
  explicit client(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  std::string in;
  ws::decoder decoder{ws::role::client, ws::limits{64 << 20}};
};

// Connects and asks for a WebSocket on `path`: the HTTP request of the
// opening handshake, and its 101 reply.
awaitable<void> open(client& c, unsigned short port, std::string_view path,
                     int receive_buffer = 0) {
  c.socket.open(tcp::v4());
  if (receive_buffer)
    c.socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
  co_await c.socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                  use_awaitable);
  c.socket.set_option(tcp::no_delay(true));
  auto key = ws::make_key();
  co_await asio::async_write(
      c.socket, asio::buffer(ws::upgrade_request("demo", path, key)),
      use_awaitable);
  char chunk[4096];
  for (;;) {
    auto r = http::parse_response(c.in, false);
    if (r.status == http::parse_status::complete) {
      c.in.erase(0, r.consumed);
      if (auto problem = ws::check_accept(r.res, key); !problem.empty())
        throw std::runtime_error(problem);
      co_return;
    }
    auto n = co_await c.socket.async_read_some(asio::buffer(chunk),
                                               use_awaitable);
    c.in.append(chunk, n);
  }
}

// A client's frame, masked, written whole.
awaitable<void> send(client& c, ws::opcode op, std::string_view payload) {
  co_await asio::async_write(
      c.socket, asio::buffer(ws::encode_masked(op, payload, 0x2a2a2a2a)),
      use_awaitable);
}

// The next frame from the server; a ping is answered on the way. An
// event of kind none: the connection ended.
awaitable<ws::event> hear(client& c) {
  char chunk[16 * 1024];
  for (;;) {
    auto e = c.decoder.next(c.in);
    if (e.what == ws::kind::ping) {
      co_await send(c, ws::opcode::pong, e.data);
      continue;
    }
    if (e.what != ws::kind::none) co_return e;
    auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(chunk),
                                                     as_tuple(use_awaitable));
    if (ec) co_return ws::event{};
    c.in.append(chunk, n);
  }
}

// The demo's clock: milliseconds of real time since `t`.
double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

// The echo endpoint: one client, a thousand messages, each awaited before
// the next (2 s at most). The mean is a round trip through the server's
// reader, the outbox and the writer.
awaitable<void> echo(unsigned short port) {
  client c(co_await asio::this_coro::executor);
  co_await open(c, port, "/echo");
  auto start = steady::now();
  for (int i = 0; i < 1000; ++i) {
    co_await send(c, ws::opcode::text, "a message that comes back, #" +
                                           std::to_string(i));
    auto answer = co_await (hear(c) || tut::sleep(2s));
    if (answer.index() == 1)
      throw std::runtime_error("/echo: no answer within 2 s");
    auto& e = std::get<0>(answer);
    if (e.what == ws::kind::close) {  // the server is going away: answer
      co_await send(c, ws::opcode::close, ws::close_payload(e.code));
      co_return;
    }
  }
  fmt::print("  /echo: 1,000 round trips, {:.0f} us each\n",
             ms_since(start));  // ms for 1,000 = us for one
  co_await send(c, ws::opcode::close, ws::close_payload(1000, "done"));
  co_await hear(c);  // the server's answer
}

// A room: each member reads on a task of its own, notes how late each
// message came (it carries the time it was said, in nanoseconds), answers
// the server's close frame, notes its code, and closes its socket.
struct member_log {
  std::vector<double> late_ms;
  long heard = 0;
  int close_code = 0;
};

awaitable<void> member(std::shared_ptr<client> c,
                       std::shared_ptr<member_log> log) {
  for (;;) {
    auto e = co_await hear(*c);
    if (e.what == ws::kind::text) {
      auto said = steady::time_point(steady::duration(std::stoll(e.data)));
      log->late_ms.push_back(ms_since(said));
      ++log->heard;
    } else if (e.what == ws::kind::close) {
      log->close_code = e.code;
      co_await send(*c, ws::opcode::close, ws::close_payload(e.code));
      co_await hear(*c);  // until the server ends the connection
      break;
    } else if (e.what == ws::kind::none) {
      break;
    }
  }
  asio::error_code ignored;
  c->socket.close(ignored);
}

// The room as the demo holds it: the members' connections and what each
// heard. Joining opens one connection after another and starts each
// member's reader.
struct room_run {
  std::vector<std::shared_ptr<client>> members;
  std::vector<std::shared_ptr<member_log>> logs;
};

awaitable<room_run> join(unsigned short port, int members) {
  auto ex = co_await asio::this_coro::executor;
  room_run r;
  for (int i = 0; i < members; ++i) {
    r.members.push_back(std::make_shared<client>(ex));
    co_await open(*r.members.back(), port, "/chat");
    r.logs.push_back(std::make_shared<member_log>());
    co_spawn(ex, member(r.members.back(), r.logs.back()), detached);
  }
  co_return r;
}

// The first member says `n` messages of 1 kB, one every 5 ms; then the
// demo waits until every member has heard them all (or 3 s have passed).
awaitable<double> speak(room_run& r, int n) {
  auto heard = [&] {
    long sum = 0;
    for (auto& log : r.logs) sum += log->heard;
    return sum;
  };
  long want = heard() + static_cast<long>(n) * static_cast<long>(r.logs.size());
  auto start = steady::now();
  for (int i = 0; i < n; ++i) {
    auto now = steady::now().time_since_epoch().count();
    auto said = fmt::format("{:020} said to the room ", now);
    said.resize(1000, '.');
    co_await send(*r.members.front(), ws::opcode::text, said);
    co_await tut::sleep(5ms);
  }
  while (heard() < want && ms_since(start) < 3000) co_await tut::sleep(1ms);
  co_return ms_since(start);
}

// How late the slowest 1% of deliveries came, over the last `per_member`
// messages each member heard.
double p99(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() * 99 / 100];
}

std::vector<double> latest(const room_run& r, std::size_t per_member) {
  std::vector<double> out;
  for (auto& log : r.logs) {
    auto from = log->late_ms.size() - std::min(per_member, log->late_ms.size());
    out.insert(out.end(), log->late_ms.begin() + from, log->late_ms.end());
  }
  return out;
}

// The tour, once the server listens.
awaitable<void> tour(const wsapp::stats& stats) {
  while (stats.port == 0) co_await tut::sleep(1ms);
  auto port = stats.port.load();
  fmt::print("serving on http://127.0.0.1:{}\n\n", port);
  co_await tut::traced("echo", echo(port));

  // A room of 100 members; one of them speaks. Each message goes to 100
  // outboxes, the speaker's too, and the server never waits for any.
  auto r = co_await tut::traced("100 join /chat", join(port, 100));
  auto took = co_await tut::traced("100 messages", speak(r, 100));
  fmt::print("  /chat, 100 members: 100 messages, heard by each in {:.0f} ms; "
             "p99 {:.1f} ms late\n",
             took, p99(latest(r, 100)));

  // A member that reads nothing: its socket fills, then its outbox, and
  // the server closes it with 1008. The others do not wait for it.
  client slow(co_await asio::this_coro::executor);
  co_await open(slow, port, "/chat", 4096);
  took = co_await tut::traced("with one that does not read", speak(r, 300));
  fmt::print("  one more member, who reads nothing: closed with 1008: {}; "
             "the others heard 300 more in {:.0f} ms, p99 {:.1f} ms late\n",
             stats.closed_with(1008) > 0 ? "yes" : "not yet", took,
             p99(latest(r, 300)));
  slow.socket.close();

  // Shutdown: SIGTERM to the demo itself. The server closes every session
  // with 1001; each member answers, and serve() returns. (The signal_set
  // here keeps a second SIGTERM from killing the demo.)
  asio::signal_set keep(co_await asio::this_coro::executor, SIGTERM);
  auto start = steady::now();
  ::kill(::getpid(), SIGTERM);
  auto closed = [&] {
    int n = 0;
    for (auto& log : r.logs) n += log->close_code == ws::code::going_away;
    return n;
  };
  while (closed() < 100 && ms_since(start) < 3000) co_await tut::sleep(1ms);
  fmt::print("\nSIGTERM: {} of 100 members got a close frame 1001 (going "
             "away) within {:.0f} ms\n",
             closed(), ms_since(start));
  // serve() returns once the clients have answered; that ends the demo.
  co_await tut::sleep(5s);
}

// The tour races the server: a signal ends serve() and with it the tour,
// wherever it is (the tour's own connections may fail first: that is the
// shutdown, not a fault). A tour that fails otherwise says why, and its end
// ends the server.
awaitable<void> tour_or_report(const wsapp::stats& stats) {
  auto ex = co_await asio::this_coro::executor;
  auto interrupted = std::make_shared<bool>(false);
  asio::signal_set on_int(ex, SIGINT, SIGTERM);
  on_int.async_wait([interrupted](asio::error_code ec, int) {
    if (!ec) *interrupted = true;
  });
  std::string failure;
  try {
    co_await tour(stats);
    co_return;
  } catch (const asio::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;  // serve() ended
    failure = e.what();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!*interrupted) {
    fmt::print("the tour stopped: {}\n", failure);
    co_return;
  }
  co_await tut::sleep(5s);  // until serve() has closed every session
}

// Serves only, until SIGINT or SIGTERM: for a browser, and for
// scripts/bench-ws (which sets each client's socket buffer: with the
// system's, a client that never reads takes megabytes before its outbox
// fills).
awaitable<void> serve_only(unsigned short port, int send_buffer) {
  wsapp::config cfg;
  cfg.server.port = port;
  cfg.send_buffer = send_buffer;
  wsapp::stats stats;
  auto announce = [&]() -> awaitable<void> {
    while (stats.port == 0) co_await tut::sleep(1ms);
    fmt::print("serving on http://127.0.0.1:{}\n", stats.port.load());
    std::fflush(stdout);
  };
  co_await (lesson15::serve(cfg, stats) && announce());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // --serve PORT [--send-buffer BYTES]
    if ((argc == 3 || argc == 5) && std::string(argv[1]) == "--serve") {
      int send_buffer = 0;
      if (argc == 5 && std::string(argv[3]) == "--send-buffer")
        send_buffer = std::atoi(argv[4]);
      tut::run(serve_only(static_cast<unsigned short>(std::atoi(argv[2])),
                          send_buffer));
      return 0;
    }
    // The demo's server keeps at most 64 frames for a client (the default
    // is 256) and 16 kB in its socket, so that a member who reads nothing
    // is found out after a hundred messages.
    wsapp::config cfg;
    cfg.queue_limit = 64;
    cfg.send_buffer = 16 * 1024;
    wsapp::stats stats;
    tut::run(lesson15::serve(cfg, stats) || tour_or_report(stats));
    fmt::print("the server stopped\n\n{}",
               tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
