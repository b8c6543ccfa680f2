// The course's HTTP/1.1 over bytes (lessons/common/http.hpp), tested on its
// own: examples of what each parser gives, beside the fuzzers'
// invariants (scripts/fuzz). The lessons' tests then check the same
// behaviour through servers and clients over sockets.
#include "common/http.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace http = common::http;
using http::parse_status;

TEST_CASE("requests: whole, in pieces, and errors with the status to send",
          "[http]") {
  struct example {
    std::string bytes;
    parse_status status;
    int error = 0;
    std::string msg;
  };
  using enum parse_status;
  std::vector<example> cases{
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", complete, 0, "a GET"},
      {"GET / HTTP/1.1\r\nHost: a\r\n", incomplete, 0, "no blank line yet"},
      {"GET / HT", incomplete, 0, "half a request line"},
      {"POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
       complete, 0, "the head of a request whose body is on its way"},
      {"GET / HTTP/1.1\nHost: a\n\n", error, 400, "bare LF"},
      {"GET / HTTP/3.0\r\n", error, 505, "HTTP/3 before its headers"},
      {"\x16\x03\x01", error, 400, "binary, before any CRLF"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
       "Content-Length: 1\r\n\r\nx",
       error, 400, "two Content-Lengths"},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
       error, 501, "chunked"},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", error,
       413, "a body over the limit, before it comes"},
      {"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", error, 417,
       "an expectation other than 100-continue"},
      {"GET /" + std::string(9000, 'a'), error, 431, "a huge request line"},
      {"GET / HTTP/5.6", error, 505, "HTTP/5, before the line ends"},
      {"GET / HTTX", error, 400, "junk for a version, before the line ends"},
      {"GET / HTTP/1.1\r\n Host: a", error, 400, "a folded line, at once"},
      {"CONNECT a:443 HTTP/1.1\r\n", error, 501, "CONNECT: for proxies"},
      {"GET * HTTP/1.1\r\n", error, 400, "* is for OPTIONS"},
      {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", complete, 0, "OPTIONS *"},
  };
  for (const auto& c : cases) {
    auto r = http::parse_request(c.bytes);
    INFO(c.msg << ": gave " << int(r.status) << " " << r.error_status << " "
               << r.reason);
    CHECK(r.status == c.status);
    CHECK(r.error_status == c.error);
  }
}

TEST_CASE("a request's head, body and what follows it", "[http]") {
  auto two = http::parse_request(
      "GET /a?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n");
  REQUIRE(two.status == parse_status::complete);
  CHECK(two.req.path == "/a");
  CHECK(two.req.query == "x=1");
  CHECK(two.consumed == 32);
  CHECK(two.req.body_complete());

  std::string post =
      "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
      "Content-Length: 20\r\n\r\n";
  auto head = http::parse_request(post);
  REQUIRE(head.status == parse_status::complete);
  CHECK(head.req.expects_continue);
  CHECK(head.head_size == post.size());
  CHECK(head.consumed == post.size() + 20);
  CHECK_FALSE(head.req.body_complete());
  post += "twenty bytes of body";
  auto whole = http::parse_request(post);
  CHECK(whole.req.body == "twenty bytes of body");

  auto absolute = http::parse_request(
      "GET http://example.com:8000/a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(absolute.req.path == "/a/b");
  CHECK(absolute.req.query == "c=d");
  CHECK(http::parse_request("GET HTTP://h?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .req.path == "/");
  CHECK(http::parse_request("GET ftp://h/ HTTP/1.1\r\nHost: x\r\n\r\n")
            .error_status == 400);

  auto old = http::parse_request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(old.req.keep_alive);
  CHECK(old.req.minor_version == 0);
  CHECK_FALSE(http::parse_request("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
}

TEST_CASE("response heads: lengths, HTTP/1.0 keep-alive, close", "[http]") {
  std::string out;
  http::write_head(out, http::json(200, R"({"a": 1})"), true, 1);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               "Content-Length: 8\r\n\r\n");
  out.clear();
  http::write_head(out, http::json(200, "{}"), true, 0);
  CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
  out.clear();
  http::write_head(out, http::json(200, "{}"), false, 0);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
  out.clear();
  http::write_head(out, http::response{.status = 100}, true);
  CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST_CASE("responses: lengths, chunks, the end of the connection, errors",
          "[http]") {
  auto r = http::parse_response(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\n{}rest",
      false);
  REQUIRE(r.status == parse_status::complete);
  CHECK(r.res.body == "{}");
  CHECK(r.res.header("x-a") == "1, 2");
  CHECK(r.reusable);
  CHECK(r.consumed == 56);

  auto chunked = http::parse_response(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: x\r\n\r\n",
      false);
  REQUIRE(chunked.status == parse_status::complete);
  CHECK(chunked.res.body == "hello!");

  std::string closes = "HTTP/1.0 200 OK\r\n\r\nto the end";
  CHECK(http::parse_response(closes, false).status == parse_status::incomplete);
  auto ended = http::parse_response(closes, true);
  CHECK(ended.res.body == "to the end");
  CHECK_FALSE(ended.reusable);

  auto head = http::parse_response(
      "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", false, true);
  CHECK(head.status == parse_status::complete);

  struct bad {
    std::string bytes;
    bool eof;
    std::string reason;
  };
  std::vector<bad> cases{
      {"hello there\r\n\r\n", false, "malformed status line"},
      {"", true, "the connection closed before the status line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true,
       "the connection closed in the middle of the body"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false,
       "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", false, "malformed header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, "bad Content-Length"},
  };
  for (const auto& c : cases) {
    auto p = http::parse_response(c.bytes, c.eof);
    INFO(c.bytes);
    CHECK(p.status == parse_status::error);
    CHECK(p.reason == c.reason);
  }
}

TEST_CASE("urls, queries and numbers", "[http]") {
  auto u = http::parse_url("http://127.0.0.1:8000/a/b?c=d");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == "8000");
  CHECK(u.target == "/a/b?c=d");
  CHECK(http::parse_url("http://example.com").target == "/");
  CHECK_THROWS_AS(http::parse_url("https://x/"), std::invalid_argument);
  CHECK(http::query_value("ms=100&name=a%20b+c", "name") == "a b c");
  CHECK_FALSE(http::query_value("ms=100", "name"));
  CHECK_FALSE(http::query_value("name=%zz", "name"));
  CHECK(http::to_number("100") == 100);
  CHECK_FALSE(http::to_number("-1"));
  CHECK_FALSE(http::to_number("+1"));
  CHECK_FALSE(http::to_number("1e3"));
  CHECK_FALSE(http::to_number("99999999999999999999999"));
}
