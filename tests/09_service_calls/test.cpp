// Lesson 09 grading: each scenario starts real HTTP services on 127.0.0.1
// and runs your code, then the reference, against them on the real clock.
// Overlap is judged by what the services saw (requests in flight at once,
// connections, arrival order), never by how long a run took.
#include "sides.hpp"

#include "fake_services.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace asio::experimental::awaitable_operators;
using fake::ms;
using fake::route;

namespace {

// The lesson's names, once for your code and once for the reference, so
// that one scenario template runs either.
#define SIDE(name, ns)                                                    \
  struct name {                                                           \
    using http_client = ns::http_client;                                  \
    using response = ns::response;                                        \
    using bad_response = ns::bad_response;                                \
    using upstream_error = ns::upstream_error;                            \
    using dashboard = ns::dashboard;                                      \
    using service_urls = ns::service_urls;                                \
    static auto load_dashboard(http_client& c, service_urls urls) {       \
      return ns::load_dashboard(c, std::move(urls));                      \
    }                                                                     \
    static auto fetch_all(http_client& c, std::vector<std::string> urls,  \
                          std::size_t limit) {                            \
      return ns::fetch_all(c, std::move(urls), limit);                    \
    }                                                                     \
  };
SIDE(your_code, yours)
SIDE(reference_code, reference)
#undef SIDE

// What the services saw during one run.
struct seen_t {
  std::size_t peak = 0;         // requests in flight at the same time
  std::size_t connections = 0;  // TCP connections they came on
  std::size_t requests = 0;
  std::vector<std::string> log;  // "user/user in", "orders/orders out" ...
};

seen_t summary(const fake::observer& o) {
  return {o.peak(), o.connections(), o.requests(), o.log()};
}

std::string shown(const std::vector<std::string>& log) {
  return fmt::format("[{}]", fmt::join(log, ", "));
}

template <typename T>
struct scenario {
  fake::run_result<T> result;
  seen_t seen;
  const grade::outcome<T>& run() const { return result.run; }
};

// The asio error code of what a run threw, if it was an asio::system_error.
std::optional<asio::error_code> code_of(const std::exception_ptr& e) {
  if (!e) return std::nullopt;
  try {
    std::rethrow_exception(e);
  } catch (const asio::system_error& error) {
    return error.code();
  } catch (...) {
    return std::nullopt;
  }
}

// "returned ...", "threw asio::system_error: ...", "was still waiting".
template <typename T, typename Show>
std::string ending(const fake::run_result<T>& r, Show show) {
  if (r.stuck && !r.run.value)
    return fmt::format("was still waiting after {}, even once every service "
                       "had answered",
                       secs(tut::seconds(fake::patience).count()));
  if (r.run.value) return "returned " + show(*r.run.value);
  return fmt::format("threw {}: {}", r.run.error_type, r.run.error);
}

// A request that failed at once but came out as a timeout raced the timer
// with plain `||`.
std::string or_hint(const std::optional<asio::error_code>& code) {
  if (code != asio::error::timed_out) return "";
  return ". `||` waits for the first *success*: a request that fails makes "
         "it wait for the timer. Spawn the request with "
         "as_tuple(use_awaitable) so that its error ends the race";
}

// If your run threw or hung where the reference did not, say so first.
template <typename A, typename B>
void expect_finished(const fake::run_result<A>& yours_run,
                     const fake::run_result<B>& reference_run,
                     std::string_view doing) {
  if (yours_run.stuck && !yours_run.run.value)
    FAIL(grade::explain(
        fmt::format("{} was still waiting after {}, even once every service "
                    "had answered: something waits for an event that never "
                    "comes",
                    doing, secs(tut::seconds(fake::patience).count())),
        yours_run.run.trace, reference_run.run.trace));
  grade::expect_no_exception(yours_run.run, reference_run.run, doing);
}

// ---------------------------------------------------------------------
// The client itself (task 1 is keep-alive; the rest is given).
// ---------------------------------------------------------------------

struct exchange_summary {
  int get_status = 0;
  std::string get_body;
  std::string content_type;
  std::string transfer_encoding;
  int post_status = 0;
  std::size_t post_echo_size = 0;
  bool post_echo_equal = false;
  std::string post_length_seen;  // the Content-Length the server received
};

template <typename Side>
scenario<exchange_summary> get_and_post(route get_route) {
  fake::observer seen;
  fake::service svc(seen, "svc",
                    {get_route, route{.path = "/echo", .echo = true}});
  auto get_url = svc.url(get_route.path);
  auto post_url = svc.url("/echo");
  auto r = fake::run_real(seen, [&]() -> awaitable<exchange_summary> {
    typename Side::http_client client(5s);
    exchange_summary out;
    auto got = co_await client.get(get_url);
    out.get_status = got.status;
    out.get_body = got.body;
    out.content_type = got.headers["content-type"];
    out.transfer_encoding = got.headers["transfer-encoding"];
    std::string sent(100'000, 'x');
    for (std::size_t i = 0; i < sent.size(); i += 7) sent[i] = 'y';
    auto posted = co_await client.post(post_url, sent);
    out.post_status = posted.status;
    out.post_echo_size = posted.body.size();
    out.post_echo_equal = posted.body == sent;
    out.post_length_seen = posted.headers["x-received-length"];
    co_return out;
  });
  return {std::move(r), summary(seen)};
}

TEST_CASE("GET and POST: a Content-Length body comes back whole, headers "
          "in lower case",
          "[lesson09][task1]") {
  auto hello = route{.path = "/hello", .body = "hello, world"};
  auto actual = get_and_post<your_code>(hello);
  auto expected = get_and_post<reference_code>(hello);
  expect_finished(actual.result, expected.result, "GET then POST");
  const auto& a = *actual.run().value;
  GRADE(a.get_status == 200 && a.get_body == "hello, world",
        fmt::format("GET /hello gave status {} and body \"{}\"; the service "
                    "sent 200 and \"hello, world\"",
                    a.get_status, a.get_body),
        actual.run(), expected.run());
  GRADE(a.content_type == "text/plain",
        fmt::format("headers[\"content-type\"] is \"{}\"; header names are "
                    "kept in lower case, and the service sent text/plain",
                    a.content_type),
        actual.run(), expected.run());
  GRADE(a.post_status == 200 && a.post_echo_equal &&
            a.post_length_seen == "100000",
        fmt::format("POST /echo of 100000 bytes: status {}, the service saw "
                    "Content-Length \"{}\" and echoed {} bytes{}",
                    a.post_status, a.post_length_seen, a.post_echo_size,
                    a.post_echo_equal ? "" : ", not the ones sent"),
        actual.run(), expected.run());
}

TEST_CASE("a chunked body is put back together from its chunks",
          "[lesson09][task1]") {
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += fmt::format("line {}\n", i);
  auto chunked = route{.path = "/chunked", .body = long_text, .chunked = true};
  auto actual = get_and_post<your_code>(chunked);
  auto expected = get_and_post<reference_code>(chunked);
  expect_finished(actual.result, expected.result, "GET /chunked");
  const auto& a = *actual.run().value;
  GRADE(a.transfer_encoding == "chunked",
        fmt::format("the service's Transfer-Encoding came back as \"{}\"",
                    a.transfer_encoding),
        actual.run(), expected.run());
  GRADE(a.get_status == 200 && a.get_body == long_text,
        fmt::format("GET /chunked gave status {} and {} bytes; the service "
                    "sent {} bytes in chunks",
                    a.get_status, a.get_body.size(), long_text.size()),
        actual.run(), expected.run());
}

// A server that is not HTTP answers `answer` to one request.
template <typename Side>
fake::run_result<std::string> ask_raw_server(std::string answer) {
  fake::observer seen;
  return fake::run_real(seen, [&]() -> awaitable<std::string> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::acceptor acceptor(
        ex, {asio::ip::make_address("127.0.0.1"), 0});
    auto url = fmt::format("http://127.0.0.1:{}/",
                           acceptor.local_endpoint().port());
    asio::co_spawn(ex, fake::answer_once(std::move(acceptor), answer),
                   asio::detached);
    typename Side::http_client client(1s);
    auto reply = co_await client.get(url);
    co_return fmt::format("status {}, body \"{}\"", reply.status, reply.body);
  });
}

TEST_CASE("a server that does not speak HTTP: a bad_response that says "
          "what was wrong",
          "[lesson09][task1]") {
  struct bad_case {
    std::string answer;
    std::string says;
    std::string msg;
  };
  std::vector<bad_case> cases{
      {"hello there\r\n\r\n", "malformed status line 'hello there'",
       "a status line that is not HTTP"},
      {"", "closed before the status line", "a server that hangs up"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
       "closed in the middle of the body", "a body cut short"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       "bad chunk size 'zz'", "a chunk size that is not hex"},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line",
       "a header line without a colon"},
  };
  for (const auto& c : cases) {
    auto actual = ask_raw_server<your_code>(c.answer);
    auto expected = ask_raw_server<reference_code>(c.answer);
    auto show = [](const std::string& s) { return s; };
    bool right_type = false;
    if (actual.run.exception) {
      try {
        std::rethrow_exception(actual.run.exception);
      } catch (const your_code::bad_response&) {
        right_type = true;
      } catch (...) {
      }
    }
    GRADE(right_type && actual.run.error.find(c.says) != std::string::npos &&
              actual.run.error.find("127.0.0.1:") != std::string::npos,
          fmt::format("{}: your client {}; it should throw bad_response "
                      "naming host:port and saying \"{}\"{}",
                      c.msg, ending(actual, show), c.says,
                      or_hint(code_of(actual.run.exception))),
          actual.run, expected.run);
  }
}

// Requests to one service: `waves` lists how many go at once, wave after
// wave. The service holds each wave until all of it has arrived.
template <typename Side>
scenario<int> waves_of_requests(std::vector<int> waves) {
  fake::observer seen;
  std::size_t widest = *std::max_element(waves.begin(), waves.end());
  fake::service svc(
      seen, "svc",
      {route{.path = "/a", .body = "a", .company = widest},
       route{.path = "/b", .body = "b", .company = widest}});
  auto a = svc.url("/a");
  auto b = svc.url("/b");
  auto r = fake::run_real(seen, [&]() -> awaitable<int> {
    typename Side::http_client client(5s);
    int answered = 0;
    for (int wave : waves) {
      if (wave == 1) {
        auto reply = co_await client.get(a);
        answered += reply.status == 200;
      } else {
        auto [x, y] = co_await (client.get(a) && client.get(b));
        answered += (x.status == 200) + (y.status == 200);
      }
    }
    co_return answered;
  });
  return {std::move(r), summary(seen)};
}

TEST_CASE("keep-alive: three requests in turn travel on one connection",
          "[lesson09][task1]") {
  auto actual = waves_of_requests<your_code>({1, 1, 1});
  auto expected = waves_of_requests<reference_code>({1, 1, 1});
  expect_finished(actual.result, expected.result, "three GETs in turn");
  GRADE(actual.seen.connections == 1,
        fmt::format("the service saw {} connections for 3 requests made one "
                    "after the other. After a response is read to its end, "
                    "put its connection in the pool (state.idle) and take it "
                    "from there for the next request to the same host:port",
                    actual.seen.connections),
        actual.run(), expected.run());
}

TEST_CASE("keep-alive: requests at the same time each get a connection of "
          "their own, and later ones reuse them",
          "[lesson09][task1]") {
  auto actual = waves_of_requests<your_code>({2, 1, 2});
  auto expected = waves_of_requests<reference_code>({2, 1, 2});
  expect_finished(actual.result, expected.result,
                  "two GETs at once, one, then two at once");
  GRADE(*actual.run().value == 5,
        fmt::format("{} of the 5 requests were answered with status 200",
                    *actual.run().value),
        actual.run(), expected.run());
  GRADE(actual.seen.peak == 2,
        fmt::format("the service had at most {} of your requests at once; "
                    "two requests made together should both be in flight. "
                    "A connection carries one exchange at a time: take it "
                    "out of the pool while it is in use",
                    actual.seen.peak),
        actual.run(), expected.run());
  GRADE(actual.seen.connections == 2,
        fmt::format("the service saw {} connections; 2 are enough: the "
                    "third and later requests can reuse the two opened for "
                    "the first pair",
                    actual.seen.connections),
        actual.run(), expected.run());
}

// Two GETs in turn to a server that closes each connection after its reply:
// what they got, and how many connections the server saw.
struct two_gets {
  std::vector<std::string> got;  // "200 <body>" or the error
  fake::closing_counts seen;
};

template <typename Side>
fake::run_result<two_gets> two_gets_closing(std::string answer) {
  fake::observer seen;
  return fake::run_real(seen, [&]() -> awaitable<two_gets> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
    auto url = fmt::format("http://127.0.0.1:{}/closing",
                           acceptor.local_endpoint().port());
    two_gets out;
    auto client_side = [&]() -> awaitable<void> {
      typename Side::http_client client(1s);
      for (int i = 0; i < 2; ++i) {
        try {
          auto r = co_await client.get(url);
          out.got.push_back(fmt::format("{} {}", r.status, r.body));
        } catch (const std::exception& e) {
          out.got.push_back(e.what());
        }
      }
    };
    co_await (client_side() || fake::closing_server(acceptor, answer, out.seen));
    co_return out;
  });
}

TEST_CASE("a connection the server closes is not used again: Connection: "
          "close, HTTP/1.0, a body ended by the close",
          "[lesson09][task1]") {
  std::string body = "a reply on a connection that the server then closes";
  struct close_case {
    std::string what;
    std::string answer;
  };
  auto length = fmt::format("Content-Length: {}\r\n", body.size());
  std::vector<close_case> cases{
      {"a reply saying Connection: close",
       "HTTP/1.1 200 OK\r\nConnection: close\r\n" + length + "\r\n" + body},
      {"an HTTP/1.0 reply without keep-alive",
       "HTTP/1.0 200 OK\r\n" + length + "\r\n" + body},
      {"a reply whose body ends when the connection does",
       "HTTP/1.1 200 OK\r\n\r\n" + body},
  };
  for (const auto& c : cases) {
    auto actual = two_gets_closing<your_code>(c.answer);
    auto expected = two_gets_closing<reference_code>(c.answer);
    grade::reference_runs(expected.run);
    expect_finished(actual, expected, "two GETs in turn");
    const auto& a = *actual.run.value;
    auto want = "200 " + body;
    GRADE(a.got.size() == 2 && a.got[0] == want && a.got[1] == want &&
              a.seen.connections == 2,
          fmt::format("{}, then the connection closed: two GETs in turn got "
                      "[{}], on {} connection{}; expected both answered, on "
                      "2. The first reply left nothing to reuse "
                      "(c->reusable is false)",
                      c.what, fmt::join(a.got, "; "), a.seen.connections,
                      a.seen.connections == 1 ? "" : "s"),
          actual.run, expected.run);
  }
}

// ---------------------------------------------------------------------
// Task 2: a timeout per request, and errors that come out at once.
// ---------------------------------------------------------------------

struct timeout_summary {
  std::optional<asio::error_code> slow_error;  // what GET /slow threw
  std::string slow_what;
  std::optional<int> slow_status;  // what GET /slow returned, if it did
  std::string fast_body;  // GET /fast right after, on the same client
};

// A service "svc" with a slow route and a fast one, and a client of
// `timeout` on which `steps(client, slow_url, fast_url)` asks the slow one,
// then the fast one: does a request that went wrong spoil the next?
template <typename Side, typename T, typename Steps>
scenario<T> slow_then_fast_run(route slow, route fast,
                               tut::clock::duration timeout, Steps steps) {
  fake::observer seen;
  fake::service svc(seen, "svc", {slow, fast});
  auto slow_url = svc.url(slow.path);
  auto fast_url = svc.url(fast.path);
  auto r = fake::run_real(seen, [&]() -> awaitable<T> {
    typename Side::http_client client(timeout);
    co_return co_await steps(client, slow_url, fast_url);
  });
  return {std::move(r), summary(seen)};
}

template <typename Side>
scenario<timeout_summary> slow_then_fast() {
  return slow_then_fast_run<Side, timeout_summary>(
      route{.path = "/slow", .body = "late", .delay = 250ms},
      route{.path = "/fast", .body = "fast"}, 100ms,
      [](typename Side::http_client& client, const std::string& slow,
         const std::string& fast) -> awaitable<timeout_summary> {
        timeout_summary out;
        try {
          auto reply = co_await client.get(slow);
          out.slow_status = reply.status;
        } catch (const asio::system_error& e) {
          out.slow_error = e.code();
          out.slow_what = e.what();
        }
        auto reply = co_await client.get(fast);
        out.fast_body = reply.body;
        co_return out;
      });
}

// How long the row `name` took on the timeline, for messages.
std::string took(const tut::trace& t, std::string_view name) {
  const auto* row = t.find(name);
  if (!row || !row->end) return "?";
  return secs((*row->end - row->start).count());
}

TEST_CASE("a slow service hits the request's timeout; the client still "
          "works afterwards",
          "[lesson09][task2]") {
  auto actual = slow_then_fast<your_code>();
  auto expected = slow_then_fast<reference_code>();
  expect_finished(actual.result, expected.result,
                  "GET /slow (timeout 100 ms), then GET /fast");
  const auto& a = *actual.run().value;
  GRADE(a.slow_error.has_value(),
        fmt::format("GET /slow (the service takes 250 ms, the client's "
                    "timeout is 100 ms) returned status {}{} after {}; a "
                    "request that runs out of time throws "
                    "asio::system_error with asio::error::timed_out",
                    a.slow_status.value_or(-1),
                    a.slow_status == 0 ? " (an empty response)" : "",
                    took(actual.run().trace, "GET /slow")),
        actual.run(), expected.run());
  GRADE(*a.slow_error == asio::error::timed_out,
        fmt::format("GET /slow threw \"{}\"; a timeout is "
                    "asio::system_error(asio::error::timed_out, ...)",
                    a.slow_what),
        actual.run(), expected.run());
  GRADE(a.slow_what.starts_with("GET http://127.0.0.1:") &&
            a.slow_what.find("/slow") != std::string::npos,
        fmt::format("the timeout says \"{}\"; let it name the method and "
                    "the url, like \"GET http://127.0.0.1:<port>/slow\"",
                    a.slow_what),
        actual.run(), expected.run());
  GRADE(a.fast_body == "fast",
        fmt::format("GET /fast after the timeout gave \"{}\", not \"fast\": "
                    "a connection whose exchange timed out is not reusable",
                    a.fast_body),
        actual.run(), expected.run());
}

template <typename Side>
fake::run_result<std::string> ask_closed_port(int port) {
  fake::observer seen;
  return fake::run_real(seen, [&]() -> awaitable<std::string> {
    typename Side::http_client client(1s);
    auto reply =
        co_await client.get(fmt::format("http://127.0.0.1:{}/user", port));
    co_return fmt::format("status {}", reply.status);
  });
}

TEST_CASE("a refused connection is reported at once, as refused, naming "
          "host:port",
          "[lesson09][task2]") {
  auto port = fake::closed_port();
  auto actual = ask_closed_port<your_code>(port);
  auto expected = ask_closed_port<reference_code>(port);
  auto show = [](const std::string& s) { return s; };
  auto code = code_of(actual.run.exception);
  GRADE(code == asio::error::connection_refused,
        fmt::format("GET to port {}, where nothing listens: your client {}. "
                    "It should throw asio::system_error with code "
                    "connection_refused as soon as the connection is "
                    "refused{}",
                    port, ending(actual, show), or_hint(code)),
        actual.run, expected.run);
  GRADE(actual.run.error.find(fmt::format("127.0.0.1:{}", port)) !=
            std::string::npos,
        fmt::format("the error says \"{}\"; it should name 127.0.0.1:{}",
                    actual.run.error, port),
        actual.run, expected.run);
}

// A request cancelled (a bound signal) 50 ms into a wait of 300 ms, then
// another on the same client.
struct cancelled_get {
  grade::cancelled_run<std::string> first;
  double ended_after = -1;  // seconds from the start
  std::string second;       // the next request's body, or its error
};

template <typename Side>
scenario<cancelled_get> cancel_then_fast() {
  return slow_then_fast_run<Side, cancelled_get>(
      route{.path = "/slow", .body = "the slow reply, which comes late",
            .delay = 300ms},
      route{.path = "/fast", .body = "the fast reply, right away"}, 5s,
      [](typename Side::http_client& client, const std::string& slow,
         const std::string& fast) -> awaitable<cancelled_get> {
        cancelled_get out;
        auto body_of = [](typename Side::http_client& c,
                          std::string url) -> awaitable<std::string> {
          auto reply = co_await c.get(std::move(url));
          co_return reply.body;
        };
        auto start = tut::now();
        out.first = co_await grade::cancel_after(body_of(client, slow), 50ms);
        out.ended_after = tut::seconds(tut::now() - start).count();
        try {
          out.second = co_await body_of(client, fast);
        } catch (const std::exception& e) {
          out.second = e.what();
        }
        co_return out;
      });
}

TEST_CASE("a request cancelled while it waits ends as cancelled, and the "
          "next request does not get its late reply",
          "[lesson09][task2]") {
  auto actual = cancel_then_fast<your_code>();
  auto expected = cancel_then_fast<reference_code>();
  grade::reference_runs(expected.run());
  expect_finished(actual.result, expected.result,
                  "GET /slow, cancelled after 50 ms, then GET /fast");
  const auto& a = *actual.run().value;
  GRADE(a.first.aborted && a.ended_after < 0.2,
        fmt::format("GET /slow (300 ms), cancelled through a bound signal 50 "
                    "ms in, {} after {}; it should end then, as cancelled "
                    "(operation_aborted)",
                    a.first.aborted ? "ended with operation_aborted"
                                    : grade::how_it_ended(a.first),
                    secs(a.ended_after)),
        actual.run(), expected.run());
  GRADE(a.second == "the fast reply, right away",
        fmt::format("GET /fast, after the cancelled GET /slow, got \"{}\"; "
                    "expected \"the fast reply, right away\". The services "
                    "saw {}",
                    a.second, shown(actual.seen.log)),
        actual.run(), expected.run());
}

// ---------------------------------------------------------------------
// Tasks 3 and 4: the dashboard.
// ---------------------------------------------------------------------

struct dashboard_setup {
  route user{.path = "/user", .body = "Ada Lovelace"};
  route orders{.path = "/orders", .body = "2 orders"};
  route notifications{.path = "/notifications", .body = "3 new"};
  tut::clock::duration timeout = 5s;
};

template <typename Side>
scenario<typename Side::dashboard> dashboard_run(dashboard_setup setup) {
  fake::observer seen;
  fake::service user(seen, "user", {setup.user});
  fake::service orders(seen, "orders", {setup.orders});
  fake::service notifications(seen, "notifications", {setup.notifications});
  typename Side::service_urls urls{user.url(setup.user.path),
                                   orders.url(setup.orders.path),
                                   notifications.url(setup.notifications.path)};
  auto r = fake::run_real(
      seen, [&]() -> awaitable<typename Side::dashboard> {
        typename Side::http_client client(setup.timeout);
        co_return co_await Side::load_dashboard(client, urls);
      });
  return {std::move(r), summary(seen)};
}

template <typename Section>
std::string shown_section(const Section& s) {
  return s.text ? fmt::format("\"{}\"", *s.text)
                : fmt::format("missing ({})", s.error);
}

// The same sections and dashboards, across the two namespaces.
template <typename A, typename B>
bool same_section(const A& a, const B& b) {
  return a.text == b.text && a.error == b.error;
}
template <typename A, typename B>
bool same_dashboard(const A& a, const B& b) {
  return a.user == b.user && same_section(a.orders, b.orders) &&
         same_section(a.notifications, b.notifications);
}

template <typename Dashboard>
std::string shown_dashboard(const Dashboard& d) {
  return fmt::format("user \"{}\", orders {}, notifications {}", d.user,
                     shown_section(d.orders), shown_section(d.notifications));
}

auto show_dashboard = [](const auto& d) { return shown_dashboard(d); };

// Fails the test unless your load_dashboard returned a dashboard; `why`
// says why it should have, with one service failing.
template <typename A, typename B>
void expect_dashboard(const scenario<A>& actual, const scenario<B>& expected,
                      std::string_view why) {
  if (!actual.run().value)
    FAIL(grade::explain(fmt::format("load_dashboard {}. {}",
                                    ending(actual.result, show_dashboard), why),
                        actual.run().trace, expected.run().trace));
}

// Your dashboard beside the reference's: `same`, whether the sections that
// count are the same.
template <typename A, typename B>
void expect_as_reference(bool same, const scenario<A>& actual,
                         const scenario<B>& expected) {
  GRADE(same,
        fmt::format("your dashboard: {}; expected: {}",
                    shown_dashboard(*actual.run().value),
                    shown_dashboard(*expected.run().value)),
        actual.run(), expected.run());
}

TEST_CASE("the dashboard's three calls are in flight at once, and replies "
          "arriving out of order land in their places",
          "[lesson09][task3]") {
  // Each service holds its reply until all three requests have arrived
  // (or 60 ms), then answers: orders first, then notifications, user last.
  dashboard_setup setup;
  setup.user.company = setup.orders.company = setup.notifications.company = 3;
  setup.user.cap = setup.orders.cap = setup.notifications.cap = 60ms;
  setup.user.delay = 30ms;
  setup.notifications.delay = 15ms;
  auto actual = dashboard_run<your_code>(setup);
  auto expected = dashboard_run<reference_code>(setup);
  expect_finished(actual.result, expected.result, "load_dashboard");
  GRADE(actual.seen.peak == 3,
        fmt::format("the services had at most {} of your requests at once; "
                    "all 3 should be in flight together, so that the "
                    "dashboard takes as long as the slowest call, not the "
                    "sum. The services saw {}. Await `a && b && c`",
                    actual.seen.peak, shown(actual.seen.log)),
        actual.run(), expected.run());
  const auto& a = *actual.run().value;
  const auto& e = *expected.run().value;
  expect_as_reference(same_dashboard(a, e), actual, expected);
}

TEST_CASE("a failing orders service leaves a partial dashboard that says "
          "why orders are missing",
          "[lesson09][task4]") {
  dashboard_setup setup;
  setup.orders.status = 500;
  setup.orders.body = "database down";
  // The failure comes after the other two have answered, so a dashboard
  // that lets it out throws the orders error itself, not the cancellation
  // of a call still in flight.
  setup.orders.delay = 20ms;
  auto actual = dashboard_run<your_code>(setup);
  auto expected = dashboard_run<reference_code>(setup);
  expect_dashboard(actual, expected,
                   "Orders are optional: when the orders service fails, the "
                   "dashboard still comes back, with orders.text empty and "
                   "orders.error saying why. Catch the error in "
                   "fetch_optional");
  const auto& a = *actual.run().value;
  const auto& e = *expected.run().value;
  expect_as_reference(
      a.user == e.user && same_section(a.notifications, e.notifications),
      actual, expected);
  GRADE(!a.orders.text && a.orders.error.find("/orders: status 500") !=
                              std::string::npos,
        fmt::format("orders: {}; expected missing, with the error of "
                    "fetch_text (\"GET http://127.0.0.1:<port>/orders: "
                    "status 500\")",
                    shown_section(a.orders)),
        actual.run(), expected.run());
}

TEST_CASE("a failing user service fails the whole dashboard with its error",
          "[lesson09][task4]") {
  dashboard_setup setup;
  setup.user.status = 503;
  auto actual = dashboard_run<your_code>(setup);
  auto expected = dashboard_run<reference_code>(setup);
  bool upstream = false;
  if (actual.run().exception) {
    try {
      std::rethrow_exception(actual.run().exception);
    } catch (const your_code::upstream_error&) {
      upstream = true;
    } catch (...) {
    }
  }
  GRADE(upstream && actual.run().error.find("/user: status 503") !=
                        std::string::npos,
        fmt::format("load_dashboard {}. The user is required: without it "
                    "there is no dashboard, so its upstream_error (\"GET "
                    "http://127.0.0.1:<port>/user: status 503\") comes out",
                    ending(actual.result, show_dashboard)),
        actual.run(), expected.run());
}

TEST_CASE("a slow notifications service times out; the dashboard comes "
          "back without notifications",
          "[lesson09][task4]") {
  dashboard_setup setup;
  setup.notifications.delay = 250ms;
  setup.timeout = 150ms;
  auto actual = dashboard_run<your_code>(setup);
  auto expected = dashboard_run<reference_code>(setup);
  expect_dashboard(actual, expected,
                   "Notifications are optional: when they time out, the "
                   "dashboard comes back without them");
  const auto& a = *actual.run().value;
  const auto& e = *expected.run().value;
  GRADE(!a.notifications.text,
        fmt::format("notifications came back as {} after {}, but the "
                    "service takes 250 ms and the client's timeout is "
                    "150 ms: each request needs its timeout (task 2)",
                    shown_section(a.notifications),
                    took(actual.run().trace, "GET /notifications")),
        actual.run(), expected.run());
  GRADE(a.notifications.error.find("/notifications") != std::string::npos &&
            a.notifications.error.find("timed out") != std::string::npos,
        fmt::format("notifications.error is \"{}\"; expected the timeout's "
                    "what(), like \"{}\"",
                    a.notifications.error, e.notifications.error),
        actual.run(), expected.run());
  expect_as_reference(a.user == e.user && same_section(a.orders, e.orders),
                      actual, expected);
}

// ---------------------------------------------------------------------
// Task 5: a fan-out with a limit.
// ---------------------------------------------------------------------

// Item i of the service "items": /items/i, whose body names it; `r` gives
// the rest of its route (its delay, how it is held).
route item(int i, route r = {}) {
  r.path = fmt::format("/items/{}", i);
  r.body = fmt::format("the body of item {}", i);
  return r;
}

// The service "items" with `routes`, and `steps(client, urls)` on a client
// of 5 s, `urls` being `paths` on that service.
template <typename Side, typename T, typename Steps>
scenario<T> on_items(std::vector<route> routes,
                     const std::vector<std::string>& paths, Steps steps) {
  fake::observer seen;
  fake::service items(seen, "items", std::move(routes));
  std::vector<std::string> urls;
  for (const auto& p : paths) urls.push_back(items.url(p));
  auto r = fake::run_real(seen, [&]() -> awaitable<T> {
    typename Side::http_client client(5s);
    co_return co_await steps(client, urls);
  });
  return {std::move(r), summary(seen)};
}

template <typename Side>
scenario<std::vector<std::string>> fan_out(std::vector<std::string> paths,
                                           std::size_t limit,
                                           std::vector<route> routes) {
  return on_items<Side, std::vector<std::string>>(
      std::move(routes), paths,
      [limit](typename Side::http_client& c,
              const std::vector<std::string>& urls) {
        return Side::fetch_all(c, urls, limit);
      });
}

TEST_CASE("a fan-out of 6 with a limit of 2: two in flight at a time, "
          "never more, results in the order asked",
          "[lesson09][task5]") {
  // Each request is held until two are in flight (or 50 ms), then 10 ms.
  std::vector<route> routes;
  for (int i = 1; i <= 6; ++i)
    routes.push_back(item(i, {.company = 2, .cap = 50ms, .delay = 10ms}));
  std::vector<std::string> paths{"/items/4", "/items/1", "/items/6",
                                 "/items/2", "/items/5", "/items/3"};
  auto actual = fan_out<your_code>(paths, 2, routes);
  auto expected = fan_out<reference_code>(paths, 2, routes);
  expect_finished(actual.result, expected.result, "fetch_all");
  GRADE(actual.seen.peak <= 2,
        fmt::format("the service had up to {} of your requests at once; "
                    "the limit is 2: each fetch holds a permit of the "
                    "limiter until it has ended",
                    actual.seen.peak),
        actual.run(), expected.run());
  GRADE(actual.seen.peak == 2,
        fmt::format("the service had only {} request at a time; with a "
                    "limit of 2, two fetches should be in flight together. "
                    "Start them all (gather) and let the limiter hold back "
                    "the rest",
                    actual.seen.peak),
        actual.run(), expected.run());
  GRADE(*actual.run().value == *expected.run().value,
        fmt::format("fetch_all returned {}; expected {}, in the order of the "
                    "urls, whatever order the replies came in",
                    shown(*actual.run().value),
                    shown(*expected.run().value)),
        actual.run(), expected.run());
}

TEST_CASE("the next fetch starts as soon as a permit is free, not when a "
          "whole batch has ended",
          "[lesson09][task5]") {
  // A limit of 2: one fetch of 150 ms, three of 10 ms.
  std::vector<route> routes{
      route{.path = "/items/slow", .body = "the body of the slow item", .delay = 150ms}};
  std::vector<std::string> paths{"/items/slow"};
  for (int i = 1; i <= 3; ++i) {
    routes.push_back(route{.path = fmt::format("/items/fast-{}", i),
                           .body = fmt::format("the body of fast item {}", i),
                           .delay = 10ms});
    paths.push_back(fmt::format("/items/fast-{}", i));
  }
  auto actual = fan_out<your_code>(paths, 2, routes);
  auto expected = fan_out<reference_code>(paths, 2, routes);
  expect_finished(actual.result, expected.result, "fetch_all");
  const auto& log = actual.seen.log;
  auto at = [&](const std::string& event) {
    return std::find(log.begin(), log.end(), event) - log.begin();
  };
  GRADE(at("/items/fast-3 in") < at("/items/slow out"),
        fmt::format("with a limit of 2, one fetch of 150 ms and three of "
                    "10 ms: the service saw {}. /items/fast-3 came only after "
                    "/items/slow was answered, though a permit was free from "
                    "10 ms on{}",
                    shown(log),
                    actual.seen.peak >= 2
                        ? ": the fetches waited for a whole batch"
                        : fmt::format(", and never more than {} in flight",
                                      actual.seen.peak)),
        actual.run(), expected.run());
  GRADE(actual.seen.peak <= 2 && *actual.run().value == *expected.run().value,
        fmt::format("fetch_all returned {} with up to {} requests at once; "
                    "expected {}, never more than 2 at once",
                    shown(*actual.run().value), actual.seen.peak,
                    shown(*expected.run().value)),
        actual.run(), expected.run());
}

TEST_CASE("a fetch that fails gives its permit back: the others still run, "
          "then the error comes out",
          "[lesson09][task5]") {
  std::vector<route> routes{
      route{.path = "/fail", .body = "no", .status = 500},
      item(1), item(2)};
  std::vector<std::string> paths{"/fail", "/items/1", "/items/2"};
  auto actual = fan_out<your_code>(paths, 1, routes);
  auto expected = fan_out<reference_code>(paths, 1, routes);
  auto show = [](const std::vector<std::string>& v) { return shown(v); };
  GRADE(!(actual.result.stuck && !actual.run().value),
        fmt::format("with a limit of 1, the first url failing (status 500): "
                    "fetch_all {}, and the service saw {} of the 3 "
                    "requests. A permit goes back however the fetch ends, "
                    "failing ones too",
                    ending(actual.result, show), actual.seen.requests),
        actual.run(), expected.run());
  GRADE(actual.seen.requests == 3,
        fmt::format("with the first url failing (status 500), the service "
                    "saw {} of the 3 requests: fetch_all {}. One failure "
                    "does not stop the other fetches; gather runs every job "
                    "and reports the first error once all have ended",
                    actual.seen.requests, ending(actual.result, show)),
        actual.run(), expected.run());
  GRADE(actual.run().exception &&
            actual.run().error.find("/fail: status 500") != std::string::npos,
        fmt::format("fetch_all {}; it should throw the failed fetch's error "
                    "(\"GET http://127.0.0.1:<port>/fail: status 500\")",
                    ending(actual.result, show)),
        actual.run(), expected.run());
}

TEST_CASE("fetch_all cancelled while its fetches wait ends as cancelled, "
          "with no request left running",
          "[lesson09][task5]") {
  struct outcome {
    grade::cancelled_run<std::vector<std::string>> r;
    double ended_after = -1;
    std::vector<std::string> left;  // traced requests still running
  };
  std::vector<route> routes;
  std::vector<std::string> paths;
  for (int i = 1; i <= 4; ++i) {
    routes.push_back(item(i, {.delay = 300ms}));
    paths.push_back(routes.back().path);
  }
  auto cancelled = [&](auto side) {
    using Side = decltype(side);
    return on_items<Side, outcome>(
        routes, paths,
        [](typename Side::http_client& client,
           const std::vector<std::string>& urls) -> awaitable<outcome> {
          outcome o;
          auto start = tut::now();
          o.r = co_await grade::cancel_after(Side::fetch_all(client, urls, 2),
                                             50ms);
          o.ended_after = tut::seconds(tut::now() - start).count();
          o.left = grade::unfinished_now();
          co_return o;
        });
  };
  auto actual = cancelled(your_code{});
  auto expected = cancelled(reference_code{});
  grade::reference_runs(expected.run());
  expect_finished(actual.result, expected.result,
                  "fetch_all, cancelled after 50 ms");
  const auto& a = *actual.run().value;
  GRADE(a.r.aborted && a.ended_after < 0.2 && a.left.empty(),
        fmt::format("fetch_all of 4 fetches of 300 ms, a limit of 2, "
                    "cancelled through a bound signal 50 ms in: it {} after "
                    "{}, and {} still ran; it should end then, as cancelled "
                    "(operation_aborted), every fetch with it",
                    a.r.aborted ? "ended with operation_aborted"
                                : grade::how_it_ended(a.r),
                    secs(a.ended_after),
                    a.left.empty() ? "no request" : grade::list(a.left)),
        actual.run(), expected.run());
}

}  // namespace
