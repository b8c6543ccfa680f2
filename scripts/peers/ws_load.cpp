// The load of lesson 15's benchmark (scripts/bench-ws): a room of clients
// on one WebSocket server's /chat, one of them speaking, every message
// broadcast to all. The same client, on one thread with Asio, measures the
// lesson's server and Python's websockets (scripts/peers/websockets_chat.py).
//
//   bench_ws_load --port 8000 --clients 1000 --seconds 5 [--silent]
//
// The speaker keeps `--window` messages in flight: it says the next one
// when every member has heard the one `window` before it, so that each
// server runs as fast as it can deliver and no member's queue grows
// without end. Each message carries the time it was said; a member notes
// how late it came. With --silent, one more member joins that reads
// nothing at all (a small receive buffer); its delivery is not waited for,
// and at the end the client reads what reached it: the server's close
// frame, or the connection ended, or still open ("silent_end").
//
// Prints one line of JSON: deliveries per second and their latency
// (p50, p99, max) over the measured seconds, after `--warmup` seconds.
#include "given/frames.hpp"
#include "given/handshake.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
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

struct options {
  unsigned short port = 0;
  int clients = 1000;
  double seconds = 5;
  double warmup = 1;
  int window = 4;
  std::size_t size = 128;
  bool silent = false;
};

struct client {
  explicit client(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  std::string in;
  ws::decoder decoder{ws::role::client, ws::limits{1 << 20}};
  // The speaker's socket has two writers (its messages, its pongs): its
  // member task leaves a pong here, and the speaker sends it first.
  bool speaker = false;
  std::string pending_pong;
};

awaitable<void> open(client& c, unsigned short port, int receive_buffer = 0) {
  c.socket.open(tcp::v4());
  if (receive_buffer)
    c.socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
  co_await c.socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                  use_awaitable);
  c.socket.set_option(tcp::no_delay(true));
  auto key = ws::make_key();
  co_await asio::async_write(
      c.socket, asio::buffer(ws::upgrade_request("bench", "/chat", key)),
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
    if (r.status != http::parse_status::incomplete)
      throw std::runtime_error("the upgrade's reply does not parse");
    auto n = co_await c.socket.async_read_some(asio::buffer(chunk),
                                               use_awaitable);
    c.in.append(chunk, n);
  }
}

awaitable<void> say(client& c, ws::opcode op, std::string_view payload) {
  co_await asio::async_write(
      c.socket, asio::buffer(ws::encode_masked(op, payload, 0x5a17c0de)),
      use_awaitable);
}

// What the run counts, for all members.
struct room {
  options opt;
  int listening = 0;               // members that still read
  std::vector<int> heard;          // per message: how many members heard it
  long next = 0;                   // the next message to say
  steady::time_point measure_from, measure_until;
  long delivered = 0;              // within the measured seconds
  std::vector<float> late_us;      // within the measured seconds
  int lost = 0;                    // members whose connection ended
  asio::steady_timer* wake = nullptr;  // the speaker's, when it waits
  bool done = false;
};

// Has every member heard message `m`?
bool all_heard(const room& r, long m) {
  return m < 0 || r.heard[static_cast<std::size_t>(m)] >= r.listening;
}

std::string message(long m, std::size_t size) {
  auto now = steady::now().time_since_epoch().count();
  auto text = fmt::format("{:020} {:010} ", now, m);
  text.resize(std::max(size, text.size()), '.');
  return text;
}

// A member: reads frames, answers pings, notes each message.
awaitable<void> member(std::shared_ptr<client> c, room& r) {
  char chunk[64 * 1024];
  for (;;) {
    auto e = c->decoder.next(c->in);
    if (e.what == ws::kind::ping) {
      if (c->speaker) c->pending_pong = e.data;
      else co_await say(*c, ws::opcode::pong, e.data);
      continue;
    }
    if (e.what == ws::kind::text) {
      auto now = steady::now();
      auto said = steady::time_point(steady::duration(
          std::stoll(e.data.substr(0, 20))));
      auto m = std::stol(e.data.substr(21, 10));
      if (now >= r.measure_from && now < r.measure_until) {
        ++r.delivered;
        r.late_us.push_back(static_cast<float>(
            std::chrono::duration<double, std::micro>(now - said).count()));
      }
      if (++r.heard[static_cast<std::size_t>(m)] >= r.listening && r.wake)
        r.wake->cancel();
      continue;
    }
    if (e.what != ws::kind::none) break;  // close, error: this member is out
    auto [ec, n] = co_await c->socket.async_read_some(asio::buffer(chunk),
                                                      as_tuple(use_awaitable));
    if (ec) break;
    c->in.append(chunk, n);
  }
  if (!r.done) {
    ++r.lost;
    --r.listening;
    if (r.wake) r.wake->cancel();
  }
}

// The speaker: `window` messages in flight, until the measured seconds end.
awaitable<void> speak(client& c, room& r) {
  asio::steady_timer wake(co_await asio::this_coro::executor);
  r.wake = &wake;
  auto stalled_since = steady::now();
  while (steady::now() < r.measure_until) {
    if (r.next >= r.opt.window && !all_heard(r, r.next - r.opt.window)) {
      if (steady::now() - stalled_since > 5s)
        throw std::runtime_error(fmt::format(
            "no progress for 5 s: message {} heard by {} of {} members",
            r.next - r.opt.window,
            r.heard[static_cast<std::size_t>(r.next - r.opt.window)],
            r.listening));
      wake.expires_after(100ms);
      co_await wake.async_wait(as_tuple(use_awaitable));
      continue;
    }
    stalled_since = steady::now();
    if (!c.pending_pong.empty()) {
      auto pong = std::move(c.pending_pong);
      c.pending_pong.clear();
      co_await say(c, ws::opcode::pong, pong);
    }
    r.heard.push_back(0);
    co_await say(c, ws::opcode::text, message(r.next++, r.opt.size));
  }
  r.wake = nullptr;
}

// What reached the member that never read, read at the end (3 s at most):
// "close 1008" (its close frame), "ended after N messages" (the server
// ended the connection without a close frame reaching it: a client that
// does not read may never get it), or "open after N messages".
awaitable<std::string> silent_end(client& c) {
  asio::steady_timer limit(co_await asio::this_coro::executor);
  char chunk[64 * 1024];
  auto until = steady::now() + 3s;
  long messages = 0;
  for (;;) {
    auto e = c.decoder.next(c.in);
    if (e.what == ws::kind::close) co_return fmt::format("close {}", e.code);
    if (e.what == ws::kind::error)
      co_return fmt::format("a malformed frame ({})", e.code);
    if (e.what == ws::kind::text) ++messages;
    if (e.what != ws::kind::none) continue;
    if (steady::now() > until)
      co_return fmt::format("open after {} messages", messages);
    limit.expires_at(until);
    auto got = co_await (c.socket.async_read_some(asio::buffer(chunk),
                                                  as_tuple(use_awaitable)) ||
                         limit.async_wait(as_tuple(use_awaitable)));
    if (got.index() == 1) continue;
    auto [ec, n] = std::get<0>(got);
    if (ec) co_return fmt::format("ended after {} messages", messages);
    c.in.append(chunk, n);
  }
}

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

awaitable<void> bench(options opt) {
  auto ex = co_await asio::this_coro::executor;
  room r;
  r.opt = opt;
  std::vector<std::shared_ptr<client>> members;
  for (int i = 0; i < opt.clients; ++i) {
    members.push_back(std::make_shared<client>(ex));
    co_await open(*members.back(), opt.port);
  }
  r.listening = opt.clients;
  std::shared_ptr<client> silent;
  if (opt.silent) {
    silent = std::make_shared<client>(ex);
    co_await open(*silent, opt.port, 4096);
  }
  auto start = steady::now();
  r.measure_from = start + std::chrono::duration_cast<steady::duration>(
                               std::chrono::duration<double>(opt.warmup));
  r.measure_until = r.measure_from +
                    std::chrono::duration_cast<steady::duration>(
                        std::chrono::duration<double>(opt.seconds));
  members.front()->speaker = true;
  for (auto& m : members) co_spawn(ex, member(m, r), detached);
  co_await speak(*members.front(), r);
  r.done = true;
  std::string end;  // (not `silent ? co_await ... : ""`: g++ 12 frees it twice)
  if (silent) end = co_await silent_end(*silent);
  auto p50 = percentile(r.late_us, 0.50);
  auto p99 = percentile(r.late_us, 0.99);
  auto max = r.late_us.empty()
                 ? 0.0
                 : *std::max_element(r.late_us.begin(), r.late_us.end()) / 1000.0;
  fmt::print(
      "{{\"clients\": {}, \"silent\": {}, \"window\": {}, \"size\": {}, "
      "\"seconds\": {}, \"said\": {}, \"delivered\": {}, "
      "\"delivered_per_s\": {:.1f}, \"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}, "
      "\"max_ms\": {:.3f}, \"members_lost\": {}, \"silent_end\": \"{}\"}}\n",
      opt.clients, opt.silent ? "true" : "false", opt.window, opt.size,
      opt.seconds, r.next, r.delivered,
      static_cast<double>(r.delivered) / opt.seconds, p50, p99, max, r.lost,
      end);
  std::fflush(stdout);
  for (auto& m : members) {
    asio::error_code ignored;
    m->socket.close(ignored);
  }
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--port") o.port = static_cast<unsigned short>(std::stoi(value()));
    else if (a == "--clients") o.clients = std::stoi(value());
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--warmup") o.warmup = std::stod(value());
    else if (a == "--window") o.window = std::stoi(value());
    else if (a == "--size") o.size = static_cast<std::size_t>(std::stoul(value()));
    else if (a == "--silent") o.silent = true;
    else throw std::runtime_error("unknown option " + a);
  }
  if (o.port == 0) throw std::runtime_error("--port is required");
  if (o.clients < 1 || o.window < 1) throw std::runtime_error("bad counts");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto opt = parse(argc, argv);
    asio::io_context io;
    std::exception_ptr failed;
    co_spawn(io, bench(opt), [&](std::exception_ptr e) {
      failed = e;
      io.stop();
    });
    io.run();
    if (failed) std::rethrow_exception(failed);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ws_load: %s\n", e.what());
    return 1;
  }
}
