// The course's HTTP/1.1 over bytes (http.hpp), written once for lessons 09,
// 10 and 11.
#include "common/http.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <iterator>

namespace common::http {

namespace {

bool is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(unsigned char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// RFC 9110 token characters: methods and header names.
bool is_tchar(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// Characters of an origin-form request target: path, '?', query, with
// percent-escapes. No spaces, controls, '#', quotes or brackets.
bool is_target_char(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("-._~!$&'()*+,;=:@/?%").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

// Characters of a header value: visible ASCII, space, tab, and bytes of
// 0x80 and above (obs-text). Never NUL, CR, LF or other controls.
bool is_field_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Where a line starting at `from` ends. `end` is the index of its CR; npos
// when the line is not complete yet; `bad` when a CR is not followed by LF
// or an LF comes without its CR.
struct line_end {
  std::size_t end = std::string_view::npos;
  bool bad = false;
};

line_end find_line_end(std::string_view in, std::size_t from) {
  constexpr auto npos = std::string_view::npos;
  auto lf = in.find('\n', from);
  auto cr = in.find('\r', from);
  if (cr != npos && (lf == npos || cr < lf)) {
    if (cr + 1 == in.size()) return {};  // the LF may be on its way
    if (in[cr + 1] != '\n') return {npos, true};
    return {cr, false};
  }
  if (lf != npos) return {npos, true};
  return {};
}

// Checks the bytes of a line that has not ended yet, so that junk is
// turned away without waiting for a CRLF that may never come.
bool plausible_request_line(std::string_view partial) {
  for (unsigned char c : partial)
    if (c != ' ' && c != '\r' && (c <= 0x20 || c >= 0x7f)) return false;
  return true;
}

// The start of a version, after the request line's second space: what can
// still become HTTP/1.0 or HTTP/1.1 is 0, junk 400, another HTTP version
// 505.
int implausible_version(std::string_view partial_line) {
  auto sp1 = partial_line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : partial_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return 0;
  auto v = partial_line.substr(sp2 + 1);
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  for (std::string_view good : {"HTTP/1.1", "HTTP/1.0"})
    if (good.starts_with(v)) return 0;
  return v.starts_with("HTTP/") && v.size() > 5 && is_digit(v[5]) ? 505 : 400;
}

bool plausible_header_line(std::string_view partial) {
  for (unsigned char c : partial)
    if (c != '\r' && !is_field_char(c)) return false;
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return false;
  }
  return true;
}

bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view find_header(std::string_view block, std::string_view name) {
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

// ---- Requests --------------------------------------------------------------

parse_result parse_request(std::string_view in, const limits& lim) {
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
  if (eol.end == std::string_view::npos) {
    if (int status = implausible_version(in.substr(pos)))
      return fail(status, status == 505
                              ? "only HTTP/1.0 and HTTP/1.1 are supported"
                              : "malformed HTTP version");
    return need_more(plausible_request_line(in.substr(pos)));
  }
  if (eol.end > lim.max_head) return fail(431, "request line too long");
  std::string_view line = in.substr(pos, eol.end - pos);
  pos = eol.end + 2;

  auto sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos)
    return fail(400, "malformed request line");
  r.req.method = line.substr(0, sp1);
  for (unsigned char c : r.req.method)
    if (!is_tchar(c)) return fail(400, "malformed method");
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
    return fail(400, "malformed request line");
  r.req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);

  for (std::size_t i = 0; i < r.req.target.size(); ++i) {
    unsigned char c = r.req.target[i];
    if (!is_target_char(c)) return fail(400, "malformed target");
    if (c == '%' && (i + 2 >= r.req.target.size() ||
                     !is_hex(r.req.target[i + 1]) ||
                     !is_hex(r.req.target[i + 2])))
      return fail(400, "malformed percent-escape in the target");
  }
  // The origin form, /path?query; or the absolute form, http://host/path,
  // which a server must accept too (RFC 9112, 3.2.2): its path is what
  // follows the authority.
  std::string_view origin = r.req.target;
  if (r.req.method == "CONNECT")  // authority-form: for proxies
    return fail(501, "CONNECT is not supported");
  if (origin == "*") {  // asterisk-form: the server as a whole
    if (r.req.method != "OPTIONS")
      return fail(400, "the target * is for OPTIONS only");
  } else if (origin.front() != '/') {
    auto scheme = origin.find("://");
    if (scheme == std::string_view::npos ||
        !(iequals(origin.substr(0, scheme), "http") ||
          iequals(origin.substr(0, scheme), "https")))
      return fail(400, "the target must be a path starting with /");
    origin.remove_prefix(scheme + 3);
    auto end = std::min(origin.find_first_of("/?"), origin.size());
    if (end == 0) return fail(400, "no host in the target");
    origin.remove_prefix(end);
  }
  auto question = origin.find('?');
  r.req.path = origin.substr(0, question);
  if (r.req.path.empty()) r.req.path = "/";
  if (question != std::string_view::npos)
    r.req.query = origin.substr(question + 1);

  if (version.size() != 8 || !version.starts_with("HTTP/") ||
      !is_digit(version[5]) || version[6] != '.' || !is_digit(version[7]))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  r.req.minor_version = version[7] - '0';

  // Header lines, up to an empty line.
  const std::size_t headers_start = pos;
  std::size_t count = 0, hosts = 0;
  bool has_length = false, chunked = false;
  bool close = false, keep_alive = false, other_expectation = false;
  std::uint64_t length = 0;
  for (;;) {
    eol = find_line_end(in, pos);
    if (eol.bad) return fail(400, "lines must end in CRLF");
    if (pos < in.size() && (in[pos] == ' ' || in[pos] == '\t'))
      return fail(400, "folded header lines are not allowed");
    if (eol.end == std::string_view::npos)
      return need_more(plausible_header_line(in.substr(pos)));
    if (eol.end + 2 > lim.max_head) return fail(431, "request head too large");
    line = in.substr(pos, eol.end - pos);
    if (line.empty()) {
      r.req.headers = in.substr(headers_start, pos - headers_start);
      pos = eol.end + 2;
      break;
    }
    pos = eol.end + 2;
    if (++count > lim.max_headers) return fail(431, "too many headers");
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return fail(400, "malformed header");
    auto name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!is_tchar(c)) return fail(400, "malformed header name");
    auto raw = line.substr(colon + 1);
    for (unsigned char c : raw)
      if (!is_field_char(c)) return fail(400, "malformed header value");
    auto value = trim(raw);

    if (iequals(name, "content-length")) {
      if (has_length) return fail(400, "more than one Content-Length");
      has_length = true;
      if (value.empty()) return fail(400, "malformed Content-Length");
      for (unsigned char c : value)
        if (!is_digit(c)) return fail(400, "malformed Content-Length");
      auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc() || length > lim.max_body)
        return fail(413, "body too large");
    } else if (iequals(name, "transfer-encoding")) {
      chunked = true;
    } else if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "connection")) {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    } else if (iequals(name, "expect")) {
      if (iequals(value, "100-continue"))
        r.req.expects_continue = true;
      else
        other_expectation = true;
    }
  }

  if (chunked && has_length)
    return fail(400, "both Transfer-Encoding and Content-Length");
  if (chunked) return fail(501, "Transfer-Encoding is not supported");
  if (hosts > 1) return fail(400, "more than one Host");
  if (hosts == 0 && r.req.minor_version == 1)
    return fail(400, "HTTP/1.1 needs a Host header");
  if (other_expectation) return fail(417, "only 100-continue is expected");
  // HTTP/1.0 knows no 100 Continue (RFC 9110, 10.1.1).
  if (r.req.minor_version == 0) r.req.expects_continue = false;
  r.req.keep_alive = r.req.minor_version == 1 ? !close : keep_alive && !close;

  r.req.content_length = static_cast<std::size_t>(length);
  if (in.size() - pos >= length) r.req.body = in.substr(pos, length);
  r.head_size = pos;
  r.consumed = pos + r.req.content_length;
  r.status = parse_status::complete;
  return r;
}

// ---- Responses -------------------------------------------------------------

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
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

void write_head(std::string& out, const response& res, bool keep_alive,
                int request_minor) {
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
  out += "\r\n";
  bool bodyless = res.status < 200 || res.status == 204 || res.status == 304;
  if (!bodyless) {
    out += "Content-Type: ";
    out += res.content_type;
    if (res.chunked) {
      out += "\r\nTransfer-Encoding: chunked\r\n";
    } else {
      out += "\r\nContent-Length: ";
      number(res.body.size());
      out += "\r\n";
    }
  }
  out += res.extra_headers;
  if (res.status >= 200) {  // an upgrade (101) names its own Connection
    if (!keep_alive)
      out += "Connection: close\r\n";
    else if (request_minor == 0)
      out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

std::string json_escape(std::string_view text) {
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

response json_error(int status, std::string_view message) {
  return json(status, fmt::format(R"({{"error": "{}"}})", json_escape(message)));
}

// ---- URLs and queries ------------------------------------------------------

url parse_url(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  auto whole = text;
  if (!text.starts_with(scheme))
    throw std::invalid_argument(fmt::format("not an http:// url: {}", whole));
  text.remove_prefix(scheme.size());
  auto slash = text.find('/');
  auto authority = text.substr(0, slash);
  url u;
  u.target = slash == text.npos ? "/" : std::string(text.substr(slash));
  auto colon = authority.rfind(':');
  u.host = std::string(authority.substr(0, colon));
  u.port = colon == authority.npos ? "80"
                                   : std::string(authority.substr(colon + 1));
  if (u.host.empty() || u.port.empty())
    throw std::invalid_argument(fmt::format("no host:port in {}", whole));
  return u;
}

std::optional<std::string> query_value(std::string_view query,
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
          if (i + 2 >= raw.size() || !is_hex(raw[i + 1]) ||
              !is_hex(raw[i + 2]))
            return std::nullopt;
          value += static_cast<char>(hex_value(raw[i + 1]) * 16 +
                                     hex_value(raw[i + 2]));
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

std::optional<long> to_number(std::string_view text) {
  long n = 0;
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return n;
}

// ---- The client side -------------------------------------------------------

void write_request(std::string& out, std::string_view method, const url& u,
                   std::string_view body) {
  fmt::format_to(std::back_inserter(out), "{} {} HTTP/1.1\r\nHost: {}\r\n",
                 method, u.target, u.key());
  if (!body.empty() || method == "POST" || method == "PUT")
    fmt::format_to(std::back_inserter(out),
                   "Content-Type: text/plain\r\nContent-Length: {}\r\n",
                   body.size());
  out += "\r\n";
  out += body;
}

std::string received::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string printable(std::string_view text, std::size_t at_most) {
  std::string out;
  for (char ch : text.substr(0, at_most)) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isprint(c))
      out += ch;
    else
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
  }
  return text.size() > at_most ? out + "..." : out;
}

namespace {

// "HTTP/1.1 200 OK" -> 200 (the reason phrase may be empty).
std::optional<int> parse_status_line(std::string_view line, bool& http11) {
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ' ||
      (line[7] != '0' && line[7] != '1') ||
      (line.size() > 12 && line[12] != ' '))
    return std::nullopt;
  int status = 0;
  auto digits = line.substr(9, 3);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + 3, status);
  if (ec != std::errc{} || end != digits.data() + 3 || status < 100)
    return std::nullopt;
  http11 = line[7] == '1';
  return status;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

response_parse parse_response(std::string_view in, bool at_eof,
                              bool head_request, std::size_t max_body) {
  response_parse r;
  auto fail = [&r](std::string_view reason, std::string_view shown = {}) {
    r.status = parse_status::error;
    r.reason = reason;
    if (!shown.empty()) r.shown = printable(shown);
    return r;
  };
  // A line from `pos`; npos while it has not ended.
  auto line_at = [&](std::size_t pos) { return in.find("\r\n", pos); };

  auto eol = line_at(0);
  if (eol == std::string_view::npos) {
    if (at_eof && in.empty())
      return fail("the connection closed before the status line");
    if (at_eof) return fail("malformed status line", in);
    if (in.size() > max_line) return fail("the status line is too long");
    return r;
  }
  bool http11 = false;
  auto status_line = in.substr(0, eol);
  auto status = parse_status_line(status_line, http11);
  if (!status) return fail("malformed status line", status_line);
  r.res.status = *status;

  std::size_t pos = eol + 2;
  for (;;) {
    eol = line_at(pos);
    if (eol == std::string_view::npos) {
      if (at_eof) return fail("the connection closed in the middle of the headers");
      if (in.size() - pos > max_line) return fail("a header line is too long");
      return r;
    }
    auto line = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return fail("malformed header line", line);
    auto name = lower(line.substr(0, colon));
    auto value = std::string(trim(line.substr(colon + 1)));
    auto [it, added] = r.res.headers.emplace(std::move(name), value);
    if (!added) it->second += ", " + value;
  }

  auto header = [&](const char* name) { return lower(r.res.header(name)); };
  bool ends_at_close = false;
  if (head_request || r.res.status / 100 == 1 || r.res.status == 204 ||
      r.res.status == 304) {
    r.consumed = pos;
  } else if (has_token(header("transfer-encoding"), "chunked")) {
    // Each chunk: its size in hex on a line, that many bytes and a CRLF; a
    // chunk of size 0 ends the body, after any trailer lines.
    for (;;) {
      eol = line_at(pos);
      if (eol == std::string_view::npos) {
        if (at_eof) return fail("the connection closed in the middle of the body");
        if (in.size() - pos > max_line) return fail("a chunk size line is too long");
        return r;
      }
      auto size_line = in.substr(pos, eol - pos);
      auto digits = trim(size_line.substr(0, size_line.find(';')));
      std::size_t size = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (digits.empty() || ec != std::errc{} ||
          end != digits.data() + digits.size())
        return fail("bad chunk size", size_line);
      pos = eol + 2;
      if (size == 0) break;
      if (r.res.body.size() + size > max_body) return fail("the body is too long");
      if (in.size() - pos < size + 2) {
        if (at_eof) return fail("the connection closed in the middle of the body");
        r.need = pos + size + 2;
        return r;
      }
      if (in.substr(pos + size, 2) != "\r\n")
        return fail("a chunk does not end with CRLF");
      r.res.body.append(in.substr(pos, size));
      pos += size + 2;
    }
    for (;;) {  // the trailers, up to an empty line
      eol = line_at(pos);
      if (eol == std::string_view::npos) {
        if (at_eof) return fail("the connection closed in the middle of the trailers");
        if (in.size() - pos > max_line) return fail("a trailer line is too long");
        return r;
      }
      bool last = eol == pos;
      pos = eol + 2;
      if (last) break;
    }
    r.consumed = pos;
  } else if (auto length = r.res.header("content-length"); !length.empty()) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec != std::errc{} || end != length.data() + length.size())
      return fail("bad Content-Length", length);
    if (n > max_body) return fail("the body is too long");
    if (in.size() - pos < n) {
      if (at_eof) return fail("the connection closed in the middle of the body");
      r.need = pos + n;
      return r;
    }
    r.res.body = std::string(in.substr(pos, n));
    r.consumed = pos + n;
  } else {
    if (in.size() - pos > max_body) return fail("the body is too long");
    if (!at_eof) return r;
    ends_at_close = true;
    r.res.body = std::string(in.substr(pos));
    r.consumed = in.size();
  }

  // HTTP/1.1 keeps the connection open unless a side says "close"; HTTP/1.0
  // closes it unless the server says "keep-alive".
  auto connection = r.res.header("connection");
  r.reusable = !ends_at_close && (http11 ? !has_token(connection, "close")
                                         : has_token(connection, "keep-alive"));
  r.status = parse_status::complete;
  return r;
}

}  // namespace common::http
