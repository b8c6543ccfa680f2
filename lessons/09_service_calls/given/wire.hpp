// Lesson 09, given: HTTP/1.1 over a TCP socket, on Asio coroutines. The
// client of the lesson (exercise.cpp) sends its requests with these: open a
// connection, write a request, read the response (a Content-Length body, a
// chunked one, or one that ends when the server closes) and say whether
// the connection can carry another. Read it once; the tasks are in
// exercise.cpp.
#pragma once

#include "tut/tut.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace wire {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;

// What a server answered.
struct response {
  int status = 0;                              // 200, 404, 500, ...
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// The server's answer is not HTTP/1.1.
class bad_response : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// http://host:port/path, taken apart.
struct target {
  std::string host;
  std::string port;
  std::string path;
  std::string key() const { return host + ":" + port; }
};

inline target parse_url(std::string_view url) {
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
inline constexpr std::size_t max_line = 64 * 1024;
inline constexpr std::size_t max_body = 64 * 1024 * 1024;

// A few characters of what the server sent, printable, for error messages.
inline std::string shown(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, 40)) {
    auto c = static_cast<unsigned char>(ch);
    out += std::isprint(c) ? std::string(1, ch) : fmt::format("\\x{:02x}", c);
  }
  return text.size() > 40 ? out + "..." : out;
}

inline awaitable<std::shared_ptr<connection>> open_connection(target t) {
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

inline awaitable<void> write_request(connection& c, const std::string& method,
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
inline awaitable<std::string> read_line(connection& c, const target& t,
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
inline awaitable<void> fill(connection& c, const target& t, std::size_t n) {
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
inline std::optional<int> parse_status_line(std::string_view line, bool& http11) {
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

inline std::string lower(std::string s) {
  for (auto& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Transfer-Encoding: chunked. Each chunk is its size in hex on a line,
// then that many bytes and a CRLF; a chunk of size 0 ends the body.
inline awaitable<std::string> read_chunked_body(connection& c, const target& t) {
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
inline awaitable<response> read_response(connection& c, const target& t,
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
inline awaitable<response> exchange(connection& c, std::string method, target t,
                             std::string body) {
  co_await write_request(c, method, t, body);
  co_return co_await read_response(c, t, method);
}

}  // namespace wire
