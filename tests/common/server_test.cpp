// The server core (lessons/common/server.hpp and serve.hpp) tested on its
// own, on loopback: what every route gets (HEAD, 404/405/501, the body when
// asked, 100 Continue), and the three doors later lessons open: a reply in
// pieces, a connection taken over after its head, cleanup after the reply.
// The lessons' tests check the same server through the learner's code.
#include "common/serve.hpp"

#include "web_harness.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace harness;
namespace web = common::web;

namespace {

// What the doors' handlers saw, for the tests to read.
struct seen_t {
  std::vector<std::string> endings;  // "sent", "failed", "gone", in order
  std::string echoed;                 // what the upgraded handler read
  std::string body;                   // what /body read
};

std::string name_of(web::ending e) {
  switch (e) {
    case web::ending::sent: return "sent";
    case web::ending::failed: return "failed";
    case web::ending::gone: return "gone";
  }
  return "?";
}

std::vector<web::route> routes(seen_t& seen) {
  using ctx_t = web::request_context;
  return {
      {"GET", "/",
       [](ctx_t&) -> awaitable<http::response> {
         co_return http::json(200, R"({"hello": "Asyncio"})");
       }},
      // Door 1: the reply in pieces, as chunks.
      {"GET", "/stream",
       [](ctx_t& ctx) -> awaitable<http::response> {
         http::response head{.content_type = "text/plain"};
         co_await ctx.send_head(head);
         co_await ctx.send("the first piece, ");
         co_await tut::sleep(5ms);
         co_await ctx.send("then the second");
         co_return http::response{};
       }},
      // Door 2: the connection taken over after a 101; it echoes what comes
      // in capitals until "bye", then hands the connection back to close.
      {"GET", "/upgrade",
       [&seen](ctx_t& ctx) -> awaitable<http::response> {
         http::response head{
             .status = 101,
             .extra_headers = "Upgrade: shout\r\nConnection: Upgrade\r\n"};
         co_await ctx.take_over(head);
         std::string in = std::move(ctx.leftover());
         char chunk[1024];
         while (in.find("bye") == std::string::npos) {
           auto [ec, n] = co_await ctx.socket().async_read_some(
               asio::buffer(chunk), as_tuple(use_awaitable));
           if (ec) co_return http::response{};
           in.append(chunk, n);
         }
         seen.echoed = in;
         for (auto& ch : in) ch = static_cast<char>(std::toupper(ch));
         co_await asio::async_write(ctx.socket(), asio::buffer(in),
                                    as_tuple(use_awaitable));
         co_return http::response{};
       }},
      // Door 3: cleanup after the reply, however it ended.
      {"GET", "/cleanup",
       [&seen](ctx_t& ctx) -> awaitable<http::response> {
         ctx.on_finish([&seen](web::ending e) {
           seen.endings.push_back("first registered: " + name_of(e));
         });
         ctx.on_finish([&seen](web::ending e) {
           seen.endings.push_back("last registered: " + name_of(e));
         });
         auto ms = http::query_value(ctx.request().query, "ms");
         if (ms) co_await tut::sleep(std::chrono::milliseconds(*http::to_number(*ms)));
         if (http::query_value(ctx.request().query, "throw"))
           throw std::runtime_error("a handler that fails");
         co_return http::json(200, R"({"cleaned": "later"})");
       }},
      // The body, when the handler asks; a refusal before it.
      {"POST", "/body",
       [&seen](ctx_t& ctx) -> awaitable<http::response> {
         ctx.on_finish([&seen](web::ending e) {
           seen.endings.push_back("body: " + name_of(e));
         });
         if (http::query_value(ctx.request().query, "refuse"))
           co_return http::json_error(401, "not you");
         seen.body = std::string(co_await ctx.body());
         co_return http::json(201, fmt::format(R"({{"bytes": {}}})",
                                               seen.body.size()));
       }},
      {"GET", "/items/{id}",
       [](ctx_t& ctx) -> awaitable<http::response> {
         co_return http::json(200, fmt::format(R"({{"id": "{}"}})", ctx.param()));
       }},
  };
}

using problems_t = std::vector<std::string>;

// A connection of its own to the server at `port`, `bytes` sent on it.
awaitable<client> sent(unsigned short port, std::string bytes) {
  auto c = co_await connected(port);
  co_await c.send(bytes);
  co_return c;
}

// A server of the core on this loop, serving until `clients(port,
// problems)` is done; then the test fails with the problems they noted.
template <typename F>
void expect_no_problems(seen_t& seen, F clients, web::config cfg = {}) {
  auto out = grade::run_real([&]() -> awaitable<problems_t> {
    web::server_stats stats;
    auto srv = std::make_shared<web::server>(co_await asio::this_coro::executor,
                                             cfg, stats, routes(seen));
    problems_t problems;
    auto r = co_await (clients(stats.port.load(), problems) ||
                       web::serve_until_cancelled(*srv, web::listener));
    if (r.index() == 1)
      throw std::runtime_error("the server stopped before its clients were done");
    co_return problems;
  });
  if (out.exception) FAIL("the scenario threw: " + out.error);
  if (!out.value->empty())
    FAIL(fmt::format("  - {}", fmt::join(*out.value, "\n  - ")));
}

}  // namespace

TEST_CASE("door 1: a handler writes its reply in pieces; the connection "
          "carries the next request after it",
          "[server]") {
  seen_t seen;
  expect_no_problems(seen, [](unsigned short port, problems_t& problems) -> awaitable<void> {
    auto c = co_await sent(port, get("/stream") + get("/"));
    reply r;
    auto end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.body != "the first piece, then the second" ||
        r.header("transfer-encoding") != "chunked")
      problems.push_back(fmt::format("GET /stream got {}: {} \"{}\"", to_string(end), r.status, r.body));
    end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.status != 200)
      problems.push_back("GET / after the stream, on the same connection, got no 200");
    // HTTP/1.0 knows no chunks: the pieces as they are, then the close.
    auto old = co_await sent(port, "GET /stream HTTP/1.0\r\n\r\n");
    end = co_await old.receive(r, 1s);
    if (end != ending::reply ||
        r.body != "the first piece, then the second" || r.keep_alive)
      problems.push_back(fmt::format("GET /stream over HTTP/1.0 got {} \"{}\"",
                                     r.status, r.body));
    // HEAD: the head, no pieces.
    auto h = co_await sent(port, head("/stream") + get("/"));
    auto head_end = co_await h.receive(r, 1s, true);
    auto head_status = r.status;
    auto get_end = co_await h.receive(r, 1s);
    if (head_end != ending::reply || head_status != 200 ||
        get_end != ending::reply || r.status != 200)
      problems.push_back("HEAD /stream then GET / lost their framing");
  });
}

TEST_CASE("door 2: a handler takes the connection over after a 101, with "
          "what the client sent after the request",
          "[server]") {
  seen_t seen;
  expect_no_problems(seen, [](unsigned short port, problems_t& problems) -> awaitable<void> {
    auto c = co_await sent(port, get("/upgrade") + "hello, ");
    reply r;
    auto end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.status != 101 || r.header("upgrade") != "shout")
      problems.push_back(fmt::format("GET /upgrade got {}: {}", to_string(end), r.status));
    co_await tut::sleep(20ms);  // the watchdog must not end it meanwhile
    co_await c.send("server, bye");
    co_await c.closed(1s);
    if (c.unread() != "HELLO, SERVER, BYE")
      problems.push_back(fmt::format("after the upgrade the client read \"{}\"",
                                     printable(c.unread())));
  }, web::config{.idle_timeout = 10ms});
  CHECK(seen.echoed == "hello, server, bye");
}

TEST_CASE("door 3: cleanups run once, the last registered first, after the "
          "reply, after a failure, and when the client has gone",
          "[server]") {
  seen_t seen;
  expect_no_problems(seen, [](unsigned short port, problems_t& problems) -> awaitable<void> {
    auto ok = co_await exchange(port, get("/cleanup"), 1s);
    auto failed = co_await exchange(port, get("/cleanup?throw=1"), 1s);
    if (ok.answer.status != 200 || failed.answer.status != 500)
      problems.push_back(fmt::format("got {} and {}; expected 200 and 500",
                                     describe(ok), describe(failed)));
    // A client that resets while the handler works.
    auto c = co_await sent(port, get("/cleanup?ms=50"));
    co_await tut::sleep(10ms);
    c.reset();
    co_await tut::sleep(100ms);
  });
  std::vector<std::string> want{
      "last registered: sent",   "first registered: sent",
      "last registered: failed", "first registered: failed",
      "last registered: gone",   "first registered: gone"};
  CHECK(seen.endings == want);
}

TEST_CASE("the body when a handler asks: 100 Continue first if asked; a "
          "refusal before it closes the connection",
          "[server]") {
  seen_t seen;
  expect_no_problems(seen, [](unsigned short port, problems_t& problems) -> awaitable<void> {
    std::string body(40, 'b');
    auto head_of = [&](std::string_view target) {
      return fmt::format("POST {} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue"
                         "\r\nContent-Length: {}\r\n\r\n", target, body.size());
    };
    auto c = co_await sent(port, head_of("/body"));
    reply r;
    auto end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.status != 100)
      problems.push_back(fmt::format("no 100 Continue: {}", r.status));
    co_await c.send(body);
    end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.status != 201)
      problems.push_back(fmt::format("after the body: {}", r.status));
    co_await c.send(get("/"));  // still kept
    end = co_await c.receive(r, 1s);
    if (end != ending::reply || r.status != 200)
      problems.push_back("GET / after the body got no 200");

    auto refused = co_await sent(port, head_of("/body?refuse=1"));
    end = co_await refused.receive(r, 1s);
    auto after = end;
    if (end == ending::reply) after = co_await refused.closed(1s);
    if (end != ending::reply || r.status != 401 || r.keep_alive ||
        after == ending::timed_out)
      problems.push_back(fmt::format("a refusal got {}, connection {}", r.status,
                                     r.keep_alive ? "kept" : "closed"));
    // A body cut short: the handler's body() throws, nothing is answered.
    auto cut = co_await sent(port, "POST /body HTTP/1.1\r\nHost: a\r\n"
                                   "Content-Length: 40\r\n\r\nonly this");
    cut.shutdown_send();
    end = co_await cut.receive(r, 1s);
    if (end == ending::reply)
      problems.push_back(fmt::format("a body cut short got {}", r.status));
  });
  CHECK(seen.body == std::string(40, 'b'));
  std::vector<std::string> want{"body: sent", "body: sent", "body: gone"};
  CHECK(seen.endings == want);
}

TEST_CASE("routes: {name} segments, HEAD on GET, 404, 405 with Allow, 501",
          "[server]") {
  seen_t seen;
  expect_no_problems(seen, [](unsigned short port, problems_t& problems) -> awaitable<void> {
    struct want {
      std::string request;
      int status;
      std::string check;  // a body, or "Allow: ..."
    };
    std::vector<want> cases{
        {get("/items/42"), 200, R"({"id": "42"})"},
        {get("/items/"), 404, ""},
        {get("/items/4/2"), 404, ""},
        {head("/items/42"), 200, ""},
        {"DELETE /items/42 HTTP/1.1\r\nHost: a\r\n\r\n", 405, "Allow: GET, HEAD"},
        {"GET /body HTTP/1.1\r\nHost: a\r\n\r\n", 405, "Allow: POST"},
        {"BREW /items/42 HTTP/1.1\r\nHost: a\r\n\r\n", 501, ""},
        {"OPTIONS /items/42 HTTP/1.1\r\nHost: a\r\n\r\n", 204, "Allow: GET, HEAD"},
        {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 204,
         "Allow: GET, HEAD, POST"},
    };
    for (const auto& w : cases) {
      auto r = co_await exchange(port, w.request, 1s);
      bool ok = r.end == ending::reply && r.answer.status == w.status;
      if (ok && w.check.starts_with("Allow: "))
        ok = r.answer.header("allow") == w.check.substr(7);
      else if (ok && !w.check.empty())
        ok = r.answer.body == w.check;
      if (ok && w.request.starts_with("HEAD "))
        ok = r.answer.body.empty() && r.answer.header("content-length") == "12";
      if (!ok)
        problems.push_back(fmt::format("{} got {}", printable(w.request), describe(r)));
    }
  });
}
