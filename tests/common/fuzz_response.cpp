// libFuzzer target for the course's HTTP response parser (lessons/common/
// http.hpp), the one lesson 09's client and lesson 11's dashboard read
// with. Built and run by scripts/fuzz, like fuzz_request.cpp.
//
// Besides "no crash, no undefined behaviour", it checks what a client
// relies on:
//   - a complete response lies inside its bytes, its body within the limit;
//   - parsing is the same however the bytes arrive: a prefix shorter than a
//     complete response is incomplete, never an error, and the bytes it
//     says it needs are no more than the response has; a longer prefix is
//     the same response; the end of the connection changes nothing about a
//     response that was complete without it;
//   - a response that ends with the connection is never reusable;
//   - errors say why.
#include "common/http.hpp"

#include "../support/fuzz_check.hpp"

#include <cstdint>
#include <string_view>

namespace http = common::http;

namespace {

using fuzz::check;

constexpr std::size_t max_body = 1024;

void check_prefix(std::string_view in, std::size_t n, bool head,
                  const http::response_parse& full) {
  auto p = http::parse_response(in.substr(0, n), false, head, max_body);
  if (full.status != http::parse_status::complete) return;
  if (n >= full.consumed) {
    check(p.status == http::parse_status::complete &&
              p.consumed == full.consumed && p.res.body == full.res.body &&
              p.res.status == full.res.status && p.reusable == full.reusable,
          "a longer prefix is the same response");
  } else {
    check(p.status == http::parse_status::incomplete,
          "a prefix of a complete response is incomplete");
    check(p.need <= full.consumed, "a prefix needs no more than there is");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool head = size > 0 && data[0] == 'H' && size % 7 == 0;  // now and then
  for (bool eof : {false, true}) {
    auto r = http::parse_response(in, eof, head, max_body);
    switch (r.status) {
      case http::parse_status::complete:
        check(r.consumed > 0 && r.consumed <= in.size(), "consumed in range");
        check(r.res.body.size() <= max_body, "the body within the limit");
        check(r.res.status >= 100 && r.res.status <= 999, "a status");
        break;
      case http::parse_status::incomplete:
        check(!eof, "at the end of the connection, whole or broken");
        check(r.need == 0 || r.need > in.size(), "it needs more than it has");
        break;
      case http::parse_status::error:
        check(!r.reason.empty(), "an error says why");
        break;
    }
    if (!eof && r.status == http::parse_status::complete) {
      auto at_end = http::parse_response(in, true, head, max_body);
      check(at_end.status == http::parse_status::complete &&
                at_end.consumed == r.consumed && at_end.reusable == r.reusable,
            "the end of the connection changes nothing after a response");
      if (size > 0) {
        check_prefix(in, size - 1, head, r);
        check_prefix(in, r.consumed - 1, head, r);
        check_prefix(in, (r.consumed * data[size - 1]) / 256, head, r);
      }
    }
    if (eof && r.status == http::parse_status::complete &&
        http::parse_response(in, false, head, max_body).status ==
            http::parse_status::incomplete)
      check(!r.reusable, "a body ended by the close leaves nothing to reuse");
  }
  return 0;
}
