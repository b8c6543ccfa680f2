// Lesson 10 grading. Your server runs on a thread of its own; the tests are
// its clients, over sockets on 127.0.0.1, in real time. They judge what a
// client can see (statuses, bodies, which reply came first, whether the
// connection was closed) and the server's own counters (requests in flight
// at once, jobs done), never a stopwatch. When the loop was held, the lag
// monitor on your server's loop says for how long.
#include "sides.hpp"
#include "harness.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace harness;
using grade::run_real;

namespace {

// Does the server answer GET /, also while another client holds a
// connection open? Empty when it does, else what is wrong. A failure is
// remembered: the later tests fail at once with the same message instead
// of waiting, each, for replies that cannot come.
std::string basic_service(const server_run& server) {
  static std::map<serve_fn, std::string> failed;
  if (auto it = failed.find(server.serve()); it != failed.end())
    return it->second;
  auto port = server.port();
  auto out = run_real([port]() -> awaitable<std::string> {
    auto alone = co_await exchange(port, get("/"), 1s);
    if (alone.end != ending::reply || alone.answer.status != 200)
      co_return fmt::format(
          "your server does not answer GET / yet ({}): write "
          "handle_requests first (task 1)",
          alone.end == ending::reply ? fmt::to_string(alone.answer.status)
                                     : to_string(alone.end));
    client holder(co_await asio::this_coro::executor);
    co_await holder.connect(port);
    co_await holder.send(get("/"));
    reply r;
    co_await holder.receive(r, 1s);
    auto other = co_await exchange(port, get("/"), 1s);
    if (other.end != ending::reply)
      co_return "while one client kept its connection open, your server "
                "answered no other: it serves one connection at a time. In "
                "accept_loop, co_spawn serve_connection for each connection "
                "instead of awaiting it (task 1)";
    co_return "";
  });
  auto verdict = out.value ? *out.value : out.error;
  if (!verdict.empty()) failed[server.serve()] = verdict;
  return verdict;
}

// Starts `serve` and waits for it to listen; fails the test if it does not,
// or if it cannot serve the basics (see basic_service).
#define START(name, serve, cfg)                                           \
  server_run name(serve, cfg);                                            \
  if (!name.listening())                                                  \
    FAIL("the server did not start listening within 3 s" +                \
         (name.error().empty() ? std::string()                            \
                               : ": serve() threw " + name.error()));     \
  if (auto basics = basic_service(name); !basics.empty()) FAIL(basics);

std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 120)) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c >= 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (text.size() > 120) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

std::string describe(const exchange_result& r) {
  if (r.end != ending::reply) return to_string(r.end);
  return fmt::format("{} {}", r.answer.status, r.answer.body);
}

// One exchange whose result and arrival are recorded: `order` gets `tag`
// when the reply (or the close) comes. Spawned coroutines take what they
// need as parameters: those live in the coroutine's frame.
awaitable<void> recorded(unsigned short port, std::string bytes,
                         duration limit, exchange_result& out,
                         std::vector<std::string>& order, std::string tag) {
  out = co_await exchange(port, std::move(bytes), limit);
  order.push_back(std::move(tag));
}

// After a bad request, the server still answers a good one.
awaitable<bool> still_serving(unsigned short port) {
  auto r = co_await exchange(port, get("/"), 1s);
  co_return r.end == ending::reply && r.answer.status == 200;
}

// ---- The bad-input suite -------------------------------------------------

struct bad_case {
  std::string what;
  std::string bytes;
  int status;            // the expected reply; 0: no reply, just a close
  bool closes = true;    // the server closes the connection after it
  bool half_close = false;  // the client sends EOF after its bytes
};

// Sends each case on a connection of its own, checks the reply and whether
// the connection was closed, then checks that the server still serves.
// Returns one line per case that went wrong.
std::vector<std::string> run_cases(unsigned short port,
                                   const std::vector<bad_case>& cases) {
  auto out = run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    for (const auto& c : cases) {
      client conn(co_await asio::this_coro::executor);
      if (!co_await conn.connect(port)) {
        problems.push_back(c.what + ": could not connect");
        continue;
      }
      co_await conn.send(c.bytes);
      if (c.half_close) conn.shutdown_send();
      exchange_result r;
      r.end = co_await conn.receive(r.answer, 1500ms);
      if (r.end == ending::reply && c.closes)
        r.after = co_await conn.closed(800ms);
      std::string wrong;
      if (c.status == 0) {
        if (r.end == ending::reply)
          wrong = fmt::format("got {} {}; expected the connection closed "
                              "without a reply",
                              r.answer.status, r.answer.body);
        else if (r.end == ending::timed_out)
          wrong = "the connection stayed open; expected it closed";
      } else if (r.end != ending::reply) {
        wrong = fmt::format("got {}; expected {} {}", to_string(r.end),
                            c.status, http::reason_phrase(c.status));
      } else if (r.answer.status != c.status) {
        wrong = fmt::format("got {} {}; expected {} {}", r.answer.status,
                            r.answer.body, c.status,
                            http::reason_phrase(c.status));
      } else if (c.closes && r.after == ending::timed_out) {
        wrong = fmt::format("got {} but the connection stayed open; after "
                            "this reply it should be closed",
                            r.answer.status);
      }
      if (!wrong.empty())
        problems.push_back(fmt::format("{} (\"{}\"): {}", c.what,
                                       printable(c.bytes), wrong));
      if (!co_await still_serving(port)) {
        problems.push_back(fmt::format(
            "after {} (\"{}\") the server no longer answers GET /", c.what,
            printable(c.bytes)));
        break;
      }
    }
    co_return problems;
  });
  if (out.exception) return {"the test's clients failed: " + out.error};
  return *out.value;
}

void report(const std::vector<std::string>& problems, std::size_t total,
            std::string_view advice) {
  if (problems.empty()) return;
  FAIL(fmt::format("{} of {} requests were not handled as they should:\n"
                   "  - {}\n{}",
                   problems.size(), total, fmt::join(problems, "\n  - "),
                   advice));
}

std::string with_length(std::string_view length, std::string_view body = "") {
  return fmt::format("POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: {}"
                     "\r\n\r\n{}",
                     length, body);
}

// CPU work that takes about 150 ms in this build: /cpu-heavy sums the
// primes below it. The tests compute the same sum to check the answer.
std::uint64_t calibrated_cpu_work() {
  static const std::uint64_t n = [] {
    std::uint64_t probe = 100'000;
    auto start = std::chrono::steady_clock::now();
    volatile auto sum = web::sum_primes_below(probe);
    (void)sum;
    double took = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    double scale = std::pow(0.15 / std::max(took, 1e-4), 2.0 / 3.0);
    return std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(probe * scale), 200'000, 4'000'000);
  }();
  return n;
}

}  // namespace

// ===========================================================================
// Task 1: requests and replies on a connection
// ===========================================================================

TEST_CASE("the given parser: whole requests, pieces, and errors",
          "[lesson10][task1]") {
  struct example {
    std::string bytes;
    http::parse_status status;
    int error = 0;
    std::string msg;
  };
  using enum http::parse_status;
  std::vector<example> cases{
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", complete, 0, "a GET"},
      {"GET / HTTP/1.1\r\nHost: a\r\n", incomplete, 0, "no blank line yet"},
      {"GET / HT", incomplete, 0, "half a request line"},
      {"POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
       incomplete, 0, "half a body"},
      {"GET / HTTP/1.1\nHost: a\n\n", error, 400, "bare LF"},
      {"GET / HTTP/3.0\r\n", error, 505, "HTTP/3 before its headers"},
      {"\x16\x03\x01", error, 400, "binary, before any CRLF"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
       "Content-Length: 1\r\n\r\nx",
       error, 400, "two Content-Lengths"},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
       error, 501, "chunked"},
      {"GET /" + std::string(9000, 'a'), error, 431, "a huge request line"},
  };
  for (const auto& c : cases) {
    auto r = http::parse_request(c.bytes);
    INFO(c.msg << ": \"" << printable(c.bytes) << "\" gave " << int(r.status)
               << " " << r.error_status << " " << r.reason);
    CHECK(r.status == c.status);
    CHECK(r.error_status == c.error);
  }
  auto two = http::parse_request(
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n");
  CHECK(two.status == complete);
  CHECK(two.req.path == "/a");
  CHECK(two.consumed == 28);
}

TEST_CASE("GET / answers {\"hello\": \"Asyncio\"}, and one connection "
          "carries request after request",
          "[lesson10][task1]") {
  temp_dir data;
  server_run server(yours::serve, test_config(data.path()));
  if (!server.listening())
    FAIL("the server did not start listening within 3 s " + server.error());
  auto out = run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    client c(co_await asio::this_coro::executor);
    if (!co_await c.connect(server.port())) {
      problems.push_back("could not connect to the server");
      co_return problems;
    }
    for (int i = 1; i <= 3; ++i) {
      co_await c.send(get("/"));
      reply r;
      auto end = co_await tut::traced(fmt::format("GET / #{}", i),
                                      c.receive(r, 1s));
      if (end != ending::reply) {
        problems.push_back(fmt::format(
            "request {} on the connection got {}{}", i, to_string(end),
            i > 1 ? ": after a reply, keep reading the same connection for "
                    "the next request (keep-alive)"
                  : ""));
        break;
      }
      if (r.status != 200 || r.body != R"({"hello": "Asyncio"})" ||
          r.header("content-type") != "application/json")
        problems.push_back(fmt::format(
            "request {} got {} {} ({}); expected 200 "
            "{{\"hello\": \"Asyncio\"}} (application/json)",
            i, r.status, r.body, r.header("content-type")));
    }
    // A client that says so gets its reply, then the connection closes.
    client once(co_await asio::this_coro::executor);
    co_await once.connect(server.port());
    co_await once.send(get("/", "Connection: close\r\n"));
    reply r;
    if (co_await once.receive(r, 1s) != ending::reply || r.status != 200)
      problems.push_back("a request with \"Connection: close\" got no 200");
    else if (co_await once.closed(500ms) == ending::timed_out)
      problems.push_back(
          "after a request with \"Connection: close\" the connection stayed "
          "open: stop when the request does not keep the connection alive");
    co_return problems;
  });
  REQUIRE(out.value);
  report(*out.value, 4,
         "handle_requests: parse what is in c.buffer; read_more when it is "
         "incomplete; dispatch, write_reply, erase what was consumed, and "
         "loop while write_reply says the connection goes on.");
}

namespace {

struct sleepers_outcome {
  grade::outcome<std::vector<int>> run;  // each client's status
  int peak = 0;                          // the server's peak in flight
};

awaitable<void> sleeper(unsigned short port, int& status) {
  auto r = co_await exchange(port, get("/sleep?ms=150"), 1500ms);
  status = r.answer.status;
}

sleepers_outcome fifty_sleepers(serve_fn serve) {
  temp_dir data;
  sleepers_outcome out;
  server_run server(serve, test_config(data.path()));
  if (!server.listening()) return out;
  std::vector<int> statuses(50, 0);
  out.run = run_real([&]() -> awaitable<std::vector<int>> {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < 50; ++i)
      co_spawn(ex,
               tut::traced(fmt::format("GET /sleep?ms=150 #{:02}", i + 1),
                           sleeper(server.port(), statuses[i])),
               detached);
    co_return std::vector<int>{};
  });
  if (out.run.value) *out.run.value = statuses;
  out.peak = server.stats().peak_in_flight;
  return out;
}

}  // namespace

TEST_CASE("50 clients asking /sleep?ms=150 at once are all in flight at "
          "once",
          "[lesson10][task1]") {
  auto actual = fifty_sleepers(yours::serve);
  auto expected = fifty_sleepers(reference::serve);
  REQUIRE(expected.run.value);
  if (!actual.run.value)
    FAIL("the server did not start, or the clients failed");
  auto answered = std::count(actual.run.value->begin(),
                             actual.run.value->end(), 200);
  GRADE(actual.peak == 50,
        fmt::format("at most {} of the 50 requests were in flight at once "
                    "(the reference: {}), and {} were answered in time. Each "
                    "connection needs a coroutine of its own: in "
                    "accept_loop, co_spawn serve_connection, don't await it",
                    actual.peak, expected.peak, answered),
        actual.run, expected.run);
  GRADE(answered == 50,
        fmt::format("{} of the 50 /sleep requests got a 200", answered),
        actual.run, expected.run);
}

TEST_CASE("malformed requests get 400 and a closed connection; the server "
          "keeps serving",
          "[lesson10][task1]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));
  std::vector<bad_case> cases{
      {"a request line that is not HTTP", "HELLO\r\n\r\n", 400},
      {"no HTTP version", "GET /\r\nHost: a\r\n\r\n", 400},
      {"a lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
      {"a version with junk", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
       400},
      {"a space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"a target that is not a path",
       "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"a NUL in the target",
       std::string("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 29), 400},
      {"a bad percent-escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"a method with a bracket", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", 400},
      {"a CR without its LF", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
      {"binary junk (a TLS hello)",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400},
      {"a space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"a header without a colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
      {"a folded header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
       400},
      {"a NUL in a header value",
       std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 36), 400},
      {"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"HTTP/1.0 without Host: answered, then closed", "GET / HTTP/1.0\r\n\r\n",
       200},
      {"empty lines before a request",
       "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200},
  };
  report(run_cases(server.port(), cases), cases.size(),
         "For a request that parse_request rejects, write_reply its "
         "error_status with keep_alive false, then end the connection.");
}

TEST_CASE("limits: 431 for oversized heads, 413 for oversized bodies, 400 "
          "for a bad Content-Length, 501 for chunked bodies",
          "[lesson10][task1]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));  // 4 KiB, 64 KiB
  std::string many;
  for (int i = 0; i < 40; ++i) many += fmt::format("X-H{}: v\r\n", i);
  std::string unending = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (unending.size() < 5000) unending += "X-A: bbbbbbbbbbbbbbbb\r\n";
  std::vector<bad_case> cases{
      {"a header over the 4 KiB limit",
       get("/", "X-Big: " + std::string(5000, 'a') + "\r\n"), 431},
      {"a request line over the limit",
       "GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
      {"too many headers", get("/", many), 431},
      {"a head that never ends, past the limit", unending, 431},
      {"a negative Content-Length", with_length("-5"), 400},
      {"a Content-Length that is not a number", with_length("abc"), 400},
      {"a Content-Length with a sign", with_length("+5", "hello"), 400},
      {"an empty Content-Length", with_length(""), 400},
      {"a Content-Length over the body limit", with_length("100000"), 413},
      {"a Content-Length too big for any integer",
       with_length("99999999999999999999999"), 413},
      {"a Content-Length list", with_length("5, 5", "hello"), 400},
      {"two equal Content-Lengths",
       "POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
       "Content-Length: 5\r\n\r\nhello",
       400},
      {"two different Content-Lengths",
       "POST /log HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
       "Content-Length: 6\r\n\r\nhello!",
       400},
      {"a chunked body",
       "POST /log HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n",
       501},
      {"Transfer-Encoding and Content-Length together",
       "POST /log HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 5\r\n\r\nhello",
       400},
  };
  report(run_cases(server.port(), cases), cases.size(),
         "For a request that parse_request rejects, write_reply its "
         "error_status with keep_alive false, then end the connection.");
}

TEST_CASE("pipelined requests are answered in order; bodies cut short, "
          "resets and closed connections leave the server serving",
          "[lesson10][task1]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    auto ex = co_await asio::this_coro::executor;
    auto check_serving = [&](std::string what) -> awaitable<void> {
      if (!co_await still_serving(port))
        problems.push_back("after " + what +
                           " the server no longer answers GET /");
    };

    {  // Three requests in one write: three replies, in order.
      client c(ex);
      co_await c.connect(port);
      co_await c.send(get("/sleep?ms=30") + get("/") + get("/sleep?ms=1"));
      std::vector<std::string> bodies;
      for (int i = 0; i < 3; ++i) {
        reply r;
        if (co_await c.receive(r, 1s) != ending::reply) break;
        bodies.push_back(r.body);
      }
      std::vector<std::string> want{R"({"slept_ms": 30})",
                                    R"({"hello": "Asyncio"})",
                                    R"({"slept_ms": 1})"};
      if (bodies != want)
        problems.push_back(fmt::format(
            "three pipelined requests (sent in one write) got [{}]; "
            "expected [{}]: after a reply, erase only what parse_request "
            "consumed, and parse what follows before reading more",
            fmt::join(bodies, ", "), fmt::join(want, ", ")));
    }
    {  // A bad request in the middle: 200, 400, then the connection ends.
      client c(ex);
      co_await c.connect(port);
      co_await c.send(get("/") + "BAD\r\n\r\n" + get("/"));
      std::vector<std::string> got;
      for (int i = 0; i < 3; ++i) {
        reply r;
        auto end = co_await c.receive(r, 1s);
        got.push_back(end == ending::reply ? fmt::to_string(r.status)
                                           : to_string(end));
        if (end != ending::reply) break;
      }
      if (got.size() != 3 || got[0] != "200" || got[1] != "400" ||
          got[2] == "200")
        problems.push_back(fmt::format(
            "GET /, a malformed request, GET /, pipelined: got {}; expected "
            "200, 400, then the connection closed",
            fmt::join(got, ", ")));
    }
    {  // A request sent a byte at a time.
      client c(ex);
      co_await c.connect(port);
      for (char ch : get("/")) {
        co_await c.send(std::string_view(&ch, 1));
        co_await tut::sleep(1ms);
      }
      reply r;
      if (co_await c.receive(r, 1s) != ending::reply || r.status != 200)
        problems.push_back(
            "a request sent one byte at a time got no 200: read_more until "
            "parse_request says complete");
    }
    {  // A body cut short, then the client's EOF: closed, no reply.
      client c(ex);
      co_await c.connect(port);
      co_await c.send(with_length("100", "only ten b"));
      c.shutdown_send();
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end != ending::closed && end != ending::reset)
        problems.push_back(fmt::format(
            "a body cut short by the client's EOF got {}; expected the "
            "connection closed without a reply",
            end == ending::reply ? fmt::to_string(r.status) : to_string(end)));
      co_await check_serving("a body cut short");
    }
    {  // Half a request line, then EOF.
      client c(ex);
      co_await c.connect(port);
      co_await c.send("GET /sle");
      c.shutdown_send();
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end == ending::reply || end == ending::timed_out)
        problems.push_back(fmt::format(
            "half a request line then EOF got {}; expected a close",
            to_string(end)));
      co_await check_serving("half a request line");
    }
    {  // Connect and close at once; connect and reset.
      client quiet(ex);
      co_await quiet.connect(port);
      quiet.shutdown_send();
      client abrupt(ex);
      co_await abrupt.connect(port);
      co_await abrupt.send("GET / HTTP/1.1\r\nHo");
      abrupt.reset();
      co_await tut::sleep(20ms);
      co_await check_serving("connections closed or reset mid-request");
    }
    {  // A reset while the request is being handled: the reply has nowhere
       // to go.
      client c(ex);
      co_await c.connect(port);
      co_await c.send(get("/sleep?ms=50"));
      co_await tut::sleep(10ms);
      c.reset();
      co_await tut::sleep(100ms);
      co_await check_serving("a reset while its request was handled");
      if (server.stats().in_flight != 0)
        problems.push_back(fmt::format(
            "{} requests are still in flight after their clients left",
            server.stats().in_flight.load()));
    }
    co_return problems;
  });
  if (!out.value) FAIL("the test's clients failed: " + out.error);
  report(*out.value, 8,
         "Keep the bytes after a request in c.buffer (they are the next "
         "request); end the connection when read_more or write_reply "
         "returns false.");
}

TEST_CASE("unknown paths get 404, wrong methods 405, bad parameters 400 or "
          "422; the connection stays open",
          "[lesson10][task1]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));
  std::vector<bad_case> cases{
      {"an unknown path", get("/nope"), 404, false},
      {"a path one segment too deep", get("/dashboard/1/2"), 404, false},
      {"POST to a GET endpoint", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", 405,
       false},
      {"DELETE /sleep", "DELETE /sleep HTTP/1.1\r\nHost: a\r\n\r\n", 405,
       false},
      {"GET to a POST endpoint", get("/upload"), 405, false},
      {"/sleep with ms not a number", get("/sleep?ms=abc"), 400, false},
      {"/sleep with a negative ms", get("/sleep?ms=-1"), 400, false},
      {"/dashboard with a user_id not a number", get("/dashboard/abc"), 422,
       false},
  };
  report(run_cases(server.port(), cases), cases.size(),
         "These answers come from dispatch (given): send what it returns, "
         "and keep the connection for the next request.");
}

TEST_CASE("one connection over the cap gets 503; once one closes, the "
          "server takes connections again",
          "[lesson10][task1]") {
  temp_dir data;
  auto cfg = test_config(data.path());
  cfg.max_connections = 4;
  cfg.idle_timeout = 3s;
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    // The earlier check's connections must be gone first.
    co_await eventually([&] { return server.stats().connections == 0; }, 1s);
    std::vector<std::unique_ptr<client>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::make_unique<client>(ex));
      co_await held.back()->connect(port);
    }
    if (!co_await eventually([&] { return server.stats().connections == 4; },
                             500ms))
      co_return fmt::format("4 connections were opened; the server counts {}",
                            server.stats().connections.load());
    client fifth(ex);
    co_await fifth.connect(port);
    co_await fifth.send(get("/"));
    reply r;
    auto end = co_await fifth.receive(r, 1s);
    if (end == ending::reply && r.status != 503)
      co_return fmt::format("the 5th connection (cap 4) got {}; expected 503",
                            r.status);
    if (end == ending::timed_out)
      co_return "the 5th connection (cap 4) got no answer";
    held.front()->reset();
    held.erase(held.begin());
    co_await eventually([&] { return server.stats().connections == 3; }, 1s);
    auto again = co_await exchange(port, get("/"), 1s);
    if (again.end != ending::reply || again.answer.status != 200)
      co_return fmt::format("with a connection freed, GET / got {}",
                            describe(again));
    co_return "";
  });
  REQUIRE(out.value);
  if (!out.value->empty()) FAIL(*out.value);
}

// ===========================================================================
// Task 2: the idle timeout
// ===========================================================================

namespace {

struct slow {
  std::string what;
  std::string first;         // sent at once
  std::string trickle;       // then one byte every 50 ms
  bool wants_reply = false;  // a complete request first
};

// One slow client; `problem` says what went wrong, if anything.
awaitable<void> slow_client(unsigned short port, const slow& s,
                            std::string& problem) {
  client c(co_await asio::this_coro::executor);
  co_await c.connect(port);
  co_await c.send(s.first);
  if (s.wants_reply) {
    reply r;
    co_await c.receive(r, 1s);
  }
  auto start = tut::now();
  for (char ch : s.trickle) {
    if (!co_await c.send(std::string_view(&ch, 1))) break;
    co_await tut::sleep(50ms);
    if (tut::now() - start > 1s) break;
  }
  auto left = 1s - (tut::now() - start);
  auto end = co_await c.closed(std::max<duration>(left, 1ms));
  if (end == ending::timed_out)
    problem = s.what + ": still connected after 1 s (idle timeout 300 ms)";
}

}  // namespace

TEST_CASE("clients that send nothing, or trickle a request, are "
          "disconnected after the idle timeout",
          "[lesson10][task2]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));  // idle 300 ms
  auto port = server.port();
  std::vector<slow> clients{
      {"a client that connects and sends nothing", "", ""},
      {"a client that stops in the request line", "GET /sle", ""},
      {"a client that never sends the blank line",
       "GET / HTTP/1.1\r\nHost: a\r\n", ""},
      {"a client whose body stops short",
       with_length("100", "ten bytes."), ""},
      {"slowloris: a header byte every 50 ms",
       "GET / HTTP/1.1\r\nHost: a\r\n",
       "X-Slow: " + std::string(100, 'z')},
      {"a keep-alive connection left idle after a reply", get("/"), "", true},
  };
  std::vector<std::string> found(clients.size());
  auto out = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (std::size_t i = 0; i < clients.size(); ++i)
      co_spawn(ex,
               tut::traced(clients[i].what,
                           slow_client(port, clients[i], found[i])),
               detached);
  });
  REQUIRE(out.value);
  std::vector<std::string> problems;
  for (auto& p : found)
    if (!p.empty()) problems.push_back(p);
  if (!problems.empty())
    FAIL(fmt::format(
        "{} of {} slow clients kept their connection:\n  - {}\n"
        "A client may take up to cfg.idle_timeout to send a request. Race "
        "handle_requests against a watchdog with ||: the watchdog returns "
        "once c.deadline has passed, and the || cancels the other side.\n\n{}",
        problems.size(), clients.size(), fmt::join(problems, "\n  - "),
        tut::render_timeline(out.trace)));
  auto after = run_real([&] { return still_serving(port); });
  REQUIRE(after.value);
  CHECK(*after.value);
}

TEST_CASE("the idle timeout does not cut off a request being handled, nor "
          "a client that comes back in time",
          "[lesson10][task2]") {
  temp_dir data;
  auto cfg = test_config(data.path());
  cfg.idle_timeout = 150ms;
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::string> {
    client c(co_await asio::this_coro::executor);
    co_await c.connect(port);
    co_await c.send(get("/sleep?ms=250"));
    reply r;
    auto end = co_await tut::traced("GET /sleep?ms=250", c.receive(r, 2s));
    if (end != ending::reply || r.status != 200)
      co_return fmt::format(
          "a request that takes 250 ms got {} (idle timeout 150 ms): the "
          "idle timeout is for the client sending its request, not for "
          "the server answering it. dispatch lifts c.deadline "
          "(time_point::max()) while it works; the watchdog must look at "
          "c.deadline again when it wakes, not give up at the first one",
          end == ending::reply ? fmt::to_string(r.status) : to_string(end));
    co_await tut::sleep(50ms);
    co_await c.send(get("/"));
    end = co_await tut::traced("GET / after 50 ms", c.receive(r, 1s));
    if (end != ending::reply)
      co_return fmt::format(
          "a request sent 50 ms after the previous reply got {} (idle "
          "timeout 150 ms): each request gets the full idle timeout",
          to_string(end));
    end = co_await tut::traced("idle", c.closed(500ms));
    if (end == ending::timed_out)
      co_return "after a long request, the connection was left idle and "
                "stayed open for 0.5 s (idle timeout 150 ms): wake at least "
                "every idle_timeout, since c.deadline moves";
    co_return "";
  });
  REQUIRE(out.value);
  if (!out.value->empty())
    FAIL(*out.value + "\n\n" + tut::render_timeline(out.trace));
}

// ===========================================================================
// Task 3: the dashboard
// ===========================================================================

namespace {

struct dashboard_outcome {
  std::string basics;  // why the scenario could not run, if it could not
  grade::outcome<std::vector<exchange_result>> run;
  web::upstream_counters upstream;
};

dashboard_outcome dashboard(serve_fn serve, std::vector<int> users) {
  temp_dir data;
  dashboard_outcome out;
  out.run = run_real([&]() -> awaitable<std::vector<exchange_result>> {
    auto ex = co_await asio::this_coro::executor;
    tcp::acceptor upstream(ex, {asio::ip::make_address("127.0.0.1"), 0});
    auto cfg = test_config(data.path());
    cfg.upstream = upstream.local_endpoint();
    server_run server(serve, cfg);
    std::vector<exchange_result> replies;
    auto calls = [&]() -> awaitable<void> {
      if (!co_await eventually([&] { return server.port() != 0; }, 3s))
        throw std::runtime_error("the server did not start listening");
      out.basics = basic_service(server);
      if (!out.basics.empty()) co_return;
      for (int user : users) {
        auto target = fmt::format("/dashboard/{}", user);
        replies.push_back(co_await tut::traced(
            "GET " + target, exchange(server.port(), get(target), 2s)));
      }
    };
    co_await (calls() || web::serve_upstream(upstream, 80ms, out.upstream));
    co_return replies;
  });
  return out;
}

}  // namespace

TEST_CASE("the dashboard's three upstream calls run at once",
          "[lesson10][task3]") {
  auto actual = dashboard(yours::serve, {7});
  if (!actual.basics.empty()) FAIL(actual.basics);
  auto expected = dashboard(reference::serve, {7});
  REQUIRE(expected.run.value);
  grade::expect_no_exception(actual.run, expected.run, "the scenario");
  REQUIRE(actual.run.value->size() == 1);
  const auto& mine = actual.run.value->front();
  const auto& theirs = expected.run.value->front();
  GRADE(mine.end == ending::reply && mine.answer.status == 200,
        fmt::format("GET /dashboard/7 got {}; expected 200 with the three "
                    "answers",
                    describe(mine)),
        actual.run, expected.run);
  GRADE(mine.answer.body == theirs.answer.body,
        fmt::format("GET /dashboard/7 answered\n  {}\nexpected\n  {}",
                    mine.answer.body, theirs.answer.body),
        actual.run, expected.run);
  GRADE(actual.upstream.peak == 3,
        fmt::format("at most {} of the {} upstream calls ran at once: "
                    "awaited one after another they take 3 x 80 ms. "
                    "co_await (a && b && c) runs all three together",
                    actual.upstream.peak, actual.upstream.calls),
        actual.run, expected.run);
}

TEST_CASE("a failing upstream service gives 502 Bad Gateway",
          "[lesson10][task3]") {
  auto actual = dashboard(yours::serve, {13, 7});  // user 13's orders fail
  if (!actual.basics.empty()) FAIL(actual.basics);
  auto expected = dashboard(reference::serve, {13, 7});
  REQUIRE(expected.run.value);
  grade::expect_no_exception(actual.run, expected.run, "the scenario");
  REQUIRE(actual.run.value->size() == 2);
  const auto& failing = actual.run.value->at(0);
  GRADE(failing.end == ending::reply && failing.answer.status == 502,
        fmt::format("GET /dashboard/13, whose orders service fails, got {}; "
                    "expected 502. The && rethrows the failure: catch it "
                    "and answer http::json_error(502, ...)",
                    describe(failing)),
        actual.run, expected.run);
  const auto& next = actual.run.value->at(1);
  GRADE(next.end == ending::reply && next.answer.status == 200,
        fmt::format("after a failing dashboard, GET /dashboard/7 got {}",
                    describe(next)),
        actual.run, expected.run);
}

// ===========================================================================
// Tasks 4 and 5: blocking work off the loop
// ===========================================================================

namespace {

// Sends `slow` (named `name` on the timeline) and, once the server is
// working on it, GET /: was GET / answered first, as a loop that is not
// held answers it? The slow request's exchange and the run come back too.
struct meanwhile_outcome {
  grade::outcome<grade::nothing> run;
  exchange_result slow;
  bool hello_first = false;
};

meanwhile_outcome meanwhile(server_run& server, std::string name,
                            std::string slow, duration limit) {
  auto port = server.port();
  meanwhile_outcome m;
  std::vector<std::string> order;
  exchange_result hello;
  m.run = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex,
             tut::traced(name, recorded(port, slow, limit, m.slow, order,
                                        "slow")),
             detached);
    co_await eventually(
        [&] { return server.stats().in_flight > 0 || !order.empty(); }, 1s);
    co_await tut::sleep(20ms);
    co_await tut::traced("GET / meanwhile",
                         recorded(port, get("/"), limit, hello, order, "hello"));
  });
  m.hello_first = !order.empty() && order.front() == "hello";
  return m;
}

}  // namespace

// ===========================================================================
// Task 4: uploads
// ===========================================================================

TEST_CASE("an upload is saved whole, without holding the loop while the "
          "disk works",
          "[lesson10][task4]") {
  temp_dir data;
  auto cfg = test_config(data.path());
  cfg.disk_latency = 250ms;
  START(server, yours::serve, cfg);
  std::string body;
  for (int i = 0; body.size() < 40'000; ++i)
    body += fmt::format("line {}\n", i);
  auto [out, upload, hello_first] =
      meanwhile(server, "POST /upload?name=report.txt",
                post("/upload?name=report.txt", body), 2s);
  REQUIRE(out.value);
  if (upload.end != ending::reply || upload.answer.status != 201)
    FAIL(fmt::format("POST /upload?name=report.txt got {}; expected 201 "
                     "{{\"saved\": \"report.txt\", \"bytes\": {}}}",
                     describe(upload), body.size()));
  CHECK(upload.answer.body ==
        fmt::format(R"({{"saved": "report.txt", "bytes": {}}})", body.size()));
  if (!hello_first)
    FAIL(fmt::format(
        "GET /, sent while the upload was being written, was answered only "
        "after it: the write held the loop's thread (for {:.0f} ms at "
        "worst). Run save_file on the pool: co_await to_thread(srv.pool, "
        "[&] {{ save_file(...); }})\n\n{}",
        ms(server.worst_lag()), tut::render_timeline(out.trace)));
  CHECK(data.files() == std::vector<std::string>{"report.txt"});
  CHECK(data.read("report.txt") == body);
}

TEST_CASE("upload names with /, .., or NUL are turned away with 400 and "
          "nothing is written",
          "[lesson10][task4]") {
  temp_dir root;
  // The data directory sits two levels down, so a name that escapes it
  // lands where the test can see it (and clean it up).
  auto data = root.path() / "a" / "b" / "data";
  fs::create_directories(data);
  fs::create_directories(root.path() / "abs");
  START(server, yours::serve, test_config(data));
  auto absolute = (root.path() / "abs" / "evil.txt").string();
  std::vector<bad_case> cases{
      {"a name going up", post("/upload?name=../evil.txt", "x"), 400, false},
      {"a name going up, escaped",
       post("/upload?name=%2e%2e%2f%2e%2e%2fevil.txt", "x"), 400, false},
      {"the parent itself", post("/upload?name=..", "x"), 400, false},
      {"a name with a slash", post("/upload?name=sub/evil.txt", "x"), 400,
       false},
      {"an absolute path", post("/upload?name=" + absolute, "x"), 400, false},
      {"a name with a NUL", post("/upload?name=evil%00.txt", "x"), 400, false},
      {"a name with a backslash", post("/upload?name=a%5cb", "x"), 400, false},
      {"a hidden name", post("/upload?name=.evil", "x"), 400, false},
      {"an empty name", post("/upload?name=", "x"), 400, false},
      {"no name at all", post("/upload", "x"), 400, false},
      {"a plain name (this one is fine)", post("/upload?name=ok.txt", "fine"),
       201, false},
  };
  auto problems = run_cases(server.port(), cases);
  std::vector<std::string> written;
  for (const auto& e : fs::recursive_directory_iterator(root.path()))
    if (e.is_regular_file() && e.path() != data / "ok.txt")
      written.push_back(fs::relative(e.path(), root.path()).string());
  if (!written.empty())
    problems.push_back(fmt::format("files written outside the plan: {}",
                                   fmt::join(written, ", ")));
  report(problems, cases.size(),
         "The seed's f\"data/{file.filename}\" writes wherever the name "
         "points: \"../x\" climbs out of data/, \"/x\" starts again at the "
         "root, and a NUL cuts the name short. safe_name: not empty, no '/', "
         "'\\\\' or NUL, no \"..\", not starting with '.'.");
}

// ===========================================================================
// Task 5: CPU-bound work
// ===========================================================================

TEST_CASE("/cpu-heavy computes on the thread pool: the loop answers others "
          "meanwhile",
          "[lesson10][task5]") {
  temp_dir data;
  auto cfg = test_config(data.path());
  cfg.cpu_work = calibrated_cpu_work();  // about 150 ms
  START(server, yours::serve, cfg);
  auto [out, heavy, hello_first] =
      meanwhile(server, "GET /cpu-heavy", get("/cpu-heavy"), 4s);
  REQUIRE(out.value);
  auto want = fmt::format(R"({{"result": {}}})",
                          web::sum_primes_below(cfg.cpu_work));
  if (heavy.end != ending::reply || heavy.answer.body != want)
    FAIL(fmt::format("GET /cpu-heavy got {}; expected 200 {}",
                     describe(heavy), want));
  if (!hello_first)
    FAIL(fmt::format(
        "GET /, sent while /cpu-heavy computed, was answered only after it: "
        "the computation held the loop's thread ({:.0f} ms at worst). "
        "Compute on the pool: co_await to_thread(srv.pool, [n] {{ return "
        "web::sum_primes_below(n); }})\n\n{}",
        ms(server.worst_lag()), tut::render_timeline(out.trace)));
}

// ===========================================================================
// Task 6: background jobs
// ===========================================================================

TEST_CASE("POST /log answers at once, then its job runs; jobs run in the "
          "order they came",
          "[lesson10][task6]") {
  temp_dir data;
  START(server, yours::serve, test_config(data.path()));  // a job: 100 ms
  auto port = server.port();
  int done_at_reply = -1;
  auto out = run_real([&]() -> awaitable<std::vector<exchange_result>> {
    std::vector<exchange_result> replies;
    for (auto message : {"first", "second", "third"}) {
      replies.push_back(co_await tut::traced(
          fmt::format("POST /log {}", message),
          exchange(port, post("/log", message), 2s)));
      if (done_at_reply < 0) done_at_reply = server.stats().jobs_done;
      if (replies.back().answer.status != 202) co_return replies;
    }
    co_await tut::traced("the jobs", eventually([&] {
      return server.stats().jobs_done >= 3;
    }, 2s));
    co_return replies;
  });
  REQUIRE(out.value);
  const auto& first = out.value->front();
  if (first.end != ending::reply || first.answer.status != 202)
    FAIL(fmt::format("POST /log got {}; expected 202 {{\"queued\": true}}",
                     describe(first)));
  if (done_at_reply != 0)
    FAIL(fmt::format(
        "the reply to POST /log came after its job had run: the client "
        "waited for work it does not need. Queue the job "
        "(srv.jobs.try_send) and answer at once; the worker runs it "
        "later\n\n{}",
        tut::render_timeline(out.trace)));
  auto jobs = server.stats().jobs_done.load();
  if (jobs != 3)
    FAIL(fmt::format(
        "{} of the 3 queued jobs ran within 2 s: background_worker should "
        "take each job off srv.jobs (async_receive) and co_await "
        "write_log(srv, message)",
        jobs));
  CHECK(data.read("log.txt") == "first\nsecond\nthird\n");
}

// ===========================================================================
// Task 7: graceful shutdown
// ===========================================================================

namespace {

// SIGTERM while there is work everywhere: an idle keep-alive connection,
// five /sleep requests in flight, three background jobs queued, an upload
// whose body is half sent. Everything should finish, then serve() return.
struct shutdown_outcome {
  std::string basics;  // why the scenario could not run, if it could not
  std::vector<exchange_result> sleepers;
  ending idle_end = ending::timed_out;
  double idle_closed_after = 0;     // seconds after SIGTERM
  ending newcomer = ending::reply;  // a connection tried after SIGTERM
  exchange_result upload;
  bool returned = false;  // serve() returned within the limit
  double returned_after = 0;
  std::string error;
  int jobs_done = 0;
  std::vector<std::string> files;
  std::string log;
  std::string upload_file;
  std::string body;
  tut::trace trace;
};

// The rest of a half-sent upload, 50 ms after SIGTERM, and its reply.
awaitable<void> finish_upload(client& upload, std::string rest,
                              exchange_result& out,
                              tut::clock::time_point until) {
  co_await tut::sleep(50ms);
  co_await upload.send(rest);
  out.end = co_await tut::traced("POST /upload (half sent at SIGTERM)",
                                 upload.receive(out.answer,
                                                until - tut::now()));
}

// When (if) the server closes a connection, in seconds from now.
awaitable<void> watch_close(client& c, ending& end, double& after,
                            tut::clock::time_point until) {
  auto start = tut::now();
  end = co_await c.closed(until - start);
  after = tut::seconds(tut::now() - start).count();
}

// A client that comes 100 ms after SIGTERM: refused, closed, or served?
awaitable<void> newcomer(unsigned short port, ending& result) {
  co_await tut::sleep(100ms);
  client c(co_await asio::this_coro::executor);
  if (!co_await c.connect(port, 200ms)) {
    result = ending::reset;  // refused
    co_return;
  }
  co_await c.send(get("/"));
  reply r;
  result = co_await c.receive(r, 300ms);
}

awaitable<void> returned(const server_run& server, bool& done, double& after,
                         tut::clock::time_point until) {
  auto start = tut::now();
  done = co_await eventually([&] { return server.finished(); },
                             until - start);
  after = tut::seconds(tut::now() - start).count();
}

const shutdown_outcome& graceful_shutdown() {
  static const shutdown_outcome result = [] {
    shutdown_outcome o;
    temp_dir data;
    auto cfg = test_config(data.path());
    cfg.idle_timeout = 3s;  // an idle connection closes because of SIGTERM
    cfg.shutdown_deadline = 1s;
    cfg.job_latency = 100ms;  // the last job ends after the last request
    server_run server(yours::serve, cfg);
    if (!server.listening()) {
      o.basics = "the server did not start listening within 3 s";
      return o;
    }
    o.basics = basic_service(server);
    if (!o.basics.empty()) return o;
    auto port = server.port();
    for (int i = 0; o.body.size() < 20'000; ++i)
      o.body += fmt::format("row {}\n", i);
    std::vector<std::string> order;
    auto run = run_real([&]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      client idle(ex);
      co_await idle.connect(port);
      co_await idle.send(get("/"));
      reply r;
      co_await idle.receive(r, 1s);
      for (auto message : {"one", "two", "three"})
        co_await exchange(port, post("/log", message), 1s);
      o.sleepers.resize(5);
      for (int i = 0; i < 5; ++i)
        co_spawn(ex,
                 tut::traced(fmt::format("GET /sleep?ms=200 #{}", i + 1),
                             recorded(port, get("/sleep?ms=200"), 1500ms,
                                      o.sleepers[i], order, "sleeper")),
                 detached);
      client upload(ex);
      co_await upload.connect(port);
      std::string request = post("/upload?name=big.txt", o.body);
      auto half = request.size() / 2;
      co_await upload.send(std::string_view(request).substr(0, half));
      co_await eventually([&] { return server.stats().in_flight >= 5; }, 1s);

      send_sigterm();
      auto signalled = tut::now();
      tut::note("GET /sleep?ms=200 #1", "SIGTERM");
      auto until = signalled + 1500ms;
      co_await (finish_upload(upload, request.substr(half), o.upload, until) &&
                watch_close(idle, o.idle_end, o.idle_closed_after, until) &&
                newcomer(port, o.newcomer) &&
                returned(server, o.returned, o.returned_after, until));
    });
    o.error = run.exception ? run.error : server.error();
    o.jobs_done = server.stats().jobs_done;
    o.files = data.files();
    o.log = data.read("log.txt");
    o.upload_file = data.read("big.txt");
    o.trace = run.trace;
    return o;
  }();
  return result;
}

}  // namespace

TEST_CASE("on SIGTERM the server stops taking connections and closes the "
          "idle ones at once",
          "[lesson10][task7]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  if (o.newcomer == ending::reply)
    FAIL("a client that connected after SIGTERM was still served: close "
         "the acceptor first (srv.stopping = true; srv.acceptor.close())");
  if (o.idle_end == ending::timed_out || o.idle_closed_after > 0.5)
    FAIL(fmt::format(
        "an idle keep-alive connection was still open {:.1f} s after "
        "SIGTERM (idle timeout 3 s): close_idle_connections(srv) when "
        "shutting down, since nothing is in progress there",
        o.idle_closed_after));
}

TEST_CASE("on SIGTERM the requests in flight are answered, the queued jobs "
          "run, then serve() returns",
          "[lesson10][task7]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < o.sleepers.size(); ++i)
    if (o.sleepers[i].end != ending::reply ||
        o.sleepers[i].answer.status != 200)
      problems.push_back(fmt::format("GET /sleep?ms=200 #{}, in flight at "
                                     "SIGTERM, got {}",
                                     i + 1, describe(o.sleepers[i])));
  if (!o.returned)
    problems.push_back(
        "serve() had not returned 1.5 s after SIGTERM (shutdown deadline "
        "1 s): wait for the signal (signal_set::async_wait, raced against "
        "accept_loop with ||), then shut_down(srv)");
  else if (!o.error.empty())
    problems.push_back("serve() threw " + o.error);
  if (o.jobs_done != 3)
    problems.push_back(fmt::format(
        "{} of the 3 queued background jobs ran: finish them before "
        "returning (send the worker its eof after the last connection "
        "closes, then worker_stopped)",
        o.jobs_done));
  if (!problems.empty())
    FAIL(fmt::format("  - {}\n\n{}", fmt::join(problems, "\n  - "),
                     tut::render_timeline(o.trace)));
  CHECK(o.log == "one\ntwo\nthree\n");
}

TEST_CASE("SIGTERM during an upload: the upload is finished and saved "
          "whole; no file is left half-written",
          "[lesson10][task7]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  if (o.upload.end != ending::reply || o.upload.answer.status != 201)
    FAIL(fmt::format("an upload half sent at SIGTERM (the rest came 50 ms "
                     "later) got {}; a request under way is in flight: let "
                     "it finish",
                     describe(o.upload)));
  CHECK(o.upload.answer.header("connection") == "close");
  CHECK(o.upload_file == o.body);
  CHECK(o.files == std::vector<std::string>{"big.txt", "log.txt"});
}

TEST_CASE("a request that outlasts the shutdown deadline is cut off, and "
          "serve() still returns in time, leaving no half file",
          "[lesson10][task7]") {
  temp_dir data;
  auto cfg = test_config(data.path());
  cfg.shutdown_deadline = 400ms;
  cfg.idle_timeout = 5s;
  START(server, yours::serve, cfg);
  auto port = server.port();
  exchange_result sleeper;
  std::vector<std::string> order;
  ending upload_end = ending::reply;
  bool returned = false;
  double after = 0;
  auto run = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex,
             tut::traced("GET /sleep?ms=5000",
                         recorded(port, get("/sleep?ms=5000"), 1300ms, sleeper,
                                  order, "sleeper")),
             detached);
    client upload(ex);
    co_await upload.connect(port);
    co_await upload.send(with_length("1000", "never finished"));
    co_await eventually([&] { return server.stats().in_flight >= 1; }, 1s);
    send_sigterm();
    auto signalled = tut::now();
    returned = co_await eventually([&] { return server.finished(); }, 1s);
    after = tut::seconds(tut::now() - signalled).count();
    reply r;
    upload_end = co_await upload.receive(r, 300ms);
  });
  REQUIRE(run.value);
  if (!returned)
    FAIL(fmt::format(
        "serve() had not returned 1 s after SIGTERM, with a 400 ms "
        "shutdown deadline and a 5 s request in flight: when the deadline "
        "passes, cancel_everything(srv), wait for the connections and the "
        "worker to end, and return\n\n{}",
        tut::render_timeline(run.trace)));
  CHECK(server.error().empty());
  CHECK(sleeper.end != ending::reply);
  CHECK(upload_end != ending::reply);
  CHECK(data.files().empty());
}
