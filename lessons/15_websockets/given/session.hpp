// Lesson 15, given: what the WebSocket server is told (config), what it
// tells back (stats), and its state: one session per client (its socket,
// its decoder, its outbox of frames), the chat room, the app. Outside the
// lesson's namespace, so that your code and the reference share them.
//
// The helpers at the end are the plumbing your tasks call: close() starts
// the close handshake, hang_up() ends a session whose client has gone,
// closing() waits for a session to start closing, read_more() reads.
#pragma once

#include "common/server.hpp"
#include "frames.hpp"
#include "tut/tut.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wsapp {

namespace http = common::http;
namespace web = common::web;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct config {
  // Lesson 10's server: address and port (0: any free port), the
  // connection cap, the idle timeout of plain HTTP requests.
  web::config server;
  // Frames waiting to go to one client, at most. A client whose outbox is
  // full when one more comes is not reading: it is closed with 1008.
  std::size_t queue_limit = 256;
  // A ping after this long; no pong within pong_timeout: closed with 1011.
  tut::clock::duration ping_interval = 20s;
  tut::clock::duration pong_timeout = 20s;
  // Once a session is closing, it ends within this, whatever the client
  // does (its close frame, the rest of a write it does not read).
  tut::clock::duration close_timeout = 2s;
  // On SIGINT or SIGTERM, what is left after this is cut off.
  tut::clock::duration shutdown_deadline = 5s;
  ws::limits limits{};  // max_message: a bigger message is closed with 1009
  int send_buffer = 0;  // SO_SNDBUF of each client's socket; 0: the system's
};

struct stats : web::server_stats {
  std::atomic<int> sessions{0};       // WebSocket sessions open now
  std::atomic<int> peak_sessions{0};
  std::atomic<int> members{0};        // in the chat room now
  std::atomic<long> messages{0};      // text and binary messages received
  // Close frames the server started (close()), by code: 1000 to 1015.
  std::array<std::atomic<int>, 16> closes{};
  int closed_with(std::uint16_t code) const {
    return code >= 1000 && code < 1016 ? closes[code - 1000].load() : 0;
  }
};

// A frame as it goes on the wire, encoded once and shared by every outbox
// it is queued in (a broadcast queues one frame for the whole room).
using frame = std::shared_ptr<const std::string>;

inline frame make_frame(ws::opcode op, std::string_view payload) {
  return std::make_shared<const std::string>(ws::encode(op, payload));
}

// A client's outgoing frames, in order. An error code instead of a frame
// ends it (close() sends eof after the frames queued).
using outbox = asio::experimental::channel<void(asio::error_code, frame)>;

// ---- One client -----------------------------------------------------------

struct session {
  // What the endpoint does with each text or binary message.
  using handler = std::function<awaitable<void>(session&, ws::event)>;

  session(const config& c, stats& s, tcp::socket& sock, std::string leftover,
          handler on_message_)
      : cfg(c),
        st(s),
        socket(sock),
        in(std::move(leftover)),
        decoder(ws::role::server, c.limits),
        out(sock.get_executor(), c.queue_limit),
        on_message(std::move(on_message_)),
        last_pong(tut::now()),
        changed(sock.get_executor(), tut::clock::time_point::max()) {
    if (cfg.send_buffer > 0) {
      asio::error_code ignored;
      socket.set_option(asio::socket_base::send_buffer_size(cfg.send_buffer), ignored);
    }
    int now = ++st.sessions;
    int seen = st.peak_sessions.load();
    while (now > seen && !st.peak_sessions.compare_exchange_weak(seen, now)) {
    }
  }
  ~session() { --st.sessions; }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  const config& cfg;
  stats& st;
  tcp::socket& socket;
  std::string in;       // bytes read and not decoded yet
  ws::decoder decoder;  // reads the client's frames (masked), whole messages
  outbox out;           // frames for the writer: at most cfg.queue_limit
  handler on_message;

  // Set by close(): the frame the writer writes last, and its code.
  frame close_frame;
  std::uint16_t close_code = 0;
  tut::clock::time_point closing_since{};
  bool gone = false;  // hang_up(): the client's connection ended
  tut::clock::time_point last_pong;  // when the last pong came
  tut::timer changed;  // rings (cancel()) when the session starts closing

  // Closing: the close handshake has begun, or the client has gone. A
  // closing session takes no new frame and hands no message on.
  bool closing() const { return close_code != 0 || gone; }
};

// ---- The helpers your tasks call ------------------------------------------

// Starts the close handshake: the close frame (code, reason) is written
// after the frames already queued; if the outbox is full, those are dropped
// (the client is not reading them) and the close frame goes next. Only the
// first call does anything: one close frame per connection. no_status
// sends a close frame without a code.
inline void close(session& s, std::uint16_t code, std::string_view reason = {}) {
  if (s.closing()) return;
  s.close_frame = make_frame(ws::opcode::close, ws::close_payload(code, reason));
  s.close_code = code;
  s.closing_since = tut::now();
  if (code >= 1000 && code < 1016) ++s.st.closes[code - 1000];
  if (!s.out.try_send(asio::error::eof, frame{})) s.out.close();
  s.changed.cancel();
}

// The client's connection has ended (it closed it, or it broke): no close
// frame, nothing more to write; the writer stops where it waits.
inline void hang_up(session& s) {
  if (s.gone) return;
  s.gone = true;
  s.close_frame.reset();
  s.out.close();
  s.changed.cancel();
}

// Returns once `s` is closing (at once if it is). Cancelled, it throws
// operation_aborted.
inline awaitable<void> closing(session& s) {
  while (!s.closing()) {
    co_await s.changed.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      throw asio::system_error(asio::error::operation_aborted, "closing");
  }
}

// Reads what the client has sent into s.in. False when its connection has
// ended (closed, reset). Cancelled, it throws operation_aborted.
inline awaitable<bool> read_more(session& s) {
  constexpr std::size_t chunk = 16 * 1024;
  std::size_t had = s.in.size();
  s.in.resize(had + chunk);
  auto [ec, n] = co_await s.socket.async_read_some(
      asio::buffer(s.in.data() + had, chunk),
      asio::experimental::as_tuple(asio::use_awaitable));
  s.in.resize(had + n);
  if (ec == asio::error::operation_aborted) throw asio::system_error(ec, "read");
  co_return !ec;
}

// ---- The chat room and the app --------------------------------------------

struct room {
  std::list<session*> members;
};

// A session's place in a room (or in the app's list of sessions), for as
// long as this lives.
class enrolment {
public:
  enrolment(std::list<session*>& list, session& s, std::atomic<int>* count = nullptr)
      : list_(list), count_(count) {
    list_.push_back(&s);
    at_ = std::prev(list_.end());
    if (count_) ++*count_;
  }
  ~enrolment() {
    list_.erase(at_);
    if (count_) --*count_;
  }
  enrolment(const enrolment&) = delete;
  enrolment& operator=(const enrolment&) = delete;

private:
  std::list<session*>& list_;
  std::list<session*>::iterator at_;
  std::atomic<int>* count_;
};

// Made with std::make_shared: each session's coroutine keeps it alive.
struct app : std::enable_shared_from_this<app> {
  // Makes the server, listening on cfg.server's address and port, with the
  // routes `routes(*this)` makes.
  app(asio::any_io_executor ex, config c, stats& s,
      const std::function<std::vector<web::route>(app&)>& routes)
      : cfg(std::move(c)), st(s) {
    srv = std::make_shared<web::server>(ex, cfg.server, st, routes(*this));
  }

  config cfg;
  stats& st;
  std::shared_ptr<web::server> srv;
  room chat;                      // GET /chat
  std::list<session*> sessions;   // every WebSocket session, both endpoints
};

}  // namespace wsapp
