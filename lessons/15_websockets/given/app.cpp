// Lesson 15, given: the server around your tasks: its routes (the page, the
// echo endpoint, the chat room), the upgrade of a request to a WebSocket
// session, the TCP close after it, and serve(). Compiled once, beside your
// exercise.cpp, so that saving it recompiles only your code.
#include "lesson.hpp"

#include "common/serve.hpp"
#include "given/handshake.hpp"
#include "given/page.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson15 {

namespace {

using ctx_t = web::request_context;

// After a session, the TCP close, politely: the server's side first
// (shutdown: the client reads the end of the stream after the close
// frame), then what the client still sends is read and dropped until it
// closes its side, for cfg.close_timeout at most. Closing a socket that
// has unread bytes resets the connection, and a reset can destroy the
// close frame before the client has read it.
awaitable<void> linger(session& s) {
  asio::error_code ignored;
  s.socket.shutdown(tcp::socket::shutdown_send, ignored);
  if (s.gone) co_return;
  auto drain = [&s]() -> awaitable<void> {
    char sink[4096];
    for (;;) {
      auto [ec, n] = co_await s.socket.async_read_some(asio::buffer(sink),
                                                       as_tuple(use_awaitable));
      if (ec) co_return;
    }
  };
  co_await (drain() || tut::sleep(s.cfg.close_timeout));
}

// GET /echo and GET /chat: the handshake, then the connection is a
// session's (door 2 of lessons/common/server.hpp) until run_session ends.
awaitable<http::response> websocket(app& a, ctx_t& ctx, session::handler on_message,
                                    room* in_room) {
  auto up = ws::accept_upgrade(ctx.request());
  if (!up.accepted) co_return std::move(up.reply);
  auto keep = a.shared_from_this();  // the app outlives the session
  co_await ctx.take_over(up.reply);
  // After each message the others get a turn, as they would at an await
  // in asyncio: one read can bring many messages, and without a pause the
  // writers would run only after the last of them, each outbox holding the
  // whole burst.
  auto handed_on = [h = std::move(on_message)](session& s,
                                               ws::event e) -> awaitable<void> {
    ++s.st.messages;
    co_await h(s, std::move(e));
    co_await tut::yield();
  };
  session s(a.cfg, a.st, ctx.socket(), std::move(ctx.leftover()), handed_on);
  wsapp::enrolment listed(a.sessions, s);
  std::optional<wsapp::enrolment> member;
  if (in_room) member.emplace(in_room->members, s, &a.st.members);
  if (a.srv->stopping) close(s, ws::code::going_away, "the server is shutting down");

  std::exception_ptr failure;
  try {
    co_await run_session(s);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    // Cancelled (the shutdown deadline): let it end the connection. Any
    // other error: the client has gone, or the session broke; either way
    // there is nothing left to say.
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      std::rethrow_exception(failure);
    co_return http::response{};
  }
  co_await linger(s);
  co_return http::response{};  // unused: the connection was taken over
}

std::vector<web::route> routes(app& a) {
  return {
      {"GET", "/",
       [](ctx_t&) -> awaitable<http::response> {
         co_return http::response{200, std::string(wsapp::chat_page),
                                  "text/html; charset=utf-8", {}, false};
       }},
      {"GET", "/echo",
       [&a](ctx_t& ctx) { return websocket(a, ctx, echo_message, nullptr); }},
      {"GET", "/chat",
       [&a](ctx_t& ctx) {
         auto to_room = [&a](session& s, ws::event e) {
           return chat_message(a.chat, s, std::move(e));
         };
         return websocket(a, ctx, to_room, &a.chat);
       }},
  };
}

}  // namespace

awaitable<void> serve(wsapp::config cfg, wsapp::stats& stats) {
  auto ex = co_await asio::this_coro::executor;
  auto a = std::make_shared<app>(ex, std::move(cfg), stats, routes);
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  co_await (web::keep_listening(*a->srv, web::listener) ||
            signals.async_wait(as_tuple(use_awaitable)));
  auto state = co_await asio::this_coro::cancellation_state;
  bool cancelled = state.cancelled() != asio::cancellation_type::none;
  co_await asio::this_coro::reset_cancellation_state();
  co_await shut_down(*a);
  // What shut_down left running is cut off here: the app's state must
  // outlive every session that uses it.
  web::close_connections(*a->srv);
  co_await web::connections_closed(*a->srv);
  if (cancelled) throw asio::system_error(asio::error::operation_aborted, "serve");
}

}  // namespace lesson15
