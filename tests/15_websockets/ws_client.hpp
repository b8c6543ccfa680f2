// Lesson 15's test client: a WebSocket client on a raw socket, written with
// the lesson's given codec (the client's side of it: masked frames out,
// unmasked ones in). It does what a test needs and a library would hide:
// send any bytes (malformed frames too), read with a small receive buffer
// or not read at all, answer pings or not, and say exactly how the server
// ended the connection. Everything it waits for has a time limit.
#pragma once

#include "web_harness.hpp"

#include "given/frames.hpp"
#include "given/handshake.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wstest {

using namespace harness;

// What came from the server: a frame (its kind, its data, a close's code),
// or how the wait ended instead.
struct got {
  ws::kind what = ws::kind::none;
  std::string data;
  std::uint16_t code = 0;
  ending end = ending::reply;  // reply: a frame came; else closed, reset,
                               // timed_out, malformed
  bool is(ws::kind k) const { return end == ending::reply && what == k; }
};

inline std::string describe(const got& g) {
  if (g.end == ending::malformed) return "a malformed frame (" + g.data + ")";
  if (g.end != ending::reply) return to_string(g.end);
  switch (g.what) {
    case ws::kind::close:
      return g.code == ws::code::no_status
                 ? std::string("a close frame without a code")
                 : fmt::format("a close frame {} \"{}\"", g.code, g.data);
    case ws::kind::text:
      return fmt::format("the text \"{}\"", printable(g.data));
    case ws::kind::binary:
      return fmt::format("{} bytes of binary", g.data.size());
    default:
      return fmt::format("{} \"{}\"", ws::to_string(g.what), printable(g.data));
  }
}

class ws_client {
public:
  explicit ws_client(asio::any_io_executor ex) : socket_(ex) {}

  // Answer the server's pings with pongs (as any client does); pings seen
  // are counted either way.
  bool answer_pings = true;
  int pings = 0;

  // Connects to 127.0.0.1:port and opens a WebSocket on `path`. A
  // `receive_buffer` (bytes) makes the kernel hold little for this client
  // when it does not read. "" when the server accepted; else what it did.
  awaitable<std::string> open(unsigned short port, std::string path = "/chat",
                              int receive_buffer = 0, duration limit = 1s) {
    asio::error_code ignored;
    socket_.open(tcp::v4(), ignored);
    if (receive_buffer > 0)
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer),
                         ignored);
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    auto r = co_await (socket_.async_connect(at, as_tuple(use_awaitable)) ||
                       tut::sleep(limit));
    if (r.index() == 1) co_return "the connection was not accepted in time";
    if (auto [ec] = std::get<0>(r); ec) co_return "could not connect: " + ec.message();
    socket_.set_option(tcp::no_delay(true), ignored);
    auto key = ws::make_key();
    if (!co_await send_raw(ws::upgrade_request("127.0.0.1", path, key)))
      co_return "the connection closed before the request went out";
    auto until = tut::now() + limit;
    for (;;) {
      auto p = http::parse_response(in_, eof_);
      if (p.status == http::parse_status::complete) {
        in_.erase(0, p.consumed);
        co_return ws::check_accept(p.res, key);
      }
      if (p.status == http::parse_status::error || eof_)
        co_return fmt::format("no answer to the upgrade ({})", to_string(end_));
      if (!co_await read(until)) co_return "no answer to the upgrade in time";
    }
  }

  // Connects without the handshake: for a session the test makes itself.
  awaitable<bool> connect_raw(unsigned short port, int receive_buffer = 0) {
    asio::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (receive_buffer > 0)
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    auto [error] = co_await socket_.async_connect(at, as_tuple(use_awaitable));
    socket_.set_option(tcp::no_delay(true), ec);
    co_return !error;
  }

  awaitable<bool> send_raw(std::string_view bytes) {
    if (send_failed_) co_return false;
    auto [ec, n] = co_await asio::async_write(
        socket_, asio::buffer(bytes.data(), bytes.size()), as_tuple(use_awaitable));
    send_failed_ = bool(ec);
    co_return !ec;
  }
  awaitable<bool> send(ws::opcode op, std::string_view payload, bool fin = true) {
    co_return co_await send_raw(ws::encode_masked(op, payload, key_, fin));
  }
  awaitable<bool> send_text(std::string_view text) {
    co_return co_await send(ws::opcode::text, text);
  }
  awaitable<bool> send_close(std::uint16_t code, std::string_view reason = {}) {
    co_return co_await send(ws::opcode::close, ws::close_payload(code, reason));
  }

  // The next frame from the server (pings are answered on the way, unless
  // answer_pings is off, and are counted, not returned), or how the wait
  // ended: closed, reset, timed_out, malformed.
  awaitable<got> next(duration limit) {
    auto until = tut::now() + limit;
    for (;;) {
      auto e = decoder_.next(in_);
      if (e.what == ws::kind::error) co_return got{e.what, e.data, e.code, ending::malformed};
      if (e.what == ws::kind::ping) {
        ++pings;
        if (answer_pings) co_await send(ws::opcode::pong, e.data);
        continue;
      }
      if (e.what != ws::kind::none) {
        if (e.what == ws::kind::close) close_seen_ = true;
        co_return got{e.what, std::move(e.data), e.code, ending::reply};
      }
      if (eof_) co_return got{ws::kind::none, {}, 0, end_};
      if (!co_await read(until)) co_return got{ws::kind::none, {}, 0, ending::timed_out};
    }
  }

  // The test knows that no more bytes will be written to this client once
  // `done` is true (the only task that writes to it has ended): a wait
  // then ends quiet_grace after the last byte came, not at its limit, and
  // says timed_out as at the limit.
  void nothing_more_once(std::function<bool()> done) { nothing_more_ = std::move(done); }
  static constexpr duration quiet_grace = std::chrono::milliseconds(200);

  // Frames until a close frame, the end of the connection or the time
  // limit: the last one says which.
  awaitable<std::vector<got>> until_close(duration limit) {
    std::vector<got> seen;
    auto until = tut::now() + limit;
    for (;;) {
      auto g = co_await next(until - tut::now());
      seen.push_back(g);
      if (g.end != ending::reply || g.what == ws::kind::close) co_return seen;
    }
  }

  // Waits for the server to end the TCP connection: closed or reset, or
  // timed_out when it stayed open. Frames that come first are dropped.
  awaitable<ending> ended(duration limit) {
    auto until = tut::now() + limit;
    while (!eof_) {
      in_.clear();
      if (!co_await read(until)) co_return ending::timed_out;
    }
    co_return end_;
  }

  // An abrupt end: the server gets a TCP reset.
  void reset() {
    asio::error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
  }
  // The client's side of TCP ends (the server reads EOF).
  void shutdown_send() {
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  tcp::socket& socket() { return socket_; }

private:
  // Reads more; false when the time ran out.
  awaitable<bool> read(tut::clock::time_point until) {
    char chunk[16 * 1024];
    auto r = co_await (socket_.async_read_some(asio::buffer(chunk), as_tuple(use_awaitable)) ||
                       give_up_at(until));
    if (r.index() == 1) co_return false;
    auto [ec, n] = std::get<0>(r);
    in_.append(chunk, n);
    if (ec) {
      eof_ = true;
      end_ = ec == asio::error::eof ? ending::closed : ending::reset;
    }
    co_return true;
  }

  // Sleeps until `until`, or until nothing_more_ turns true and then
  // quiet_grace passes with no byte come.
  awaitable<void> give_up_at(tut::clock::time_point until) {
    if (!nothing_more_) co_return co_await sleep_until(until);
    while (tut::now() < until && !nothing_more_())
      co_await tut::sleep(std::min<duration>(2ms, until - tut::now()));
    co_await sleep_until(std::min(until, tut::now() + quiet_grace));
  }

  tcp::socket socket_;
  std::function<bool()> nothing_more_;
  std::string in_;
  ws::decoder decoder_{ws::role::client, ws::limits{64 << 20}};
  std::uint32_t key_ = 0x5ca1ab1e;
  bool eof_ = false;
  bool send_failed_ = false;
  bool close_seen_ = false;
  ending end_ = ending::closed;
};

}  // namespace wstest
