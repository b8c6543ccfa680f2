// Lesson 10, given: HTTP/1.1 as pure functions over bytes. The request
// parser, the router and the response writer take text and give text: no
// sockets, no coroutines, no allocation while parsing. That makes them easy
// to test and to fuzz (the course fuzzes it: scripts/fuzz), and it keeps
// the lesson's exercise about the async parts.
//
//   auto r = http::parse_request(buffer, limits);
//   r.status: complete (r.req, r.consumed), incomplete (read more bytes),
//             error (r.error_status: 400, 413, 431, 501 or 505; r.reason)
//
// The parser is strict where leniency lets requests be smuggled or
// misread: lines end in CRLF, no folded headers, no spaces before the
// colon, one Content-Length of plain digits, no Transfer-Encoding (this
// server does not read chunked bodies: 501), exactly one Host in HTTP/1.1.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace http {

struct limits {
  std::size_t max_head = 8 * 1024;     // request line and headers: else 431
  std::size_t max_body = 1024 * 1024;  // Content-Length: else 413
  std::size_t max_headers = 64;        // header lines: else 431
};

// A parsed request. Every view points into the bytes given to the parser.
struct request {
  std::string_view method;   // "GET"
  std::string_view target;   // "/sleep?ms=100"
  std::string_view path;     // "/sleep"
  std::string_view query;    // "ms=100"
  int minor_version = 1;     // HTTP/1.<minor_version>
  std::string_view headers;  // the header lines, each ending in CRLF
  std::string_view body;
  bool keep_alive = true;    // the client wants the connection kept open

  // The value of the first header called `name` (any case), or "".
  std::string_view header(std::string_view name) const;
};

enum class parse_status { complete, incomplete, error };

struct parse_result {
  parse_status status = parse_status::incomplete;
  request req;               // when complete
  std::size_t consumed = 0;  // when complete: bytes of this request
  int error_status = 0;      // when error: the status to answer with
  std::string_view reason;   // when error: what was wrong
};

// One request from the front of `bytes`; what follows it (a pipelined next
// request) is left alone. Errors are found as early as the bytes allow: a
// bad request line is rejected before its headers arrive.
parse_result parse_request(std::string_view bytes, const limits& lim = {});

// ---- Responses ------------------------------------------------------------

struct response {
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::string extra_headers;  // whole lines, each ending in CRLF
};

std::string_view reason_phrase(int status);

// Appends the status line and the headers of `res` to `out`; the body goes
// after them, unchanged.
void write_head(std::string& out, const response& res, bool keep_alive);

// JSON answers, built with fmt: json(200, R"({"hello": "Asyncio"})").
inline response json(int status, std::string body) {
  return response{status, std::move(body), "application/json", {}};
}
std::string json_escape(std::string_view text);
inline response json_error(int status, std::string_view message) {
  return json(status, fmt::format(R"({{"error": "{}"}})",
                                  json_escape(message)));
}

// ---- Routing --------------------------------------------------------------

// "/dashboard/{user_id}": a {name} stands for one non-empty path segment.
struct route {
  std::string_view method;
  std::string_view pattern;
  int id;
};

struct route_match {
  int id = -1;               // the route's id, or -1
  bool path_known = false;   // some route has this path: 405, not 404
  std::string_view param;    // what {name} matched
  std::string allow;         // for 405: the methods the path accepts
};

route_match match_route(std::span<const route> routes,
                        std::string_view method, std::string_view path);

// The value of `key` in a query string ("ms=100&name=a%20b"), percent-
// decoded ('+' is a space). Empty when absent or badly encoded.
std::optional<std::string> query_value(std::string_view query,
                                       std::string_view key);

// ---- The client side: reading a response ----------------------------------

struct parsed_response {
  parse_status status = parse_status::incomplete;
  int code = 0;
  std::string_view headers;
  std::string_view body;
  std::size_t consumed = 0;
  bool keep_alive = true;
  std::string_view header(std::string_view name) const;
};

// One response from the front of `bytes`. Without Content-Length the body
// runs to the end of the connection: pass `at_eof` once it has closed.
parsed_response parse_response(std::string_view bytes, bool at_eof,
                               std::size_t max_size = 16 * 1024 * 1024);

// ===========================================================================
// Implementation
// ===========================================================================

namespace detail {

inline bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline int hex_value(unsigned char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// RFC 9110 token characters: methods and header names.
inline bool is_tchar(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// Characters of an origin-form request target: path, '?', query, with
// percent-escapes. No spaces, controls, '#', quotes or brackets.
inline bool is_target_char(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("-._~!$&'()*+,;=:@/?%").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// Characters of a header value: visible ASCII, space, tab, and bytes of
// 0x80 and above (obs-text). Never NUL, CR, LF or other controls.
inline bool is_field_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Does the comma-separated list `value` hold `token` (any case)?
inline bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Looks `name` up in a block of "Name: value\r\n" lines.
inline std::string_view find_header(std::string_view block,
                                    std::string_view name) {
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    auto line = block.substr(0, eol);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name))
      return trim(line.substr(colon + 1));
    if (eol == std::string_view::npos) break;
    block.remove_prefix(eol + 2);
  }
  return {};
}

// Where a line starting at `from` ends. `end` is the index of its CR; npos
// when the line is not complete yet; `bad` when a CR is not followed by LF
// or an LF comes without its CR.
struct line_end {
  std::size_t end = std::string_view::npos;
  bool bad = false;
};

inline line_end find_line_end(std::string_view in, std::size_t from) {
  auto lf = in.find('\n', from);
  auto cr = in.find('\r', from);
  constexpr auto npos = std::string_view::npos;
  if (cr != npos && (lf == npos || cr < lf)) {
    if (cr + 1 == in.size()) return {};  // the LF may be on its way
    if (in[cr + 1] != '\n') return {std::string_view::npos, true};
    return {cr, false};
  }
  if (lf != std::string_view::npos) return {std::string_view::npos, true};
  return {};
}

// Checks the bytes of a request line that has not ended yet, so junk is
// turned away without waiting for a CRLF that may never come.
inline bool plausible_request_line(std::string_view partial) {
  for (unsigned char c : partial)
    if (c != ' ' && c != '\r' && (c <= 0x20 || c >= 0x7f)) return false;
  return true;
}

inline bool plausible_header_line(std::string_view partial) {
  for (unsigned char c : partial)
    if (c != '\r' && !is_field_char(c)) return false;
  return true;
}

}  // namespace detail

inline std::string_view request::header(std::string_view name) const {
  return detail::find_header(headers, name);
}

inline std::string_view parsed_response::header(std::string_view name) const {
  return detail::find_header(headers, name);
}

inline parse_result parse_request(std::string_view in, const limits& lim) {
  using detail::find_line_end;
  parse_result r;
  auto fail = [&r](int status, std::string_view why) {
    r.status = parse_status::error;
    r.error_status = status;
    r.reason = why;
    return r;
  };
  auto need_more = [&](bool plausible) {
    if (!plausible) return fail(400, "malformed request");
    if (in.size() > lim.max_head) return fail(431, "request head too large");
    r.status = parse_status::incomplete;
    return r;
  };

  // Empty lines before a request are allowed (RFC 9112, 2.2).
  std::size_t pos = 0;
  while (in.substr(pos, 2) == "\r\n") pos += 2;
  if (pos >= in.size() || (in.size() - pos == 1 && in[pos] == '\r'))
    return need_more(true);

  // The request line: METHOD SP target SP HTTP/1.x CRLF
  auto eol = find_line_end(in, pos);
  if (eol.bad) return fail(400, "lines must end in CRLF");
  if (eol.end == std::string_view::npos)
    return need_more(detail::plausible_request_line(in.substr(pos)));
  if (eol.end > lim.max_head) return fail(431, "request line too long");
  std::string_view line = in.substr(pos, eol.end - pos);
  pos = eol.end + 2;

  auto sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos)
    return fail(400, "malformed request line");
  r.req.method = line.substr(0, sp1);
  for (unsigned char c : r.req.method)
    if (!detail::is_tchar(c)) return fail(400, "malformed method");
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
    return fail(400, "malformed request line");
  r.req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);

  if (r.req.target.front() != '/')
    return fail(400, "the target must be a path starting with /");
  for (std::size_t i = 0; i < r.req.target.size(); ++i) {
    unsigned char c = r.req.target[i];
    if (!detail::is_target_char(c)) return fail(400, "malformed target");
    if (c == '%' && (i + 2 >= r.req.target.size() ||
                     !detail::is_hex(r.req.target[i + 1]) ||
                     !detail::is_hex(r.req.target[i + 2])))
      return fail(400, "malformed percent-escape in the target");
  }
  auto question = r.req.target.find('?');
  r.req.path = r.req.target.substr(0, question);
  if (question != std::string_view::npos)
    r.req.query = r.req.target.substr(question + 1);

  if (version.size() != 8 || !version.starts_with("HTTP/") ||
      !detail::is_digit(version[5]) || version[6] != '.' ||
      !detail::is_digit(version[7]))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  r.req.minor_version = version[7] - '0';

  // Header lines, up to an empty line.
  const std::size_t headers_start = pos;
  std::size_t count = 0, hosts = 0;
  bool has_length = false, chunked = false;
  bool close = false, keep_alive = false;
  std::uint64_t length = 0;
  for (;;) {
    eol = find_line_end(in, pos);
    if (eol.bad) return fail(400, "lines must end in CRLF");
    if (eol.end == std::string_view::npos)
      return need_more(detail::plausible_header_line(in.substr(pos)));
    if (eol.end + 2 > lim.max_head)
      return fail(431, "request head too large");
    line = in.substr(pos, eol.end - pos);
    if (line.empty()) {
      r.req.headers = in.substr(headers_start, pos - headers_start);
      pos = eol.end + 2;
      break;
    }
    pos = eol.end + 2;
    if (++count > lim.max_headers) return fail(431, "too many headers");
    if (line.front() == ' ' || line.front() == '\t')
      return fail(400, "folded header lines are not allowed");
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return fail(400, "malformed header");
    auto name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!detail::is_tchar(c)) return fail(400, "malformed header name");
    auto raw = line.substr(colon + 1);
    for (unsigned char c : raw)
      if (!detail::is_field_char(c)) return fail(400, "malformed header value");
    auto value = detail::trim(raw);

    if (detail::iequals(name, "content-length")) {
      if (has_length) return fail(400, "more than one Content-Length");
      has_length = true;
      if (value.empty()) return fail(400, "malformed Content-Length");
      for (unsigned char c : value)
        if (!detail::is_digit(c)) return fail(400, "malformed Content-Length");
      auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc() || length > lim.max_body)
        return fail(413, "body too large");
    } else if (detail::iequals(name, "transfer-encoding")) {
      chunked = true;
    } else if (detail::iequals(name, "host")) {
      ++hosts;
    } else if (detail::iequals(name, "connection")) {
      close = close || detail::has_token(value, "close");
      keep_alive = keep_alive || detail::has_token(value, "keep-alive");
    }
  }

  if (chunked && has_length)
    return fail(400, "both Transfer-Encoding and Content-Length");
  if (chunked) return fail(501, "Transfer-Encoding is not supported");
  if (hosts > 1) return fail(400, "more than one Host");
  if (hosts == 0 && r.req.minor_version == 1)
    return fail(400, "HTTP/1.1 needs a Host header");
  r.req.keep_alive = r.req.minor_version == 1 ? !close : keep_alive && !close;

  if (in.size() - pos < length) {
    r.status = parse_status::incomplete;
    return r;
  }
  r.req.body = in.substr(pos, length);
  r.consumed = pos + length;
  r.status = parse_status::complete;
  return r;
}

inline std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

inline void write_head(std::string& out, const response& res,
                       bool keep_alive) {
  // Appends, not fmt::format_to: a reply's head is the hot path of a busy
  // server, and fmt's back_inserter route costs several times as much.
  char digits[24];
  auto number = [&](auto n) {
    out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
  };
  out += "HTTP/1.1 ";
  number(res.status);
  out += ' ';
  out += reason_phrase(res.status);
  out += "\r\nContent-Type: ";
  out += res.content_type;
  out += "\r\nContent-Length: ";
  number(res.body.size());
  out += "\r\n";
  out += res.extra_headers;
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
}

inline std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

namespace detail {

// Does `path` fit `pattern`? A {name} in the pattern matches one non-empty
// segment, which goes to `param`.
inline bool path_matches(std::string_view pattern, std::string_view path,
                         std::string_view& param) {
  auto open = pattern.find('{');
  if (open == std::string_view::npos) return pattern == path;
  auto close = pattern.find('}', open);
  if (close == std::string_view::npos) return false;
  auto before = pattern.substr(0, open), after = pattern.substr(close + 1);
  if (!path.starts_with(before)) return false;
  auto rest = path.substr(before.size());
  auto seg_end = std::min(rest.find('/'), rest.size());
  if (seg_end == 0 || rest.substr(seg_end) != after) return false;
  param = rest.substr(0, seg_end);
  return true;
}

}  // namespace detail

inline route_match match_route(std::span<const route> routes,
                               std::string_view method,
                               std::string_view path) {
  route_match m;
  for (const auto& r : routes) {
    std::string_view param;
    if (!detail::path_matches(r.pattern, path, param)) continue;
    if (r.method == method) {
      m.id = r.id;
      m.param = param;
      return m;
    }
    m.path_known = true;
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += r.method;
  }
  return m;
}

inline std::optional<std::string> query_value(std::string_view query,
                                              std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      auto raw = eq == std::string_view::npos ? std::string_view{}
                                              : pair.substr(eq + 1);
      std::string value;
      value.reserve(raw.size());
      for (std::size_t i = 0; i < raw.size(); ++i) {
        unsigned char c = raw[i];
        if (c == '+') {
          value += ' ';
        } else if (c == '%') {
          if (i + 2 >= raw.size() || !detail::is_hex(raw[i + 1]) ||
              !detail::is_hex(raw[i + 2]))
            return std::nullopt;
          value += static_cast<char>(detail::hex_value(raw[i + 1]) * 16 +
                                     detail::hex_value(raw[i + 2]));
          i += 2;
        } else {
          value += static_cast<char>(c);
        }
      }
      return value;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

inline parsed_response parse_response(std::string_view in, bool at_eof,
                                      std::size_t max_size) {
  parsed_response r;
  auto fail = [&r] {
    r.status = parse_status::error;
    return r;
  };
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (at_eof || in.size() > 64 * 1024) return fail();
    return r;
  }
  auto status_end = in.find("\r\n");
  auto status_line = in.substr(0, status_end);
  // HTTP/1.1 200 OK
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") ||
      status_line[8] != ' ')
    return fail();
  auto code = status_line.substr(9, 3);
  auto [p, ec] = std::from_chars(code.data(), code.data() + 3, r.code);
  if (ec != std::errc() || p != code.data() + 3 || r.code < 100) return fail();
  r.headers = in.substr(status_end + 2, head_end + 2 - (status_end + 2));
  std::size_t body_start = head_end + 4;
  bool http10 = status_line[7] == '0';
  auto connection = r.header("connection");
  r.keep_alive = http10 ? detail::has_token(connection, "keep-alive")
                        : !detail::has_token(connection, "close");
  auto length_text = r.header("content-length");
  if (length_text.empty()) {
    if (r.code == 204 || r.code == 304 || r.code < 200) {
      r.consumed = body_start;
      r.status = parse_status::complete;
      return r;
    }
    if (!at_eof) {
      if (in.size() > max_size) return fail();
      return r;
    }
    r.body = in.substr(body_start);
    r.consumed = in.size();
    r.keep_alive = false;
    r.status = parse_status::complete;
    return r;
  }
  std::size_t length = 0;
  auto [q, ec2] = std::from_chars(
      length_text.data(), length_text.data() + length_text.size(), length);
  if (ec2 != std::errc() || q != length_text.data() + length_text.size() ||
      length > max_size)
    return fail();
  if (in.size() - body_start < length) return at_eof ? fail() : r;
  r.body = in.substr(body_start, length);
  r.consumed = body_start + length;
  r.status = parse_status::complete;
  return r;
}

}  // namespace http
