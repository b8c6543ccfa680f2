// HTTP/1.1 as pure functions over bytes: text in, text out, no sockets, no
// coroutines. Given in lessons 09 (the client side) and 10 (the server
// side); the course fuzzes both parsers (scripts/fuzz).
//
// The server side:
//   auto r = http::parse_request(buffer, limits);
//   r.status: complete (the head is all there: r.req; the whole request is
//             r.consumed bytes, its body maybe still on its way),
//             incomplete (read more bytes), or error (r.error_status: 400,
//             413, 417, 431, 501 or 505; r.reason)
//   http::write_head(out, response, keep_alive, minor_version)
// The client side:
//   http::write_request(out, "GET", url, body)
//   auto r = http::parse_response(buffer, at_eof, head_request);
//
// The request parser is strict where leniency lets requests be smuggled or
// misread: lines end in CRLF, no folded headers, no spaces before the colon,
// one Content-Length of plain digits, no Transfer-Encoding (the course's
// servers do not read chunked bodies: 501), exactly one Host in HTTP/1.1.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace common::http {

enum class parse_status { complete, incomplete, error };

// ---- The server side: requests in ----------------------------------------

struct limits {
  std::size_t max_head = 8 * 1024;     // request line and headers: else 431
  std::size_t max_body = 1024 * 1024;  // Content-Length: else 413
  std::size_t max_headers = 64;        // header lines: else 431
};

// A parsed request head. Every view points into the bytes given to the
// parser.
struct request {
  std::string_view method;   // "GET"
  std::string_view target;   // "/sleep?ms=100" (or "http://host/sleep?...")
  std::string_view path;     // "/sleep"
  std::string_view query;    // "ms=100"
  int minor_version = 1;     // HTTP/1.<minor_version>
  std::string_view headers;  // the header lines, each ending in CRLF
  std::size_t content_length = 0;  // the body's length, from its header
  // The body, when all of it was in the bytes parsed; else empty (see
  // body_complete).
  std::string_view body;
  bool keep_alive = true;        // the client wants the connection kept
  bool expects_continue = false;  // "Expect: 100-continue"

  bool body_complete() const { return body.size() == content_length; }
  // The value of the first header called `name` (any case), or "".
  std::string_view header(std::string_view name) const;
};

struct parse_result {
  parse_status status = parse_status::incomplete;
  request req;                // when complete
  std::size_t head_size = 0;  // when complete: the request line and headers
  std::size_t consumed = 0;   // when complete: head_size + Content-Length
  int error_status = 0;       // when error: the status to answer with
  std::string_view reason;    // when error: what was wrong
};

// One request from the front of `bytes`; what follows it (a pipelined next
// request) is left alone. Complete as soon as the head is: a server may
// turn a request away before its body has come (413, 401), and must not
// ask for the body of a client that expects "100 Continue" before it has
// said so. Errors are found as early as the bytes allow: a bad request line
// is rejected before its headers arrive.
parse_result parse_request(std::string_view bytes, const limits& lim = {});

// ---- The server side: responses out --------------------------------------

struct response {
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::string extra_headers;  // whole lines, each ending in CRLF
  // The body goes in chunks (Transfer-Encoding: chunked) written after the
  // head, instead of `body` with a Content-Length.
  bool chunked = false;
};

std::string_view reason_phrase(int status);

// Appends the status line and the headers of `res` to `out`; the body goes
// after them, unchanged (a reply to HEAD sends the same head, no body).
// `keep_alive` is whether the server keeps the connection: if not, the head
// says "Connection: close"; if it does and the request was HTTP/1.0
// (`request_minor` 0), it says "Connection: keep-alive", since 1.0 closes
// by default.
void write_head(std::string& out, const response& res, bool keep_alive,
                int request_minor = 1);

// JSON answers: json(200, R"({"hello": "Asyncio"})").
inline response json(int status, std::string body) {
  return response{status, std::move(body), "application/json", {}, false};
}
std::string json_escape(std::string_view text);
response json_error(int status, std::string_view message);

// ---- URLs and queries -----------------------------------------------------

// http://host:port/path?query, taken apart.
struct url {
  std::string host;
  std::string port;    // "80" when the url names none
  std::string target;  // "/path?query"
  std::string key() const { return host + ":" + port; }
};

// Throws std::invalid_argument for anything but http://host[:port][/...].
url parse_url(std::string_view text);

// The value of `key` in a query string ("ms=100&name=a%20b"), percent-
// decoded ('+' is a space). Empty when absent or badly encoded.
std::optional<std::string> query_value(std::string_view query,
                                       std::string_view key);

// A whole number written in plain decimal digits ("100"), or empty.
std::optional<long> to_number(std::string_view text);

// ---- The client side: requests out, responses in -------------------------

// Appends a request for `u` to `out`: its line, Host, and for a body (or a
// POST or PUT) Content-Type text/plain and Content-Length; then the body.
void write_request(std::string& out, std::string_view method, const url& u,
                   std::string_view body);

// What a server answered.
struct received {
  int status = 0;                              // 200, 404, 500, ...
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& name) const;
};

struct response_parse {
  parse_status status = parse_status::incomplete;
  received res;              // when complete
  std::size_t consumed = 0;  // when complete: bytes of this response
  bool reusable = false;     // when complete: the connection can carry more
  std::string_view reason;   // when error: what was wrong
  std::string shown;         // when error: the bytes at fault, printable
  // When incomplete: the whole response needs at least this many bytes
  // (0: unknown), so a reader can ask for them at once.
  std::size_t need = 0;
};

inline constexpr std::size_t max_line = 64 * 1024;  // a status or header line
inline constexpr std::size_t max_response_body = 64 * 1024 * 1024;

// One response from the front of `bytes`: its body sized by Content-Length,
// sent in chunks, or (old style) ended by the server closing the connection:
// pass `at_eof` once it has closed. A response to HEAD (`head_request`), a
// 1xx, 204 or 304 has no body.
response_parse parse_response(std::string_view bytes, bool at_eof,
                              bool head_request = false,
                              std::size_t max_body = max_response_body);

// The server's answer is not HTTP/1.1.
class bad_response : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// A few characters of `text`, printable, for error messages.
std::string printable(std::string_view text, std::size_t at_most = 40);

// ---- Small pieces both sides use ------------------------------------------

bool iequals(std::string_view a, std::string_view b);
// Does the comma-separated list `value` hold `token` (any case)?
bool has_token(std::string_view value, std::string_view token);
// Looks `name` up in a block of "Name: value\r\n" lines.
std::string_view find_header(std::string_view block, std::string_view name);

inline std::string_view request::header(std::string_view name) const {
  return find_header(headers, name);
}

}  // namespace common::http
