// Lesson 15: WebSockets on lesson 10's server, FastAPI's @app.websocket on
// one loop. A connection that has been upgraded is a session: frames both
// ways, at any time. Each session has a reader task and a writer task, and
// an outbox between whoever has something to say and the writer; the echo
// endpoint and the chat room put frames in outboxes and never wait for a
// client. A client that does not read fills its outbox and is closed; one
// that does not answer pings is closed; the close handshake ends every
// session, on shutdown too.
//
// Given, in given/session.hpp: the session's state and the helpers close(),
// hang_up(), closing() and read_more(); in given/frames.hpp, the frames
// (ws::decoder, ws::encode); in given/app.cpp, the routes, the handshake and
// serve(). Fill in the TODOs, task by task; `scripts/tutor` grades each one
// as you save, and `scripts/tutor run 15` starts the server and talks to it.
#include "lesson.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>

#include <utility>

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson15 {

// A session is two tasks and a bounded queue: the reader never waits for a
// write, the writer is the only one who writes, and whoever sends only
// queues, so that a client who does not read costs its own outbox, and
// then its connection, never anyone else's time.

// ---- Task 1: the writer ----------------------------------------------------

awaitable<void> writer(session& s) {
  for (;;) {
    auto [ec, f] = co_await s.out.async_receive(as_tuple(use_awaitable));
    if (ec) break;  // the outbox ended (close) or was closed
    auto [error, n] = co_await asio::async_write(s.socket, asio::buffer(*f),
                                                 as_tuple(use_awaitable));
    if (error) {
      hang_up(s);
      co_return;
    }
  }
  if (!s.close_frame) co_return;
  auto [error, n] = co_await asio::async_write(
      s.socket, asio::buffer(*s.close_frame), as_tuple(use_awaitable));
  if (error) hang_up(s);
}

// ---- Task 2: a bounded outbox ----------------------------------------------

bool send(session& s, frame f) {
  if (s.closing()) return false;
  if (s.out.try_send(asio::error_code{}, std::move(f))) return true;
  close(s, ws::code::policy_violation, "too slow: your outbox is full");
  return false;
}

// ---- Task 3: the reader, and a session ---------------------------------

awaitable<void> reader(session& s) {
  for (;;) {
    auto e = s.decoder.next(s.in);
    switch (e.what) {
      case ws::kind::none:
        if (!co_await read_more(s)) {
          hang_up(s);
          co_return;
        }
        break;
      case ws::kind::text:
      case ws::kind::binary:
        if (!s.closing()) co_await s.on_message(s, std::move(e));
        break;
      case ws::kind::ping:
        send(s, wsapp::make_frame(ws::opcode::pong, e.data));
        break;
      case ws::kind::pong:
        s.last_pong = tut::now();
        break;
      case ws::kind::close:
        close(s, e.code);  // the answer, unless the server closed first
        co_return;
      case ws::kind::error:
        close(s, e.code, e.data);
        co_return;
    }
  }
}

awaitable<void> echo_message(session& s, ws::event e) {
  auto op = e.what == ws::kind::text ? ws::opcode::text : ws::opcode::binary;
  send(s, wsapp::make_frame(op, e.data));
  co_return;
}

awaitable<void> run_session(session& s) {
  co_await ((reader(s) && writer(s) && keepalive(s)) || closing_deadline(s));
}

// ---- Task 4: the chat room ---------------------------------------------

awaitable<void> chat_message(room& r, session& from, ws::event e) {
  auto op = e.what == ws::kind::text ? ws::opcode::text : ws::opcode::binary;
  auto f = wsapp::make_frame(op, e.data);  // encoded once, for everyone
  for (auto* member : r.members) send(*member, f);
  co_return;
}

// ---- Task 5: keep-alive ------------------------------------------------

awaitable<void> keepalive(session& s) {
  while (!s.closing()) {
    co_await (tut::sleep(s.cfg.ping_interval) || closing(s));
    if (s.closing()) break;
    auto pinged = tut::now();
    send(s, wsapp::make_frame(ws::opcode::ping, "keep-alive"));
    co_await (tut::sleep(s.cfg.pong_timeout) || closing(s));
    if (!s.closing() && s.last_pong < pinged)
      close(s, ws::code::internal_error, "no pong: keep-alive timed out");
  }
}

// ---- Task 6: the close handshake -----------------------------------------

awaitable<void> closing_deadline(session& s) {
  co_await closing(s);
  co_await tut::sleep(s.cfg.close_timeout);
}

// ---- Task 7: shutdown -----------------------------------------------------

awaitable<void> shut_down(app& a) {
  a.srv->stopping = true;
  asio::error_code ignored;
  a.srv->acceptor.close(ignored);
  web::close_idle_connections(*a.srv);
  for (auto* s : a.sessions) close(*s, ws::code::going_away, "the server is shutting down");
  auto ended = co_await (web::connections_closed(*a.srv) ||
                         tut::sleep(a.cfg.shutdown_deadline));
  if (ended.index() == 1) {
    web::close_connections(*a.srv);
    co_await web::connections_closed(*a.srv);
  }
}

}  // namespace lesson15
