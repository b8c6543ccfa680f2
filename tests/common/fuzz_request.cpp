// libFuzzer target for the course's HTTP request parser (lessons/common/
// http.hpp), the one lessons 10 and 11 serve with. Built and run by
// scripts/fuzz with clang, AddressSanitizer and UndefinedBehaviorSanitizer:
//
//   scripts/fuzz 600        # ten minutes for each parser
//
// Besides "no crash, no undefined behaviour", it checks what the servers
// rely on:
//   - a complete request lies inside the bytes it was parsed from, and its
//     parts are consistent (the head is head_size bytes, the whole request
//     head_size + Content-Length, the body is all there or not at all, the
//     path and query make up the target, or end an absolute one, the
//     method is a token);
//   - parsing is the same however the bytes arrive: a prefix shorter than
//     the head is incomplete, never an error; a prefix holding the head is
//     complete with the same sizes; a prefix of an error is an error or
//     incomplete; bytes after a complete request change nothing;
//   - incomplete only within the head's limit; errors carry one of the
//     statuses the servers answer with, and a reason.
#include "common/http.hpp"

#include "../support/fuzz_check.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace http = common::http;

namespace {

using fuzz::check;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() &&
         part.data() + part.size() <= whole.data() + whole.size();
}

void check_prefix(std::string_view in, std::size_t n,
                  const http::parse_result& full, const http::limits& lim) {
  auto p = http::parse_request(in.substr(0, n), lim);
  switch (full.status) {
    case http::parse_status::complete:
      if (n >= full.head_size) {
        check(p.status == http::parse_status::complete &&
                  p.head_size == full.head_size && p.consumed == full.consumed,
              "a prefix holding the head parses the same");
        check(p.req.body_complete() == (n >= full.consumed),
              "the body is there once all its bytes are");
      } else {
        check(p.status == http::parse_status::incomplete,
              "a prefix of a complete head is incomplete");
      }
      break;
    case http::parse_status::incomplete:
      check(p.status == http::parse_status::incomplete,
            "a prefix of an incomplete request is incomplete");
      break;
    case http::parse_status::error:
      check(p.status != http::parse_status::complete,
            "a prefix of a bad request is never complete");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  // Small limits so that the fuzzer reaches them; the first byte varies
  // them a little.
  http::limits lim;
  lim.max_head = 256 + (size ? data[0] % 4 : 0) * 256;
  lim.max_body = 512;
  lim.max_headers = 8;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto r = http::parse_request(in, lim);
  switch (r.status) {
    case http::parse_status::complete: {
      const auto& q = r.req;
      check(r.head_size > 0 && r.head_size <= in.size(), "head in range");
      check(r.head_size <= lim.max_head, "the head within the limit");
      check(r.consumed == r.head_size + q.content_length, "consumed adds up");
      check(q.content_length <= lim.max_body, "the body within the limit");
      auto head = in.substr(0, r.head_size);
      for (auto part : {q.method, q.target, q.query, q.headers})
        check(inside(part, head), "views inside the head");
      check(inside(q.path, head) || q.path == "/", "the path inside the head");
      check(q.method != "CONNECT", "CONNECT is refused");
      if (in.size() >= r.consumed) {
        check(q.body_complete() && q.body.data() == in.data() + r.head_size,
              "a body that has come follows the head, whole");
      } else {
        check(q.body.empty() && !q.body_complete(), "no half bodies");
      }
      check(!q.method.empty(), "a method");
      check(q.path.starts_with('/') || (q.path == "*" && q.method == "OPTIONS"),
            "a path, or * for OPTIONS");
      if (q.target == "*") {
        check(q.query.empty(), "no query for *");
      } else if (q.target.starts_with('/')) {
        check(q.target.starts_with(q.path), "the path starts the target");
        check(q.query.empty() ||
                  q.target.size() == q.path.size() + 1 + q.query.size(),
              "path ? query is the target");
      } else {
        check(q.target.find("://") != std::string_view::npos,
              "a target not starting with / is absolute");
        check(q.query.empty() || q.target.ends_with(q.query), "the query ends it");
      }
      check(q.minor_version == 0 || q.minor_version == 1, "HTTP/1.x");
      check(!q.expects_continue || q.minor_version == 1, "100-continue is 1.1");
      auto length = q.header("content-length");
      check(length.empty() ? q.content_length == 0
                           : http::to_number(length) ==
                                 static_cast<long>(q.content_length),
            "the body is Content-Length long");

      // Bytes after a request (a pipelined next one) change nothing.
      std::string more(in.substr(0, r.consumed > in.size() ? in.size()
                                                           : r.consumed));
      if (in.size() >= r.consumed) {
        more += "GET / HTTP/1.1\r\n";
        auto again = http::parse_request(more, lim);
        check(again.status == http::parse_status::complete &&
                  again.consumed == r.consumed,
              "trailing bytes leave a complete request alone");
      }

      // What a server does next with a request must not crash either.
      (void)http::query_value(q.query, "name");
      (void)http::query_value(q.query, "ms");
      if (auto ms = http::query_value(q.query, "ms")) (void)http::to_number(*ms);
      (void)q.header("host");
      std::string out;
      http::write_head(out, http::json_error(400, q.target), q.keep_alive,
                       q.minor_version);
      check(out.ends_with("\r\n\r\n"), "a head ends with a blank line");
      break;
    }
    case http::parse_status::incomplete:
      check(in.size() <= lim.max_head, "incomplete only within the limit");
      break;
    case http::parse_status::error:
      check(r.error_status == 400 || r.error_status == 413 ||
                r.error_status == 417 || r.error_status == 431 ||
                r.error_status == 501 || r.error_status == 505,
            "an error status the servers answer with");
      check(!r.reason.empty(), "an error says why");
      break;
  }

  // The same bytes arriving in pieces: a few prefixes.
  if (size > 0) {
    check_prefix(in, size - 1, r, lim);
    check_prefix(in, size / 2, r, lim);
    check_prefix(in, (size * data[size - 1]) / 256, r, lim);
    if (r.status == http::parse_status::complete)
      check_prefix(in, r.head_size, r, lim);
  }
  return 0;
}
