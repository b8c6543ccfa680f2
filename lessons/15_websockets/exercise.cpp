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

// ---- Task 1: the writer ----------------------------------------------------

awaitable<void> writer(session& s) {
  // TODO: the writer is the only task that writes to s.socket: everyone
  // else queues frames in s.out, and this loop takes them out one after
  // another (the channel's async_receive, with as_tuple: an error code
  // instead of a frame means the outbox has ended, by close(), or was
  // closed, its frames dropped) and writes each whole: asio::async_write,
  // not async_write_some, which may write part of a frame. After the
  // outbox has ended, write s.close_frame if close() made one. A write
  // that fails means the client has gone: hang_up(s), and return.
  co_return;
}

// ---- Task 2: a bounded outbox ----------------------------------------------

bool send(session& s, frame f) {
  // TODO: queue `f` without waiting (the channel's try_send, with an empty
  // asio::error_code before the frame). A closing session (s.closing())
  // takes nothing more. A full outbox means the client is not reading
  // what it is sent: close it with ws::code::policy_violation (close(),
  // which drops what waits) instead of waiting, or queueing elsewhere.
  // True only when the frame was queued.
  return false;
}

// ---- Task 3: the reader, and a session ---------------------------------

awaitable<void> reader(session& s) {
  // TODO (task 3): a loop over what the client sends. s.decoder.next(s.in)
  // takes the next event from the bytes read so far: ws::kind::none means
  // read more (read_more(s); false: the client's connection has ended,
  // so hang_up(s) and return); a text or binary message goes to
  // s.on_message (co_await it), unless the session is closing; a ping is
  // answered with a pong frame holding the ping's data
  // (wsapp::make_frame, through send). Until task 6, end on a close or an
  // error event with hang_up(s): the decoder repeats an error forever, so
  // a loop that skips it never waits again.
  // TODO (task 5): a pong says the client is alive: note when it came, in
  // s.last_pong (tut::now()).
  // TODO (task 6): a close frame from the client is answered with a close
  // frame of the same code (close(s, e.code)), which ends the session
  // once the writer has sent it: return. An error event (a malformed
  // frame, text that is not UTF-8, a message too big) closes with the
  // code the decoder gives (e.code, e.data: the reason), and returns too.
  co_return;
}

awaitable<void> echo_message(session& s, ws::event e) {
  // TODO: the echo endpoint: the message goes back as it came, text as
  // text, binary as binary (wsapp::make_frame, then send).
  co_return;
}

awaitable<void> run_session(session& s) {
  // TODO (task 3): run the reader and the writer side by side: the &&
  // operator, which ends when both have ended.
  // TODO (task 5): the keep-alive runs beside them (&& again).
  // TODO (task 6): a session that is closing ends within close_timeout,
  // whatever the client does: race the three against closing_deadline
  // with the || operator.
  co_return;
}

// ---- Task 4: the chat room ---------------------------------------------

awaitable<void> chat_message(room& r, session& from, ws::event e) {
  // TODO: every member of r.members hears the message, `from` too, in the
  // kind it came (text or binary). Encode it once (wsapp::make_frame: the
  // frame is shared) and queue it for each member with send, which never
  // waits: a member who does not read must not hold up the others.
  co_return;
}

// ---- Task 5: keep-alive ------------------------------------------------

awaitable<void> keepalive(session& s) {
  // TODO: until the session is closing: wait cfg.ping_interval, send a
  // ping (a ping frame through send), wait cfg.pong_timeout, and if no
  // pong has come since the ping (s.last_pong), close the session with
  // ws::code::internal_error. Each wait must end as soon as the session
  // starts closing: race it against closing(s) with the || operator.
  co_return;
}

// ---- Task 6: the close handshake -----------------------------------------

awaitable<void> closing_deadline(session& s) {
  // TODO: return cfg.close_timeout after the session started closing:
  // wait for closing(s), then sleep (tut::sleep). run_session races this
  // against its tasks, so that a client that never answers the server's
  // close frame, or never reads it, cannot keep its session forever.
  co_await tut::sleep(std::chrono::hours(24));  // a placeholder: never first
}

// ---- Task 7: shutdown -----------------------------------------------------

awaitable<void> shut_down(app& a) {
  // TODO: take no new connection: mark the server as stopping
  // (a.srv->stopping), close its acceptor, end the idle HTTP connections
  // (web::close_idle_connections). Then close every session (a.sessions)
  // with ws::code::going_away: each client gets a close frame, answers,
  // and its session ends. Wait for the connections to end
  // (web::connections_closed), raced against cfg.shutdown_deadline with
  // the || operator; if the deadline wins, cut off what is left
  // (web::close_connections) and wait for it.
  co_return;
}

}  // namespace lesson15
