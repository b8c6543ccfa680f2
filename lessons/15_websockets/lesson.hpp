// Lesson 15's interface: the functions your exercise.cpp defines (and the
// reference solution too), and serve(), given in given/app.cpp, which the
// tests start. The tests talk to the server as any WebSocket client does,
// over sockets on 127.0.0.1, and call the session's tasks on sessions of
// their own.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson15) and once for the reference, renamed to
// lesson15_reference, so both can run side by side.
#include "given/session.hpp"
#include "tut/tut.hpp"

namespace lesson15 {

// The state your tasks work on, given in given/session.hpp: a session per
// client, the room, the app, and the helpers close(), hang_up(),
// closing() and read_more().
namespace http = common::http;
namespace web = common::web;
using asio::ip::tcp;
using wsapp::app;
using wsapp::frame;
using wsapp::room;
using wsapp::session;

// Task 1. The session's writer task: writes the frames of s.out to the
// socket one after another, each whole, until the outbox ends; then the
// close frame, if close() made one. A write that fails means the client
// has gone: the session hangs up (hang_up).
asio::awaitable<void> writer(session& s);

// Task 2. Queues `f` for the writer without waiting. False when it was not
// queued: the session is closing, or its outbox is full, and then the
// client is not reading: the session is closed with 1008 (policy
// violation).
bool send(session& s, frame f);

// Task 3 (task 5: pongs; task 6: close frames and protocol errors). The
// session's reader task: decodes what the client sends; hands each message
// to s.on_message (not once the session is closing); answers a ping with a
// pong; ends when the client's connection does.
asio::awaitable<void> reader(session& s);

// Task 3. The echo endpoint (GET /echo): each message goes back as it came,
// text as text, binary as binary.
asio::awaitable<void> echo_message(session& s, ws::event e);

// Tasks 3, 5 and 6. A session: its reader and writer side by side (task 3)
// and its keep-alive (task 5), and once it is closing, no longer than
// cfg.close_timeout (task 6). Cancelled while it waits, it throws
// operation_aborted once its tasks have ended.
asio::awaitable<void> run_session(session& s);

// Task 4. The chat room (GET /chat): a message from `from` goes to every
// member of `r`, `from` too, without waiting for any of them.
asio::awaitable<void> chat_message(room& r, session& from, ws::event e);

// Task 5. Pings the client every cfg.ping_interval; a client that sends no
// pong within cfg.pong_timeout of a ping is closed with 1011. Returns once
// the session is closing.
asio::awaitable<void> keepalive(session& s);

// Task 6. Returns cfg.close_timeout after the session started closing.
asio::awaitable<void> closing_deadline(session& s);

// Task 7. Shutdown: no new connection; every session closed with 1001
// (going away); returns once every connection has ended, or, at
// cfg.shutdown_deadline, after cutting off what is left.
asio::awaitable<void> shut_down(app& a);

// Given. Serves GET / (a page that chats), GET /echo and GET /chat on
// cfg.server's address and port (port 0: any free port, reported in
// stats.port once listening) until SIGINT or SIGTERM, then shuts down
// (shut_down) and returns. Cancelled, it shuts down the same way and then
// throws operation_aborted.
asio::awaitable<void> serve(wsapp::config cfg, wsapp::stats& stats);

}  // namespace lesson15
