// Lesson 10 grading. handle_sleep runs on virtual time beside the
// reference's. For the rest your server runs on a thread of its own and the
// tests are its clients, over sockets on 127.0.0.1, in real time: they
// judge what a client can see (statuses, heads, bodies, which reply came
// first, whether the connection was closed) and the server's own counters
// (connections open, requests in flight at once), never a stopwatch.
#include "sides.hpp"
#include "web_harness.hpp"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace harness;
using grade::run_real;
namespace web = common::web;
using run_t = server_run<web::server_stats>;
using serve_fn = asio::awaitable<void> (*)(web::config, web::server_stats&);

namespace {

// A config that keeps tests short: small limits, short timeouts.
web::config test_config() {
  web::config cfg;
  cfg.idle_timeout = 300ms;
  cfg.limits.max_head = 4096;
  cfg.limits.max_body = 64 * 1024;
  cfg.limits.max_headers = 32;
  cfg.max_connections = 64;
  return cfg;
}

run_t::serve_fn serving(serve_fn serve, web::config cfg) {
  return [serve, cfg](web::server_stats& s) { return serve(cfg, s); };
}

// Does the server answer GET / on a connection of its own? Empty when it
// does, else what is wrong. A failure is remembered: the later tests fail
// at once with the same message instead of waiting, each, for replies that
// cannot come.
std::string answers_hello(unsigned short port, serve_fn serve) {
  static std::map<serve_fn, std::string> failed;
  if (auto it = failed.find(serve); it != failed.end()) return it->second;
  auto out = run_real([port]() -> awaitable<std::string> {
    auto r = co_await exchange(port, get("/"), 1s);
    if (r.end != ending::reply || r.answer.status != 200)
      co_return fmt::format(
          "your server answers GET / with {}, not 200: this test needs GET / "
          "answered first (task 2)",
          describe(r));
    co_return "";
  });
  auto verdict = out.value ? *out.value : out.error;
  if (!verdict.empty()) failed[serve] = verdict;
  return verdict;
}

// Starts `serve` and waits for it to listen; fails the test if it does not,
// or does not answer GET /.
#define START(name, serve, cfg)                                           \
  run_t name(serving(serve, cfg));                                        \
  if (!name.listening())                                                  \
    FAIL("the server did not start listening within 3 s" +                \
         (name.error().empty() ? std::string()                            \
                               : ": serve() threw " + name.error()));     \
  if (auto basics = answers_hello(name.port(), serve); !basics.empty())   \
    FAIL(basics);

// One exchange whose result and arrival are recorded: `order` gets `tag`
// when the reply (or the close) comes. Spawned coroutines take what they
// need as parameters: those live in the coroutine's frame.
awaitable<void> recorded(unsigned short port, std::string bytes,
                         duration limit, exchange_result& out,
                         std::vector<std::string>& order, std::string tag) {
  out = co_await exchange(port, std::move(bytes), limit);
  order.push_back(std::move(tag));
}

const std::string hello = R"({"hello": "Asyncio"})";

}  // namespace

// ===========================================================================
// Task 1: an endpoint that waits
// ===========================================================================

namespace {

// A GET for `target`, parsed: what handle_sleep gets. The bytes are over 15
// long (on the heap) and live as long as the request is used.
struct request_for {
  explicit request_for(std::string_view target)
      : text(get(target)), req(http::parse_request(text).req) {}
  request_for(const request_for&) = delete;
  std::string text;
  http::request req;
};

struct sleep_answer {
  int status = 0;
  std::string body;
  double at = -1;  // loop time of the answer, in seconds
};

std::string shown(const sleep_answer& a) {
  if (a.at < 0) return "no answer";
  return fmt::format("{} {} after {}", a.status, a.body, secs(a.at));
}

using sleep_fn = asio::awaitable<http::response> (*)(const http::request&);

bool near(double a, double b) { return std::abs(a - b) < 1e-6; }

awaitable<void> ask(sleep_fn handle, const http::request& req,
                    sleep_answer& out) {
  auto res = co_await handle(req);
  out = {res.status, res.body, tut::seconds(tut::now().time_since_epoch()).count()};
}

// Every target at once, each a task on the timeline, on virtual time.
grade::outcome<std::vector<sleep_answer>> sleeping(
    sleep_fn handle, const std::vector<std::string>& targets) {
  return grade::run([&]() -> awaitable<std::vector<sleep_answer>> {
    std::vector<std::unique_ptr<request_for>> requests;
    std::vector<sleep_answer> answers(targets.size());
    for (const auto& t : targets) requests.push_back(std::make_unique<request_for>(t));
    auto ex = co_await asio::this_coro::executor;
    int done = 0;
    for (std::size_t i = 0; i < targets.size(); ++i)
      co_spawn(ex, tut::traced("GET " + targets[i], ask(handle, requests[i]->req, answers[i])),
               [&done](std::exception_ptr) { ++done; });
    while (done < static_cast<int>(targets.size())) co_await tut::sleep(1ms);
    co_return answers;
  });
}

}  // namespace

TEST_CASE("/sleep?ms=150 answers {\"slept_ms\": 150} after 150 ms, waiting on "
          "the loop",
          "[lesson10][task1]") {
  std::vector<std::string> one{"/sleep?ms=150"};
  auto [actual, expected] = BOTH_SIDES(sleeping, handle_sleep, one);
  grade::expect_no_exception(actual, expected, "handle_sleep");
  const auto& a = actual.value->front();
  const auto& e = expected.value->front();
  GRADE(a.status == e.status && a.body == e.body,
        fmt::format("GET /sleep?ms=150 got {}; expected {}", shown(a), shown(e)),
        actual, expected);
  auto held = actual.trace.longest_block().count();
  GRADE(held < 0.1,
        fmt::format("GET /sleep?ms=150 held the loop's thread for {}: that is "
                    "a sleep of the thread, and no other client is answered "
                    "meanwhile. Wait on the loop: tut::sleep suspends only "
                    "this coroutine",
                    secs(held)),
        actual, expected);
  GRADE(near(a.at, e.at),
        fmt::format("GET /sleep?ms=150 answered after {} of loop time; "
                    "expected after {}",
                    secs(a.at), secs(e.at)),
        actual, expected);
}

TEST_CASE("two /sleep?ms=150 at once both answer after 150 ms, not 300",
          "[lesson10][task1]") {
  std::vector<std::string> both{"/sleep?ms=150", "/sleep?ms=150"};
  auto [actual, expected] = BOTH_SIDES(sleeping, handle_sleep, both);
  grade::expect_no_exception(actual, expected, "handle_sleep");
  const auto& a = *actual.value;
  auto held = actual.trace.longest_block().count();
  GRADE(near(a[0].at, 0.15) && near(a[1].at, 0.15),
        fmt::format("two requests of 150 ms, asked together, answered after "
                    "{} and {} of loop time{}; waiting on the loop, both end "
                    "after 150 ms",
                    secs(a[0].at), secs(a[1].at),
                    held > 0.1 ? fmt::format(", and the loop's thread was "
                                             "held for {} at a time",
                                             secs(held))
                               : std::string()),
        actual, expected);
}

TEST_CASE("/sleep with no ms waits 100 ms; a bad ms gets 400 at once",
          "[lesson10][task1]") {
  std::vector<std::string> targets{"/sleep",         "/sleep?ms=0",
                                   "/sleep?ms=abc",  "/sleep?ms=-1",
                                   "/sleep?ms=10001", "/sleep?ms=",
                                   "/sleep?ms=10000x"};
  auto [actual, expected] = BOTH_SIDES(sleeping, handle_sleep, targets);
  grade::expect_no_exception(actual, expected, "handle_sleep");
  std::vector<std::string> wrong;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& a = actual.value->at(i);
    const auto& e = expected.value->at(i);
    if (a.status != e.status || a.body != e.body || !near(a.at, e.at))
      wrong.push_back(fmt::format("GET {} got {}; expected {}", targets[i],
                                  shown(a), shown(e)));
  }
  GRADE(wrong.empty(), fmt::format("  - {}", fmt::join(wrong, "\n  - ")),
        actual, expected);
}

TEST_CASE("/sleep cancelled while it waits ends as cancelled, with no reply",
          "[lesson10][task1]") {
  // A bound cancellation signal, emitted 50 ms into a wait of 150 ms: what
  // the server's watchdog or its shutdown do to a handler at work.
  auto cancelled = [](sleep_fn handle) {
    return grade::run([handle]() -> awaitable<grade::cancelled_run<int>> {
      request_for r("/sleep?ms=150");
      auto status = [](sleep_fn h, const http::request& req) -> awaitable<int> {
        co_return (co_await h(req)).status;
      };
      co_return co_await grade::cancel_after(
          tut::traced("GET /sleep?ms=150", status(handle, r.req)), 50ms);
    });
  };
  auto [actual, expected] =
      grade::both(cancelled, yours::handle_sleep, reference::handle_sleep);
  const auto& a = *actual.value;
  GRADE(a.aborted && near(a.ended_at.count(), 0.05),
        fmt::format("/sleep?ms=150, cancelled 50 ms into its wait, {}; it "
                    "should end then, with operation_aborted, as the wait "
                    "does (a handler that answers anyway writes to a "
                    "connection that is closing)",
                    grade::how_it_ended(a)),
        actual, expected);
}

// ===========================================================================
// Task 2: one connection, request after request
// ===========================================================================

TEST_CASE("GET / answers {\"hello\": \"Asyncio\"}, and one connection "
          "carries request after request",
          "[lesson10][task2]") {
  run_t server(serving(yours::serve, test_config()));
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
            i > 1 ? ": after a reply, go on reading the same connection for "
                    "the next request (keep-alive)"
                  : ""));
        break;
      }
      if (r.status != 200 || r.body != hello ||
          r.header("content-type") != "application/json")
        problems.push_back(fmt::format(
            "request {} got {} {} ({}); expected 200 {} (application/json){}",
            i, r.status, r.body, r.header("content-type"), hello,
            r.status == 501
                ? ". respond read a method other than the GET that was "
                  "sent: it reads the request from c.buffer, whose bytes "
                  "must stay in place until it returns"
                : ""));
    }
    // A client that says so gets its reply, then the connection closes.
    auto once = co_await connected(server.port());
    co_await once.send(get("/", "Connection: close\r\n"));
    reply r;
    auto end = co_await once.receive(r, 1s);
    auto after = end;
    if (end == ending::reply) after = co_await once.closed(500ms);
    if (end != ending::reply || r.status != 200)
      problems.push_back("a request with \"Connection: close\" got no 200");
    else if (after == ending::timed_out)
      problems.push_back(
          "after a request with \"Connection: close\" the connection stayed "
          "open: end the connection when respond says it does not go on");
    co_return problems;
  });
  REQUIRE(out.value);
  report(*out.value, 4,
         "handle_requests: parse what is in c.buffer; read_more while it is "
         "incomplete; respond; take the answered bytes off the buffer; loop "
         "while respond says the connection goes on.");
}

TEST_CASE("pipelined requests are answered in order, HEAD among them, and a "
          "bad one ends the connection after its 400",
          "[lesson10][task2]") {
  START(server, yours::serve, test_config());
  auto port = server.port();
  report_clients([&](std::vector<std::string>& problems) -> awaitable<void> {
    {  // Four requests in one write: four replies, in order.
      auto c = co_await connected(port);
      co_await c.send(get("/sleep?ms=30") + get("/") + head("/") +
                      get("/sleep?ms=1"));
      std::vector<std::string> bodies;
      for (int i = 0; i < 4; ++i) {
        reply r;
        if (co_await c.receive(r, 1s, i == 2) != ending::reply) break;
        bodies.push_back(i == 2 ? fmt::format("HEAD {} ({} bytes)", r.status,
                                              r.header("content-length"))
                                : r.body);
      }
      std::vector<std::string> want{R"({"slept_ms": 30})", hello,
                                    "HEAD 200 (20 bytes)", R"({"slept_ms": 1})"};
      if (bodies != want || !c.unread().empty())
        problems.push_back(fmt::format(
            "GET /sleep?ms=30, GET /, HEAD /, GET /sleep?ms=1 sent in one "
            "write got [{}]{}; expected [{}]. They came in one write, so "
            "the three after the first were in c.buffer when the first was "
            "answered, and no more bytes came to read",
            fmt::join(bodies, ", "),
            c.unread().empty() ? ""
                               : fmt::format(", then \"{}\"", printable(c.unread())),
            fmt::join(want, ", ")));
    }
    {  // A bad request in the middle: 200, 400, then the connection ends.
      auto c = co_await connected(port);
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
  }, 2, "");
}

TEST_CASE("malformed requests get 400 and a closed connection; the server "
          "keeps serving",
          "[lesson10][task2]") {
  START(server, yours::serve, test_config());
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
      {"an expectation other than 100-continue",
       "GET / HTTP/1.1\r\nHost: a\r\nExpect: coffee\r\n\r\n", 417},
      {"HTTP/1.0 without Host: answered, then closed", "GET / HTTP/1.0\r\n\r\n",
       200},
      {"empty lines before a request",
       "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200},
  };
  report(run_cases(server.port(), cases), cases.size(),
         "respond answers a request parse_request rejected, then says the "
         "connection ends: stop when it returns false.");
}

TEST_CASE("limits: 431 for oversized heads, 413 for oversized bodies, 400 "
          "for a bad Content-Length, 501 for chunked bodies",
          "[lesson10][task2]") {
  START(server, yours::serve, test_config());  // 4 KiB heads, 64 KiB bodies
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
         "respond answers a request parse_request rejected, then says the "
         "connection ends: stop when it returns false.");
}

namespace {

// What a reply to HEAD must be: the head of the GET, no body.
std::string like_get(const reply& r) {
  if (r.header("content-length") != "20" ||
      r.header("content-type") != "application/json")
    return fmt::format("HEAD / got Content-Length \"{}\", Content-Type \"{}\"; "
                       "the GET's head has 20 and application/json",
                       r.header("content-length"), r.header("content-type"));
  return "";
}

std::string says_allow(std::string_view allow, const reply& r) {
  if (r.header("allow") != allow)
    return fmt::format("405 with Allow \"{}\"; expected \"{}\"",
                       r.header("allow"), allow);
  return "";
}

}  // namespace

TEST_CASE("HEAD on every GET route, 404 for unknown paths, 405 with Allow "
          "for a method a path does not take, 501 for unknown methods; the "
          "connection stays open",
          "[lesson10][task2]") {
  START(server, yours::serve, test_config());
  std::vector<bad_case> cases{
      {"HEAD /: the head of GET /, no body", head("/"), 200, false, false,
       like_get},
      {"HEAD /sleep?ms=1", head("/sleep?ms=1"), 200, false},
      {"HEAD of an unknown path: 404, no body", head("/nope"), 404, false},
      {"an unknown path", get("/nope"), 404, false},
      {"a path one segment too deep", get("/sleep/1"), 404, false},
      {"POST to a GET endpoint", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", 405,
       false, false, [](const reply& r) { return says_allow("GET, HEAD", r); }},
      {"DELETE /sleep", "DELETE /sleep HTTP/1.1\r\nHost: a\r\n\r\n", 405, false},
      {"an unknown method (RFC 9110: 501, not 405)",
       "BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501, false},
      {"an unknown method on an unknown path",
       "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", 501, false},
      {"HTTP/1.0 asking to keep the connection: kept, and the reply says so",
       "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, false, false,
       [](const reply& r) {
         return r.header("connection") == "keep-alive"
                    ? std::string()
                    : fmt::format("the reply says Connection \"{}\"; an "
                                  "HTTP/1.0 client closes unless it says "
                                  "keep-alive",
                                  r.header("connection"));
       }},
      {"/sleep with ms not a number", get("/sleep?ms=abc"), 400, false},
  };
  report(run_cases(server.port(), cases), cases.size(),
         "These answers come from respond (given): send what it returns, "
         "and go on reading the connection while it says so.");
}

TEST_CASE("a request sent a byte at a time, bodies cut short, resets: the "
          "server keeps serving",
          "[lesson10][task2]") {
  START(server, yours::serve, test_config());
  auto port = server.port();
  report_clients([&](std::vector<std::string>& problems) -> awaitable<void> {
    auto check_serving = [&](std::string what) -> awaitable<void> {
      if (!co_await still_serving(port))
        problems.push_back("after " + what +
                           " the server no longer answers GET /");
    };
    {  // A request sent a byte at a time.
      auto c = co_await connected(port);
      for (char ch : get("/")) {
        co_await c.send(std::string_view(&ch, 1));
        co_await tut::sleep(1ms);
      }
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end != ending::reply || r.status != 200)
        problems.push_back(
            "a request sent one byte at a time got no 200: read_more until "
            "parse_request no longer says incomplete");
    }
    {  // Half a request line, then EOF: closed, no reply.
      auto c = co_await connected(port);
      co_await c.send("GET /sle");
      c.shutdown_send();
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end == ending::reply || end == ending::timed_out)
        problems.push_back(fmt::format(
            "half a request line then EOF got {}; expected a close",
            to_string(end)));
    }
    co_await check_serving("half a request line");
    {  // A head cut short, then a reset.
      auto abrupt = co_await connected(port);
      co_await abrupt.send("GET / HTTP/1.1\r\nHo");
      abrupt.reset();
      co_await tut::sleep(20ms);
    }
    co_await check_serving("a connection reset mid-request");
    {  // A reset while the request is being handled: the reply has nowhere
       // to go.
      auto c = co_await connected(port);
      co_await c.send(get("/sleep?ms=50"));
      co_await tut::sleep(10ms);
      c.reset();
      co_await tut::sleep(100ms);
    }
    co_await check_serving("a reset while its request was handled");
    // The last reply may be read before the server has counted it done.
    co_await eventually([&] { return server.stats().in_flight == 0; }, 300ms);
    if (server.stats().in_flight != 0)
      problems.push_back(fmt::format(
          "{} requests are still in flight after their clients left",
          server.stats().in_flight.load()));
  }, 5,
         "End the connection when read_more or respond returns false.");
}

// ===========================================================================
// Task 3: a coroutine per connection
// ===========================================================================

namespace {

struct sleepers_outcome {
  grade::outcome<std::vector<int>> run;  // each client's status
  int peak = 0;                          // the server's peak in flight
  int peak_connections = 0;
  duration lag{};                        // the longest its loop was held
};

awaitable<void> sleeper(unsigned short port, int& status) {
  auto r = co_await exchange(port, get("/sleep?ms=150"), 1500ms);
  status = r.answer.status;
}

sleepers_outcome fifty_sleepers(serve_fn serve) {
  sleepers_outcome out;
  run_t server(serving(serve, test_config()));
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
  out.peak_connections = server.stats().peak_connections;
  out.lag = server.worst_lag();
  return out;
}

}  // namespace

TEST_CASE("50 clients asking /sleep?ms=150 at once are all in flight at "
          "once",
          "[lesson10][task3]") {
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(fifty_sleepers, serve);
  if (!actual.run.value)
    FAIL("the server did not start, or the clients failed");
  auto answered = std::count(actual.run.value->begin(),
                             actual.run.value->end(), 200);
  GRADE(actual.peak == 50,
        fmt::format("at most {} of the 50 requests were in flight at once "
                    "(the reference: {}), and {} were answered in time. The "
                    "server had at most {} connection{} open at once{}",
                    actual.peak, expected->peak, answered,
                    actual.peak_connections,
                    actual.peak_connections == 1 ? "" : "s",
                    ms(actual.lag) > 50
                        ? fmt::format(", and its loop was held for up to "
                                      "{:.0f} ms at a time",
                                      ms(actual.lag))
                        : std::string()),
        actual.run, expected->run);
  GRADE(answered == 50,
        fmt::format("{} of the 50 /sleep requests got a 200", answered),
        actual.run, expected->run);
}

TEST_CASE("while one client keeps its connection open, another is answered",
          "[lesson10][task3]") {
  auto cfg = test_config();
  cfg.idle_timeout = 3s;  // the first client keeps its connection
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([port]() -> awaitable<std::string> {
    auto holder = co_await connected(port);
    co_await holder.send(get("/"));
    reply r;
    co_await holder.receive(r, 1s);
    auto other = co_await exchange(port, get("/"), 1s);
    if (other.end != ending::reply)
      co_return fmt::format(
          "while one client kept its connection open after a reply, another "
          "client's GET / got {}: the server serves one connection at a time",
          describe(other));
    co_return "";
  });
  REQUIRE(out.value);
  if (!out.value->empty()) FAIL(*out.value);
}

// ===========================================================================
// Task 4: the connection cap
// ===========================================================================

TEST_CASE("one connection over the cap gets 503; once one closes, the "
          "server takes connections again",
          "[lesson10][task4]") {
  auto cfg = test_config();
  cfg.max_connections = 4;
  cfg.idle_timeout = 3s;
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    // The earlier check's connection must be gone first.
    co_await eventually([&] { return server.stats().connections == 0; }, 1s);
    std::vector<std::unique_ptr<client>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::make_unique<client>(ex));
      co_await held.back()->connect(port);
    }
    if (!co_await eventually([&] { return server.stats().connections == 4; },
                             500ms))
      co_return fmt::format(
          "4 clients connected and kept their connections; the server counts "
          "only {}: it does not serve them all at once (task 3)",
          server.stats().connections.load());
    auto fifth = co_await connected(port);
    co_await fifth.send(get("/"));
    reply r;
    auto end = co_await fifth.receive(r, 1s);
    if (end != ending::reply || r.status != 503)
      co_return fmt::format(
          "the 5th connection, with 4 open and a cap of 4 "
          "(cfg.max_connections), got {}; expected 503",
          end == ending::reply ? fmt::format("{} {}", r.status, r.body)
                               : to_string(end));
    if (server.stats().connections != 4)
      co_return fmt::format("after turning the 5th away, the server counts {} "
                            "connections; expected 4",
                            server.stats().connections.load());
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
// Task 5: the watchdog
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
  auto c = co_await connected(port);
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
          "[lesson10][task5]") {
  START(server, yours::serve, test_config());  // idle 300 ms
  auto port = server.port();
  std::vector<slow> clients{
      {"a client that connects and sends nothing", "", ""},
      {"a client that stops in the request line", "GET /sle", ""},
      {"a client that never sends the blank line",
       "GET / HTTP/1.1\r\nHost: a\r\n", ""},
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
        "A client may take up to cfg.idle_timeout to send a request; after "
        "that, the connection ends, however much of the request has come.\n\n{}",
        problems.size(), clients.size(), fmt::join(problems, "\n  - "),
        tut::render_timeline(out.trace)));
  auto after = run_real([&] { return still_serving(port); });
  REQUIRE(after.value);
  CHECK(*after.value);
}

TEST_CASE("the idle timeout does not cut off a request being handled, nor "
          "a client that comes back in time",
          "[lesson10][task5]") {
  auto cfg = test_config();
  cfg.idle_timeout = 150ms;
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::string> {
    auto c = co_await connected(port);
    co_await c.send(get("/sleep?ms=250"));
    reply r;
    auto end = co_await tut::traced("GET /sleep?ms=250", c.receive(r, 2s));
    if (end != ending::reply || r.status != 200)
      co_return fmt::format(
          "a request that takes 250 ms got {} (idle timeout 150 ms): the "
          "idle timeout is for the client sending its request, not for the "
          "server answering it. respond lifts c.deadline (time_point::max()) "
          "while the handler works; the watchdog must look at c.deadline "
          "again when it wakes",
          end == ending::reply ? fmt::to_string(r.status) : to_string(end));
    co_await tut::sleep(50ms);
    co_await c.send(get("/"));
    end = co_await tut::traced("GET / after 50 ms", c.receive(r, 1s));
    if (end != ending::reply)
      co_return fmt::format(
          "a request sent 50 ms after the previous reply got {} (idle "
          "timeout 150 ms): each request gets the whole idle timeout",
          to_string(end));
    end = co_await tut::traced("idle", c.closed(500ms));
    if (end == ending::timed_out)
      co_return "after a long request, the connection was left idle and "
                "stayed open for 0.5 s (idle timeout 150 ms): while the "
                "deadline was lifted, the watchdog must still wake, at least "
                "every idle_timeout, to see it come back";
    co_return "";
  });
  REQUIRE(out.value);
  if (!out.value->empty())
    FAIL(*out.value + "\n\n" + tut::render_timeline(out.trace));
}

namespace {

// serve() on this loop, cancelled through a bound signal 300 ms in, while
// one client waits idle and one waits for /sleep?ms=5000.
struct cancel_outcome {
  grade::outcome<grade::cancelled_run<grade::nothing>> run;
  exchange_result sleeper;
  std::vector<std::string> order;
  ending idle_end = ending::timed_out;
  int connections_after = -1;
  double took = -1;  // from the cancel to serve()'s end, in seconds
  duration lag{};    // the longest the loop was held
};

awaitable<void> idle_client(unsigned short port, ending& end) {
  auto c = co_await connected(port);
  co_await c.send(get("/"));
  reply r;
  co_await c.receive(r, 1s);
  end = co_await c.closed(1500ms);
}

cancel_outcome cancelled_server(serve_fn serve) {
  cancel_outcome o;
  web::server_stats stats;
  auto cfg = test_config();
  cfg.idle_timeout = 5s;
  o.run = run_real([&]() -> awaitable<grade::cancelled_run<grade::nothing>> {
    auto ex = co_await asio::this_coro::executor;
    tut::lag_options watch;
    watch.threshold = 50ms;
    watch.interval = 10ms;
    watch.on_warning = [&o](duration lag) { o.lag = std::max(o.lag, lag); };
    tut::lag_monitor monitor(ex, watch);
    auto clients = [&]() -> awaitable<void> {
      co_await eventually([&] { return stats.port != 0; }, 1s);
      auto port = stats.port.load();
      co_spawn(ex, tut::traced("idle client", idle_client(port, o.idle_end)),
               detached);
      co_spawn(ex,
               tut::traced("GET /sleep?ms=5000",
                           recorded(port, get("/sleep?ms=5000"), 1500ms,
                                    o.sleeper, o.order, "sleeper")),
               detached);
    };
    co_spawn(ex, clients(), detached);
    // A serve() that does not end is given up on after 2 s: the loop stops.
    auto cancel_at = tut::seconds((tut::now() + 300ms).time_since_epoch());
    auto r = co_await cancel_serve(serve, cfg, stats, 300ms, 2s);
    o.connections_after = stats.connections;
    if (r.ended())
      o.took = (r.ended_at - cancel_at).count();
    else
      stop_loop(ex);
    co_return r;
  });
  return o;
}

}  // namespace

TEST_CASE("serve() cancelled through a bound signal closes every "
          "connection, even one whose handler is at work, and ends as "
          "cancelled",
          "[lesson10][task5]") {
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(cancelled_server, serve);
  grade::expect_no_exception(actual, expected, "the scenario");
  const auto& a = *actual.run.value;
  GRADE(a.aborted && actual.took < 0.5,
        fmt::format("serve(), cancelled 300 ms in with a request of 5 s at "
                    "work, {}{}; it should close its connections and end "
                    "with operation_aborted at once. {}",
                    a.ended() ? ended_as(a) : "had not ended 1.7 s later",
                    a.ended() ? fmt::format(" {} after the cancel",
                                            secs(actual.took))
                              : "",
                    ms(actual.lag) > 100
                        ? fmt::format("The loop's thread was held for up to "
                                      "{:.0f} ms at a time: nothing else ran "
                                      "meanwhile, cancellations neither",
                                      ms(actual.lag))
                        : "Closing a connection expires its deadline and "
                          "cancels c.timer: the watchdog wakes, finds the "
                          "deadline passed and returns, and the || cancels "
                          "the requests"),
        actual.run, expected->run);
  GRADE(actual.connections_after == 0 && actual.sleeper.end != ending::reply &&
            actual.idle_end != ending::timed_out,
        fmt::format("when serve() ended, {} connections were open; the idle "
                    "client saw {}, the one waiting for /sleep?ms=5000 {}",
                    actual.connections_after, to_string(actual.idle_end),
                    describe(actual.sleeper)),
        actual.run, expected->run);
}
