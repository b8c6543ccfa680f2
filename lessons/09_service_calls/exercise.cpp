// Lesson 09: calls to other services. A web handler rarely works alone: it
// asks a user service, an orders service, a notifications service, and
// each call waits on the network. Awaited one after another, three calls
// of 200 ms take 600 ms; started together, 200 ms. This file has an
// HTTP/1.1 client written on Asio (given, to read), then the four things
// that make service calls behave: connections kept open, a timeout per
// request, calls made at once with a partial result when one fails, and a
// fan-out that never has more than a few calls in flight.
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each one as
// you save.
#include "lesson.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson09 {

// ---------------------------------------------------------------------
// Given: HTTP/1.1 over a TCP socket. Read it once; the tasks start below.
// ---------------------------------------------------------------------

// http://host:port/path, taken apart.
struct target {
  std::string host;
  std::string port;
  std::string path;
  std::string key() const { return host + ":" + port; }
};

target parse_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme))
    throw std::invalid_argument(fmt::format("not an http:// url: {}", url));
  url.remove_prefix(scheme.size());
  auto slash = url.find('/');
  auto authority = url.substr(0, slash);
  target t;
  t.path = slash == url.npos ? "/" : std::string(url.substr(slash));
  auto colon = authority.rfind(':');
  t.host = std::string(authority.substr(0, colon));
  t.port = colon == authority.npos ? "80"
                                   : std::string(authority.substr(colon + 1));
  if (t.host.empty() || t.port.empty())
    throw std::invalid_argument(fmt::format("no host:port in {}", url));
  return t;
}

// One TCP connection to a server. `buffer` holds what was read past the
// end of the last line or body: with keep-alive, the next response may
// already have begun. `reusable` says whether the last response left the
// connection fit for another request.
struct connection {
  explicit connection(asio::any_io_executor ex) : socket(ex) {}
  asio::ip::tcp::socket socket;
  std::string buffer;
  bool reusable = false;
};

// Longest status line or header we accept, and longest body.
constexpr std::size_t max_line = 64 * 1024;
constexpr std::size_t max_body = 64 * 1024 * 1024;

// A few characters of what the server sent, printable, for error messages.
std::string shown(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, 40)) {
    auto c = static_cast<unsigned char>(ch);
    out += std::isprint(c) ? std::string(1, ch) : fmt::format("\\x{:02x}", c);
  }
  return text.size() > 40 ? out + "..." : out;
}

awaitable<std::shared_ptr<connection>> open_connection(target t) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [resolve_error, endpoints] = co_await resolver.async_resolve(
      t.host, t.port, as_tuple(use_awaitable));
  if (resolve_error)
    throw asio::system_error(resolve_error, "resolve " + t.key());
  auto c = std::make_shared<connection>(ex);
  auto [connect_error, endpoint] = co_await asio::async_connect(
      c->socket, endpoints, as_tuple(use_awaitable));
  if (connect_error)
    throw asio::system_error(connect_error, "connect to " + t.key());
  c->socket.set_option(asio::ip::tcp::no_delay(true));
  co_return c;
}

awaitable<void> write_request(connection& c, const std::string& method,
                              const target& t, const std::string& body) {
  auto head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", method, t.path,
                          t.key());
  if (!body.empty() || method == "POST" || method == "PUT")
    head += fmt::format(
        "Content-Type: text/plain\r\nContent-Length: {}\r\n", body.size());
  head += "\r\n";
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head),
                                            asio::buffer(body)};
  auto [error, written] =
      co_await asio::async_write(c.socket, buffers, as_tuple(use_awaitable));
  if (error) throw asio::system_error(error, "write to " + t.key());
}

// One line, without its CRLF. `what` names it in errors.
awaitable<std::string> read_line(connection& c, const target& t,
                                 std::string_view what) {
  auto [error, n] = co_await asio::async_read_until(
      c.socket, asio::dynamic_buffer(c.buffer, max_line), "\r\n",
      as_tuple(use_awaitable));
  if (error == asio::error::eof) {
    if (c.buffer.empty())
      throw bad_response(fmt::format(
          "{}: the connection closed before {}", t.key(), what));
    if (what == "the status line")
      throw bad_response(fmt::format("{}: malformed status line '{}'",
                                     t.key(), shown(c.buffer)));
    throw bad_response(fmt::format(
        "{}: the connection closed in the middle of {}", t.key(), what));
  }
  if (error == asio::error::not_found)
    throw bad_response(fmt::format("{}: {} is longer than {} bytes", t.key(),
                                   what, max_line));
  if (error) throw asio::system_error(error, "read from " + t.key());
  auto line = c.buffer.substr(0, n - 2);
  c.buffer.erase(0, n);
  co_return line;
}

// Reads until `buffer` holds at least `n` bytes.
awaitable<void> fill(connection& c, const target& t, std::size_t n) {
  if (c.buffer.size() >= n) co_return;
  auto [error, read] = co_await asio::async_read(
      c.socket, asio::dynamic_buffer(c.buffer),
      asio::transfer_exactly(n - c.buffer.size()), as_tuple(use_awaitable));
  if (error == asio::error::eof)
    throw bad_response(fmt::format(
        "{}: the connection closed in the middle of the body", t.key()));
  if (error) throw asio::system_error(error, "read from " + t.key());
}

// "HTTP/1.1 200 OK" -> 200 (the reason phrase may be empty).
std::optional<int> parse_status_line(std::string_view line, bool& http11) {
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
      (line[7] != '0' && line[7] != '1') ||
      (line.size() > 12 && line[12] != ' '))
    return std::nullopt;
  int status = 0;
  auto digits = line.substr(9, 3);
  auto [end, error] =
      std::from_chars(digits.data(), digits.data() + 3, status);
  if (error != std::errc{} || end != digits.data() + 3 || status < 100)
    return std::nullopt;
  http11 = line[7] == '1';
  return status;
}

std::string lower(std::string s) {
  for (auto& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Transfer-Encoding: chunked. Each chunk is its size in hex on a line,
// then that many bytes and a CRLF; a chunk of size 0 ends the body.
awaitable<std::string> read_chunked_body(connection& c, const target& t) {
  std::string body;
  for (;;) {
    auto line = co_await read_line(c, t, "a chunk size");
    auto digits = trim(std::string_view(line).substr(0, line.find(';')));
    std::size_t size = 0;
    auto [end, error] = std::from_chars(
        digits.data(), digits.data() + digits.size(), size, 16);
    if (digits.empty() || error != std::errc{} ||
        end != digits.data() + digits.size())
      throw bad_response(
          fmt::format("{}: bad chunk size '{}'", t.key(), shown(line)));
    if (size == 0) {  // the last chunk; skip any trailer lines
      while (!(co_await read_line(c, t, "the trailers")).empty()) {
      }
      co_return body;
    }
    if (body.size() + size > max_body)
      throw bad_response(fmt::format("{}: the body is too long", t.key()));
    co_await fill(c, t, size + 2);
    if (c.buffer.compare(size, 2, "\r\n") != 0)
      throw bad_response(
          fmt::format("{}: a chunk does not end with CRLF", t.key()));
    body.append(c.buffer, 0, size);
    c.buffer.erase(0, size + 2);
  }
}

// The status line, the headers, then a body delimited one of three ways:
// chunked, Content-Length, or (old style) by the server closing.
awaitable<response> read_response(connection& c, const target& t,
                                  const std::string& method) {
  c.reusable = false;
  response r;
  bool http11 = false;
  auto status_line = co_await read_line(c, t, "the status line");
  auto status = parse_status_line(status_line, http11);
  if (!status)
    throw bad_response(fmt::format("{}: malformed status line '{}'", t.key(),
                                   shown(status_line)));
  r.status = *status;
  for (;;) {
    auto line = co_await read_line(c, t, "the headers");
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == 0 || colon == line.npos)
      throw bad_response(fmt::format("{}: malformed header line '{}'",
                                     t.key(), shown(line)));
    auto name = lower(line.substr(0, colon));
    auto value = std::string(trim(std::string_view(line).substr(colon + 1)));
    auto [it, added] = r.headers.emplace(name, value);
    if (!added) it->second += ", " + value;
  }

  bool ends_at_close = false;
  auto header = [&](const char* name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? std::string() : lower(it->second);
  };
  if (method == "HEAD" || r.status / 100 == 1 || r.status == 204 ||
      r.status == 304) {
    // no body
  } else if (header("transfer-encoding").find("chunked") !=
             std::string::npos) {
    r.body = co_await read_chunked_body(c, t);
  } else if (auto length = header("content-length"); !length.empty()) {
    std::size_t n = 0;
    auto [end, error] =
        std::from_chars(length.data(), length.data() + length.size(), n);
    if (error != std::errc{} || end != length.data() + length.size() ||
        n > max_body)
      throw bad_response(fmt::format("{}: bad Content-Length '{}'", t.key(),
                                     shown(length)));
    co_await fill(c, t, n);
    r.body = c.buffer.substr(0, n);
    c.buffer.erase(0, n);
  } else {
    ends_at_close = true;
    auto [error, n] = co_await asio::async_read(
        c.socket, asio::dynamic_buffer(c.buffer, max_body),
        as_tuple(use_awaitable));
    if (error && error != asio::error::eof)
      throw asio::system_error(error, "read from " + t.key());
    r.body = std::exchange(c.buffer, {});
  }

  // HTTP/1.1 keeps the connection open unless a side says "close";
  // HTTP/1.0 closes it unless the server says "keep-alive".
  auto connection_header = header("connection");
  c.reusable = !ends_at_close &&
               (http11 ? connection_header != "close"
                       : connection_header == "keep-alive");
  co_return r;
}

// One request and its response on an open connection.
awaitable<response> exchange(connection& c, std::string method, target t,
                             std::string body) {
  co_await write_request(c, method, t, body);
  co_return co_await read_response(c, t, method);
}

// What the client keeps between requests: its timeout, and connections
// that finished their last exchange and may carry another one, by
// host:port.
struct http_client::state {
  tut::clock::duration timeout;
  std::map<std::string, std::vector<std::shared_ptr<connection>>> idle;
};

// ---------------------------------------------------------------------
// Task 1: keep-alive. Opening a TCP connection costs a round trip (and,
// with TLS, two more); HTTP/1.1 lets one connection carry request after
// request. A connection carries one exchange at a time, so a request
// takes it out of the pool and puts it back only when its response has
// been read to the end.
// ---------------------------------------------------------------------
awaitable<response> send_on_pool(std::shared_ptr<http_client::state> s,
                                 std::string method, target t,
                                 std::string body) {
  // TODO: before opening a connection, look in the pool:
  // `auto& idle = s->idle[t.key()];` when it is not empty, take its last
  // connection out (`std::move(idle.back())`, then `idle.pop_back()`).
  auto c = co_await open_connection(t);
  auto reply = co_await exchange(*c, method, t, std::move(body));
  // TODO: when the response left the connection fit for more
  // (`c->reusable`), put it back: `s->idle[t.key()].push_back(...)`.
  co_return reply;
}

// ---------------------------------------------------------------------
// Task 2: a timeout per request (httpx.AsyncClient(timeout=...)). Race
// the request against a timer, as in lesson 07: `||` waits for the first
// *success*, so spawn the request with as_tuple, which turns its error
// into a value: a refused connection is reported at once, as refused.
// ---------------------------------------------------------------------
awaitable<response> send_with_timeout(std::shared_ptr<http_client::state> s,
                                      std::string method, target t,
                                      std::string body) {
  auto what = fmt::format("{} http://{}{}", method, t.key(), t.path);
  // TODO: this waits as long as the service likes. Spawn the request on
  // this coroutine's executor (`co_await asio::this_coro::executor`):
  // `auto work = co_spawn(ex, send_on_pool(...), as_tuple(use_awaitable));`
  // and race it: `co_await (std::move(work) || tut::sleep(s->timeout))`.
  // When the timer wins (index 1), throw
  // `asio::system_error(asio::error::timed_out, what)`; otherwise rethrow
  // the request's error, if any, or return its response.
  co_return co_await send_on_pool(s, std::move(method), std::move(t),
                                  std::move(body));
}

// Given: the client's public face. Each request is a row on the timeline.
http_client::http_client(tut::clock::duration timeout)
    : state_(std::make_shared<state>(state{timeout, {}})) {}

awaitable<response> http_client::get(std::string url) {
  return request("GET", std::move(url), "");
}

awaitable<response> http_client::post(std::string url, std::string body) {
  return request("POST", std::move(url), std::move(body));
}

awaitable<response> http_client::request(std::string method,
                                         std::string url, std::string body) {
  auto t = parse_url(url);
  auto name = method + " " + t.path;
  return tut::traced(std::move(name),
                     send_with_timeout(state_, std::move(method),
                                       std::move(t), std::move(body)));
}

// Given: GET a url; a status other than 2xx is an error.
awaitable<std::string> fetch_text(http_client& client, std::string url) {
  auto reply = co_await client.get(url);
  if (reply.status / 100 != 2)
    throw upstream_error(fmt::format("GET {}: status {}", url, reply.status));
  co_return std::move(reply.body);
}

// Task 4, below: one optional section of the dashboard.
awaitable<section> fetch_optional(http_client& client, std::string url);

// ---------------------------------------------------------------------
// Task 3: the dashboard, its three calls at once. `a && b && c` starts
// all three, waits for all of them and gives their results as a tuple in
// the order written, whatever order the replies arrive in. When one
// throws, the others are cancelled and the error comes out.
// ---------------------------------------------------------------------
awaitable<dashboard> load_dashboard(http_client& client, service_urls urls) {
  // TODO: these calls run one after the other: three calls of 200 ms
  // take 600 ms. Start all three at once: `co_await (a && b && c)` gives
  // `auto [user, orders, notifications]`.
  auto user = co_await fetch_text(client, urls.user);
  auto orders = co_await fetch_optional(client, urls.orders);
  auto notifications = co_await fetch_optional(client, urls.notifications);
  co_return dashboard{std::move(user), std::move(orders),
                      std::move(notifications)};
}

// ---------------------------------------------------------------------
// Task 4: an optional section. Whatever goes wrong with this service
// (a refused connection, a timeout, a status 500) becomes a value that
// says why the section is missing, so the rest of the page still shows.
// ---------------------------------------------------------------------
awaitable<section> fetch_optional(http_client& client, std::string url) {
  section s;
  // TODO: a failure here sinks the whole dashboard. Wrap the fetch in
  // `try { ... } catch (const std::exception& e) { ... }` and keep the
  // reason in the section: `s.error = e.what();`
  s.text = co_await fetch_text(client, url);
  co_return s;
}

// ---------------------------------------------------------------------
// Given for task 5: lesson 05's semaphore, in short. At most `permits`
// holders at once; the others wait in line, each on a timer parked at
// time_point::max() that a permit going back cancels to wake it.
// ---------------------------------------------------------------------
class limiter {
public:
  explicit limiter(std::size_t permits)
      : state_(std::make_shared<state>(permits)) {}

  struct waiter {
    explicit waiter(asio::any_io_executor ex)
        : wake(ex, tut::clock::time_point::max()) {}
    tut::timer wake;
    bool granted = false;
  };
  struct state {
    explicit state(std::size_t permits) : free(permits) {}
    std::size_t free;
    std::deque<std::shared_ptr<waiter>> line;
  };
  std::shared_ptr<state> state_;
};

// One permit, given back when it is destroyed (`async with semaphore:`).
class permit {
public:
  permit() = default;
  explicit permit(std::shared_ptr<limiter::state> s) : state_(std::move(s)) {}
  permit(permit&& other) noexcept = default;
  permit& operator=(permit&&) = delete;
  ~permit() {
    if (!state_) return;
    auto& s = *state_;
    if (s.line.empty()) {
      ++s.free;
    } else {  // hand it straight to the first in line
      s.line.front()->granted = true;
      s.line.front()->wake.cancel();
      s.line.pop_front();
    }
  }

private:
  std::shared_ptr<limiter::state> state_;
};

// Waits for a permit of `limit` and returns it.
awaitable<permit> hold(limiter& limit) {
  auto s = limit.state_;
  if (s->free > 0 && s->line.empty()) {
    --s->free;
    co_return permit(s);
  }
  auto me =
      std::make_shared<limiter::waiter>(co_await asio::this_coro::executor);
  s->line.push_back(me);
  co_await me->wake.async_wait(as_tuple(use_awaitable));
  if (!me->granted) {  // cancelled while in line
    std::erase(s->line, me);
    throw asio::system_error(asio::error::operation_aborted, "hold");
  }
  co_return permit(s);
}

// Given for task 5 (lesson 03's gather, for jobs that return nothing):
// runs every job as a task of its own, waits until all have ended, then
// rethrows the first error. Cancelling it cancels the jobs, and it still
// waits for them to end.
awaitable<void> gather(std::vector<awaitable<void>> jobs) {
  struct group {
    group(asio::any_io_executor ex, std::size_t n)
        : all_ended(ex, tut::clock::time_point::max()), cancel(n),
          running(n) {}
    tut::timer all_ended;
    std::vector<asio::cancellation_signal> cancel;
    std::size_t running;
    std::exception_ptr first_error;
  };
  auto ex = co_await asio::this_coro::executor;
  auto g = std::make_shared<group>(ex, jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i)
    co_spawn(ex, std::move(jobs[i]),
             asio::bind_cancellation_slot(
                 g->cancel[i].slot(), [g](std::exception_ptr e) {
                   if (e && !g->first_error) g->first_error = e;
                   if (--g->running == 0) g->all_ended.cancel();
                 }));
  bool cancelled = false;
  while (g->running > 0) {
    co_await g->all_ended.async_wait(as_tuple(use_awaitable));
    auto me = co_await asio::this_coro::cancellation_state;
    if (me.cancelled() != asio::cancellation_type::none && !cancelled) {
      cancelled = true;
      for (auto& signal : g->cancel)
        signal.emit(asio::cancellation_type::terminal);
      co_await asio::this_coro::reset_cancellation_state();
    }
  }
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
  if (g->first_error) std::rethrow_exception(g->first_error);
}

// ---------------------------------------------------------------------
// Task 5: a fan-out with a limit. A page of 100 items must not become
// 100 requests at once to one service: hold a permit for each fetch.
// ---------------------------------------------------------------------
awaitable<void> fetch_into(http_client& client, limiter& limit,
                           std::string url, std::string& body) {
  // TODO: hold a permit of `limit` while fetching:
  // `auto p = co_await hold(limit);` It goes back when `p` is destroyed,
  // however the fetch ends.
  body = co_await fetch_text(client, std::move(url));
}

awaitable<std::vector<std::string>> fetch_all(http_client& client,
                                              std::vector<std::string> urls,
                                              std::size_t limit) {
  limiter in_flight(limit);
  std::vector<std::string> bodies(urls.size());
  // TODO: these fetches run one after the other. Make one
  // `fetch_into(client, in_flight, urls[i], bodies[i])` per url, collect
  // them in a std::vector<awaitable<void>> and run them side by side:
  // `co_await gather(std::move(jobs));`
  for (std::size_t i = 0; i < urls.size(); ++i)
    co_await fetch_into(client, in_flight, urls[i], bodies[i]);
  co_return bodies;
}

}  // namespace lesson09
