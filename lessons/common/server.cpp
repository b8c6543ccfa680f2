// The server core given in lesson 10 (server.hpp), written once for lessons
// 10 and 11.
#include "common/server.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <exception>
#include <iterator>
#include <optional>

namespace common::web {

using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace {

void raise_peak(std::atomic<int>& peak, int now) {
  int seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}

// Wakes whoever waits for a connection to end.
void wake(server& srv) { srv.changed.cancel(); }

// The watchdog ends `c` as soon as it looks; cancel() makes it look now. A
// connection waiting for a request stops waiting at once.
void expire(connection& c) {
  asio::error_code ignored;
  c.deadline = tut::clock::time_point::min();
  c.timer.cancel();
  if (c.idle) c.socket.cancel(ignored);
}

// Does `path` fit `pattern`? A {name} in the pattern matches one non-empty
// segment, which goes to `param`.
bool path_matches(std::string_view pattern, std::string_view path,
                  std::string_view& param) {
  auto open = pattern.find('{');
  if (open == std::string_view::npos) return pattern == path;
  auto close = pattern.find('}', open);
  if (close == std::string_view::npos) return false;
  auto before = pattern.substr(0, open), after = pattern.substr(close + 1);
  if (!path.starts_with(before)) return false;
  auto rest = path.substr(before.size());
  auto end = std::min(rest.find('/'), rest.size());
  if (end == 0 || rest.substr(end) != after) return false;
  param = rest.substr(0, end);
  return true;
}

// The methods of RFC 9110, and PATCH. Any other gets 501 (RFC 9110,
// 15.6.2); a known one a resource does not allow, 405 with Allow.
bool known_method(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE",
                                 "CONNECT", "OPTIONS", "TRACE", "PATCH"})
    if (m == known) return true;
  return false;
}

struct route_match {
  const route* found = nullptr;
  std::string_view param;
  http::response refusal;  // when nothing was found: 404, 405 or 501
};

route_match find_route(const server& srv, std::string_view method,
                       std::string_view path) {
  route_match m;
  // A GET route answers HEAD: the same head, no body.
  auto as = method == "HEAD" ? std::string_view("GET") : method;
  std::string allow;
  for (const auto& r : srv.routes) {
    std::string_view param;
    if (!path_matches(r.pattern, path, param)) continue;
    if (r.method == as) {
      m.found = &r;
      m.param = param;
      return m;
    }
    if (allow.find(r.method) == std::string::npos) {
      if (!allow.empty()) allow += ", ";
      allow += r.method;
      if (r.method == "GET") allow += ", HEAD";
    }
  }
  if (method == "OPTIONS" && (path == "*" || !allow.empty())) {
    // What the path (or, for *, the server) takes (RFC 9110, 9.3.7).
    if (path == "*")
      for (const auto& r : srv.routes)
        if (allow.find(r.method) == std::string::npos) {
          if (!allow.empty()) allow += ", ";
          allow += r.method;
          if (r.method == "GET") allow += ", HEAD";
        }
    m.refusal = http::response();
    m.refusal.status = 204;
    m.refusal.extra_headers = "Allow: " + allow + "\r\n";
  } else if (!known_method(method)) {
    m.refusal = http::json_error(501, "unknown method");
  } else if (allow.empty()) {
    m.refusal = http::json_error(404, "not found");
  } else {
    m.refusal = http::json_error(405, "method not allowed");
    m.refusal.extra_headers = "Allow: " + allow + "\r\n";
  }
  return m;
}

// Counts a request as in flight from its head to its reply.
struct in_flight {
  server_stats& stats;
  explicit in_flight(server_stats& s) : stats(s) {
    raise_peak(stats.peak_in_flight, ++stats.in_flight);
  }
  ~in_flight() {
    --stats.in_flight;
    ++stats.requests;
  }
};

}  // namespace

// ---- The server and its connections ---------------------------------------

server::server(asio::any_io_executor ex, config c, server_stats& s,
               std::vector<route> r)
    : cfg(std::move(c)),
      stats(s),
      executor(ex),
      acceptor(ex),
      routes(std::move(r)),
      changed(ex, tut::clock::time_point::max()) {
  tcp::endpoint at(asio::ip::make_address(cfg.address), cfg.port);
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  stats.port = acceptor.local_endpoint().port();
}

connection::connection(server& s, tcp::socket sock)
    : srv(s.shared_from_this()),
      socket(std::move(sock)),
      timer(socket.get_executor()) {
  asio::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  srv->connections.push_front(this);
  self = srv->connections.begin();
  raise_peak(srv->stats.peak_connections, ++srv->stats.connections);
}

connection::~connection() {
  srv->connections.erase(self);
  --srv->stats.connections;
  wake(*srv);
}

// ---- Reading requests and answering them ----------------------------------

awaitable<bool> read_more(server& srv, connection& c) {
  if (c.buffer.empty()) {
    if (srv.stopping) co_return false;
    if (c.buffer.capacity() > 64 * 1024) std::string().swap(c.buffer);
    c.deadline = tut::now() + srv.cfg.idle_timeout;
  }
  c.idle = c.buffer.empty();
  std::size_t had = c.buffer.size();
  std::size_t chunk = std::clamp<std::size_t>(had, 1024, 64 * 1024);
  c.buffer.resize(had + chunk);
  auto [ec, n] = co_await c.socket.async_read_some(
      asio::buffer(c.buffer.data() + had, chunk), as_tuple(use_awaitable));
  c.buffer.resize(had + n);
  c.idle = false;
  co_return !ec;
}

awaitable<bool> respond(server& srv, connection& c,
                        const http::parse_result& parsed) {
  if (parsed.status != http::parse_status::complete) {
    // A request parse_request rejected: its status, then the end.
    auto res = http::json_error(parsed.error_status, parsed.reason);
    c.head.clear();
    http::write_head(c.head, res, false);
    c.deadline = tut::now() + srv.cfg.idle_timeout;
    std::array<asio::const_buffer, 2> parts{asio::buffer(c.head),
                                            asio::buffer(res.body)};
    co_await asio::async_write(c.socket, parts, as_tuple(use_awaitable));
    co_return false;
  }
  // What the reply needs of the request, kept now: reading the body may
  // move the buffer its views point into.
  const bool head_only = parsed.req.method == "HEAD";
  const bool client_keeps = parsed.req.keep_alive;
  const int minor = parsed.req.minor_version;

  auto m = find_route(srv, parsed.req.method, parsed.req.path);
  request_context ctx(srv, c, parsed, m.param);
  http::response res;
  ending how = ending::sent;
  std::optional<in_flight> counted;
  if (!m.found) {
    res = std::move(m.refusal);
  } else {
    counted.emplace(srv.stats);
    c.deadline = tut::clock::time_point::max();  // no hurry while it works
    std::exception_ptr failure;
    try {
      res = co_await m.found->run(ctx);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Cancelled (by the watchdog, or at shutdown): let it end this
      // coroutine. The client gone: nothing more to say. Else a 500.
      auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none)
        std::rethrow_exception(failure);
      if (ctx.gone_) {
        ctx.finish(ending::gone);
        co_return false;
      }
      res = http::json_error(500, "internal error");
      how = ending::failed;
    }
  }

  if (ctx.taken_) {  // door 2: the handler had the connection; it ends
    ctx.finish(how);
    co_return false;
  }
  // A body the handler did not ask for may still be on its way (or, after
  // "Expect: 100-continue", may never come): the connection ends after this.
  bool keep = client_keeps && !srv.stopping && c.buffer.size() >= ctx.consumed_;
  if (ctx.head_sent_) {  // door 1: the handler wrote its reply
    bool ended = how == ending::sent && !ctx.gone_;
    if (ended && ctx.chunked_ && !head_only)
      ended = co_await ctx.write("0\r\n\r\n");
    ctx.finish(how == ending::failed ? how : ended ? ending::sent : ending::gone);
    co_return ended && keep && ctx.chunked_;
  }
  c.head.clear();
  http::write_head(c.head, res, keep, minor);
  c.deadline = tut::now() + srv.cfg.idle_timeout;  // to take the reply
  bool sent = co_await ctx.write(c.head, head_only ? std::string_view()
                                                    : std::string_view(res.body));
  ctx.finish(sent ? how : ending::gone);
  co_return sent && keep;
}

void turn_away(server& srv, tcp::socket& socket) {
  static const std::string busy = [] {
    auto res = http::json_error(503, "too many connections");
    std::string out;
    http::write_head(out, res, false);
    return out + res.body;
  }();
  asio::error_code ignored;
  socket.write_some(asio::buffer(busy), ignored);  // a new socket has room
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  ++srv.stats.refused;
}

// ---- Running a listener ---------------------------------------------------

awaitable<void> keep_listening(server& srv, listener_fn listener) {
  if (srv.cfg.accept_loop) listener = srv.cfg.accept_loop;
  for (;;) {
    try {
      co_await listener(srv);
      co_return;
    } catch (const asio::system_error& e) {
      if (e.code() == asio::error::operation_aborted || srv.stopping ||
          !srv.acceptor.is_open())
        throw;
    }
    co_await tut::sleep(20ms);
  }
}

awaitable<void> serve_until_cancelled(server& srv, listener_fn listener) {
  std::exception_ptr error;
  try {
    co_await keep_listening(srv, listener);
  } catch (...) {
    error = std::current_exception();
  }
  // Cancelled, or the listener is done: close up, then say how it ended.
  co_await asio::this_coro::reset_cancellation_state();
  srv.stopping = true;
  asio::error_code ignored;
  srv.acceptor.close(ignored);
  close_connections(srv);
  co_await connections_closed(srv);
  if (error) std::rethrow_exception(error);
}

// ---- What shutdown needs --------------------------------------------------

void close_idle_connections(server& srv) {
  for (auto* c : srv.connections)
    if (c->idle) expire(*c);
}

void close_connections(server& srv) {
  for (auto* c : srv.connections) expire(*c);
}

awaitable<void> connections_closed(server& srv) {
  while (!srv.connections.empty()) {
    srv.changed.expires_at(tut::clock::time_point::max());
    co_await srv.changed.async_wait(as_tuple(use_awaitable));
  }
}

// ---- What a handler sees --------------------------------------------------

request_context::request_context(server& s, connection& c,
                                 const http::parse_result& p,
                                 std::string_view param)
    : srv(s),
      conn(c),
      req_(p.req),
      param_(param),
      consumed_(p.consumed),
      request_deadline_(c.deadline) {}

request_context::~request_context() { finish(ending::gone); }

void request_context::finish(ending how) {
  while (!cleanups_.empty()) {
    auto cleanup = std::move(cleanups_.back());
    cleanups_.pop_back();
    try {
      cleanup(how);
    } catch (...) {
      // A cleanup must not throw; there is no one left to tell.
    }
  }
}

void request_context::on_finish(std::function<void(ending)> cleanup) {
  cleanups_.push_back(std::move(cleanup));
}

awaitable<bool> request_context::write(std::string_view a, std::string_view b) {
  std::array<asio::const_buffer, 2> parts{asio::buffer(a.data(), a.size()),
                                          asio::buffer(b.data(), b.size())};
  auto [ec, n] =
      co_await asio::async_write(conn.socket, parts, as_tuple(use_awaitable));
  if (ec) gone_ = true;
  co_return !ec;
}

awaitable<std::string_view> request_context::body() {
  if (req_.body_complete()) co_return req_.body;
  auto& c = conn;
  if (c.buffer.size() < consumed_) {
    if (req_.expects_continue && !continue_sent_) {
      continue_sent_ = true;
      if (!co_await write("HTTP/1.1 100 Continue\r\n\r\n"))
        throw asio::system_error(asio::error::eof, "the client went away");
    }
    // The body must come within the request's time: the watchdog looks
    // again now.
    c.deadline = request_deadline_;
    c.timer.cancel();
    auto had = c.buffer.size();
    c.buffer.resize(consumed_);
    auto [ec, n] = co_await asio::async_read(
        c.socket, asio::buffer(c.buffer.data() + had, consumed_ - had),
        as_tuple(use_awaitable));
    c.buffer.resize(had + n);
    c.deadline = tut::clock::time_point::max();
    if (ec) {
      gone_ = true;
      throw asio::system_error(ec == asio::error::eof ? asio::error::eof : ec,
                               "the client went away before its body came");
    }
  }
  // The head again, on the buffer as it is now, with its body; the route's
  // {name} moves with it.
  auto offset = param_.data() - req_.target.data();
  auto again = http::parse_request(c.buffer, srv.cfg.limits);
  req_ = again.req;
  if (!param_.empty())
    param_ = std::string_view(req_.target.data() + offset, param_.size());
  co_return req_.body;
}

awaitable<void> request_context::send_head(const http::response& head) {
  head_sent_ = true;
  chunked_ = req_.minor_version == 1;
  auto& c = conn;
  auto chunked = head;
  chunked.chunked = true;
  chunked.body.clear();
  c.head.clear();
  http::write_head(c.head, chunked, chunked_ && !srv.stopping, req_.minor_version);
  if (!chunked_) {  // HTTP/1.0 knows no chunks: the body ends with the connection
    auto at = c.head.find("Transfer-Encoding: chunked\r\n");
    c.head.erase(at, std::string_view("Transfer-Encoding: chunked\r\n").size());
  }
  if (!co_await write(c.head))
    throw asio::system_error(asio::error::broken_pipe, "the client went away");
}

awaitable<void> request_context::send(std::string_view piece) {
  if (req_.method == "HEAD" || piece.empty()) co_return;
  bool ok = true;
  if (chunked_) {
    char size[20];
    auto end = fmt::format_to(size, "{:x}\r\n", piece.size());
    std::string framed(size, end);
    framed += piece;
    framed += "\r\n";
    ok = co_await write(framed);
  } else {
    ok = co_await write(piece);
  }
  if (!ok) throw asio::system_error(asio::error::broken_pipe, "the client went away");
}

awaitable<void> request_context::take_over(const http::response& head) {
  taken_ = true;
  head_sent_ = true;
  auto& c = conn;
  c.head.clear();
  http::write_head(c.head, head, true, req_.minor_version);
  if (!co_await write(c.head))
    throw asio::system_error(asio::error::broken_pipe, "the client went away");
  c.buffer.erase(0, std::min(consumed_, c.buffer.size()));
  c.deadline = tut::clock::time_point::max();
}

}  // namespace common::web
