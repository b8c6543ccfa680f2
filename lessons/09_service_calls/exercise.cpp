// Lesson 09: calls to other services. A web handler rarely works alone: it
// asks a user service, an orders service, a notifications service, and
// each call waits on the network. Awaited one after another, three calls
// of 200 ms take 600 ms; started together, 200 ms. This file has an
// HTTP/1.1 client on Asio (the wire protocol is given, in wire.hpp) and
// the four things that make service calls behave: connections kept open,
// a timeout per request, calls made at once with a partial result when one
// fails, and a fan-out that never has more than a few calls in flight.
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each one as
// you save.
#include "lesson.hpp"

#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

namespace lesson09 {

// Given, in tests/09_service_calls/wire.hpp: HTTP/1.1 over a TCP socket.
// A `target` is a url taken apart (parse_url); open_connection gives a
// `connection`; exchange(c, method, t, body) sends one request on it and
// reads the response, and leaves c.reusable saying whether the connection
// can carry another.
using wire::connection;
using wire::exchange;
using wire::open_connection;
using wire::parse_url;
using wire::target;

// What the client keeps between requests: its timeout, and connections
// that finished their last exchange and may carry another one, by
// host:port.
struct http_client::state {
  tut::clock::duration timeout;
  std::map<std::string, std::vector<std::shared_ptr<connection>>> idle;
};

// ---------------------------------------------------------------------
// Task 1: keep-alive. Opening a TCP connection costs a round trip (and,
// with TLS, two more); HTTP/1.1 lets one connection carry request after
// request. A connection carries one exchange at a time, so a request
// takes it out of the pool and puts it back only when its response has
// been read to the end.
// ---------------------------------------------------------------------
awaitable<response> send_on_pool(std::shared_ptr<http_client::state> s,
                                 std::string method, target t,
                                 std::string body) {
  // TODO: before opening a connection, look in the pool:
  // `auto& idle = s->idle[t.key()];` when it is not empty, take its last
  // connection out (`std::move(idle.back())`, then `idle.pop_back()`).
  auto c = co_await open_connection(t);
  auto reply = co_await exchange(*c, method, t, std::move(body));
  // TODO: when the response left the connection fit for more
  // (`c->reusable`), put it back: `s->idle[t.key()].push_back(...)`.
  co_return reply;
}

// ---------------------------------------------------------------------
// Task 2: a timeout per request (httpx.AsyncClient(timeout=...)). Race
// the request against a timer, as in lesson 07: `||` waits for the first
// *success*, so spawn the request with as_tuple, which turns its error
// into a value: a refused connection is reported at once, as refused.
// ---------------------------------------------------------------------
awaitable<response> send_with_timeout(std::shared_ptr<http_client::state> s,
                                      std::string method, target t,
                                      std::string body) {
  auto what = fmt::format("{} http://{}{}", method, t.key(), t.path);
  // TODO: this waits as long as the service likes. Spawn the request on
  // this coroutine's executor (`co_await asio::this_coro::executor`):
  // `auto work = co_spawn(ex, send_on_pool(...), as_tuple(use_awaitable));`
  // and race it: `co_await (std::move(work) || tut::sleep(s->timeout))`.
  // When the timer wins (index 1), throw
  // `asio::system_error(asio::error::timed_out, what)`; otherwise rethrow
  // the request's error, if any, or return its response.
  co_return co_await send_on_pool(s, std::move(method), std::move(t),
                                  std::move(body));
}

// Given: the client's public face. Each request is a row on the timeline.
http_client::http_client(tut::clock::duration timeout)
    : state_(std::make_shared<state>(state{timeout, {}})) {}

awaitable<response> http_client::get(std::string url) {
  return request("GET", std::move(url), "");
}

awaitable<response> http_client::post(std::string url, std::string body) {
  return request("POST", std::move(url), std::move(body));
}

awaitable<response> http_client::request(std::string method,
                                         std::string url, std::string body) {
  auto t = parse_url(url);
  auto name = method + " " + t.path;
  return tut::traced(std::move(name),
                     send_with_timeout(state_, std::move(method),
                                       std::move(t), std::move(body)));
}

// Given: GET a url; a status other than 2xx is an error.
awaitable<std::string> fetch_text(http_client& client, std::string url) {
  auto reply = co_await client.get(url);
  if (reply.status / 100 != 2)
    throw upstream_error(fmt::format("GET {}: status {}", url, reply.status));
  co_return std::move(reply.body);
}

// Task 4, below: one optional section of the dashboard.
awaitable<section> fetch_optional(http_client& client, std::string url);

// ---------------------------------------------------------------------
// Task 3: the dashboard, its three calls at once. `a && b && c` starts
// all three, waits for all of them and gives their results as a tuple in
// the order written, whatever order the replies arrive in. When one
// throws, the others are cancelled and the error comes out.
// ---------------------------------------------------------------------
awaitable<dashboard> load_dashboard(http_client& client, service_urls urls) {
  // TODO: these calls run one after the other: three calls of 200 ms
  // take 600 ms. Start all three at once: `co_await (a && b && c)` gives
  // `auto [user, orders, notifications]`.
  auto user = co_await fetch_text(client, urls.user);
  auto orders = co_await fetch_optional(client, urls.orders);
  auto notifications = co_await fetch_optional(client, urls.notifications);
  co_return dashboard{std::move(user), std::move(orders),
                      std::move(notifications)};
}

// ---------------------------------------------------------------------
// Task 4: an optional section. Whatever goes wrong with this service
// (a refused connection, a timeout, a status 500) becomes a value that
// says why the section is missing, so the rest of the page still shows.
// ---------------------------------------------------------------------
awaitable<section> fetch_optional(http_client& client, std::string url) {
  section s;
  // TODO: a failure here sinks the whole dashboard. Wrap the fetch in
  // `try { ... } catch (const std::exception& e) { ... }` and keep the
  // reason in the section: `s.error = e.what();`
  s.text = co_await fetch_text(client, url);
  co_return s;
}

// ---------------------------------------------------------------------
// Given for task 5: lesson 05's semaphore, in short. At most `permits`
// holders at once; the others wait in line, each on a timer parked at
// time_point::max() that a permit going back cancels to wake it.
// ---------------------------------------------------------------------
class limiter {
public:
  explicit limiter(std::size_t permits)
      : state_(std::make_shared<state>(permits)) {}

  struct waiter {
    explicit waiter(asio::any_io_executor ex)
        : wake(ex, tut::clock::time_point::max()) {}
    tut::timer wake;
    bool granted = false;
  };
  struct state {
    explicit state(std::size_t permits) : free(permits) {}
    std::size_t free;
    std::deque<std::shared_ptr<waiter>> line;
  };
  std::shared_ptr<state> state_;
};

// One permit, given back when it is destroyed (`async with semaphore:`).
class permit {
public:
  permit() = default;
  explicit permit(std::shared_ptr<limiter::state> s) : state_(std::move(s)) {}
  permit(permit&& other) noexcept = default;
  permit& operator=(permit&&) = delete;
  ~permit() {
    if (!state_) return;
    auto& s = *state_;
    if (s.line.empty()) {
      ++s.free;
    } else {  // hand it straight to the first in line
      s.line.front()->granted = true;
      s.line.front()->wake.cancel();
      s.line.pop_front();
    }
  }

private:
  std::shared_ptr<limiter::state> state_;
};

// Waits for a permit of `limit` and returns it.
awaitable<permit> hold(limiter& limit) {
  auto s = limit.state_;
  if (s->free > 0 && s->line.empty()) {
    --s->free;
    co_return permit(s);
  }
  auto me =
      std::make_shared<limiter::waiter>(co_await asio::this_coro::executor);
  s->line.push_back(me);
  co_await me->wake.async_wait(as_tuple(use_awaitable));
  if (!me->granted) {  // cancelled while in line
    std::erase(s->line, me);
    throw asio::system_error(asio::error::operation_aborted, "hold");
  }
  co_return permit(s);
}

// Given for task 5 (lesson 03's gather, for jobs that return nothing):
// runs every job as a task of its own, waits until all have ended, then
// rethrows the first error. Cancelling it cancels the jobs, and it still
// waits for them to end.
awaitable<void> gather(std::vector<awaitable<void>> jobs) {
  struct group {
    group(asio::any_io_executor ex, std::size_t n)
        : all_ended(ex, tut::clock::time_point::max()), cancel(n),
          running(n) {}
    tut::timer all_ended;
    std::vector<asio::cancellation_signal> cancel;
    std::size_t running;
    std::exception_ptr first_error;
  };
  auto ex = co_await asio::this_coro::executor;
  auto g = std::make_shared<group>(ex, jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i)
    co_spawn(ex, std::move(jobs[i]),
             asio::bind_cancellation_slot(
                 g->cancel[i].slot(), [g](std::exception_ptr e) {
                   if (e && !g->first_error) g->first_error = e;
                   if (--g->running == 0) g->all_ended.cancel();
                 }));
  bool cancelled = false;
  while (g->running > 0) {
    co_await g->all_ended.async_wait(as_tuple(use_awaitable));
    auto me = co_await asio::this_coro::cancellation_state;
    if (me.cancelled() != asio::cancellation_type::none && !cancelled) {
      cancelled = true;
      for (auto& signal : g->cancel)
        signal.emit(asio::cancellation_type::terminal);
      co_await asio::this_coro::reset_cancellation_state();
    }
  }
  if (cancelled) throw asio::system_error(asio::error::operation_aborted);
  if (g->first_error) std::rethrow_exception(g->first_error);
}

// ---------------------------------------------------------------------
// Task 5: a fan-out with a limit. A page of 100 items must not become
// 100 requests at once to one service: hold a permit for each fetch.
// ---------------------------------------------------------------------
awaitable<void> fetch_into(http_client& client, limiter& limit,
                           std::string url, std::string& body) {
  // TODO: hold a permit of `limit` while fetching:
  // `auto p = co_await hold(limit);` It goes back when `p` is destroyed,
  // however the fetch ends.
  body = co_await fetch_text(client, std::move(url));
}

awaitable<std::vector<std::string>> fetch_all(http_client& client,
                                              std::vector<std::string> urls,
                                              std::size_t limit) {
  limiter in_flight(limit);
  std::vector<std::string> bodies(urls.size());
  // TODO: these fetches run one after the other. Make one
  // `fetch_into(client, in_flight, urls[i], bodies[i])` per url, collect
  // them in a std::vector<awaitable<void>> and run them side by side:
  // `co_await gather(std::move(jobs));`
  for (std::size_t i = 0; i < urls.size(); ++i)
    co_await fetch_into(client, in_flight, urls[i], bodies[i]);
  co_return bodies;
}

}  // namespace lesson09
