// libFuzzer target for lesson 10's HTTP parser (http.hpp). Built and run by
// scripts/fuzz with clang, AddressSanitizer and UndefinedBehaviorSanitizer:
//
//   scripts/fuzz 600        # ten minutes
//
// Besides "no crash, no undefined behaviour", it checks what the server
// relies on:
//   - a complete request lies inside the bytes it was parsed from, and its
//     parts are consistent (the body is Content-Length long, the path and
//     query make up the target, the method is a token);
//   - parsing is the same however the bytes arrive: a prefix of a complete
//     request is incomplete, never an error, and a prefix of anything is
//     never complete with a different length; a prefix of an error is an
//     error or incomplete; bytes after a complete request change nothing;
//   - errors carry one of the statuses the server answers with.
#include "given/http.hpp"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

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
      if (n >= full.consumed) {
        check(p.status == http::parse_status::complete &&
                  p.consumed == full.consumed,
              "a longer prefix of a complete request parses the same");
      } else {
        check(p.status == http::parse_status::incomplete,
              "a prefix of a complete request is incomplete");
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
      check(r.consumed > 0 && r.consumed <= in.size(), "consumed in range");
      for (auto part : {q.method, q.target, q.path, q.query, q.headers, q.body})
        check(inside(part, in.substr(0, r.consumed)), "views inside input");
      check(!q.method.empty(), "a method");
      check(q.target.starts_with('/') && q.path.starts_with('/'), "a path");
      check(q.target.starts_with(q.path), "the path starts the target");
      check(q.query.empty() ||
                q.target.size() == q.path.size() + 1 + q.query.size(),
            "path ? query is the target");
      check(q.body.size() <= lim.max_body, "the body within the limit");
      check(q.minor_version == 0 || q.minor_version == 1, "HTTP/1.x");
      check(q.body.data() + q.body.size() == in.data() + r.consumed ||
                q.body.empty(),
            "the body ends the request");
      auto length = q.header("content-length");
      std::uint64_t declared = 0;
      if (!length.empty())
        std::from_chars(length.data(), length.data() + length.size(),
                        declared);
      check(declared == q.body.size(), "the body is Content-Length long");
      check(r.consumed - q.body.size() <= lim.max_head,
            "the head within the limit");

      // Bytes after a request (a pipelined next one) change nothing.
      std::string more(in.substr(0, r.consumed));
      more += "GET / HTTP/1.1\r\n";
      auto again = http::parse_request(more, lim);
      check(again.status == http::parse_status::complete &&
                again.consumed == r.consumed,
            "trailing bytes leave a complete request alone");

      // What the server does next with a request must not crash either.
      static constexpr http::route routes[] = {
          {"GET", "/", 0}, {"GET", "/dashboard/{user_id}", 1},
          {"POST", "/upload", 2}, {"GET", "/sleep", 3}};
      auto m = http::match_route(routes, q.method, q.path);
      check(m.id < 0 || !m.path_known, "found or not");
      (void)http::query_value(q.query, "name");
      (void)http::query_value(q.query, "ms");
      (void)q.header("host");
      std::string head;
      http::write_head(head, http::json_error(400, q.target), q.keep_alive);
      break;
    }
    case http::parse_status::incomplete:
      check(in.size() < lim.max_head + lim.max_body,
            "incomplete only within the limits");
      break;
    case http::parse_status::error:
      check(r.error_status == 400 || r.error_status == 413 ||
                r.error_status == 431 || r.error_status == 501 ||
                r.error_status == 505,
            "an error status the server answers with");
      check(!r.reason.empty(), "an error says why");
      break;
  }

  // The same bytes arriving in pieces: a few prefixes.
  if (size > 0) {
    check_prefix(in, size - 1, r, lim);
    check_prefix(in, size / 2, r, lim);
    check_prefix(in, (size * data[size - 1]) / 256, r, lim);
  }

  // The client side's parser, on the same bytes.
  for (bool eof : {false, true}) {
    auto resp = http::parse_response(in, eof, 4096);
    if (resp.status == http::parse_status::complete)
      check(resp.consumed <= in.size() && inside(resp.body, in),
            "a response inside its bytes");
  }
  return 0;
}
