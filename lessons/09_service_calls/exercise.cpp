// Lesson 09: calls to other services. A web handler rarely works alone: it
// asks a user service, an orders service, a notifications service, and
// each call waits on the network. Awaited one after another, three calls
// of 200 ms take 600 ms; started together, 200 ms. This file has an
// HTTP/1.1 client on Asio (the wire protocol is given, in common/http.hpp) and
// the four things that make service calls behave: connections kept open,
// a timeout per request, calls made at once with a partial result when one
// fails, and a fan-out that never has more than a few calls in flight.
//
// Fill in the TODOs of tasks 1 to 5; `scripts/tutor` grades each one as
// you save.
#include "given/given.hpp"

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

// Given, in lessons/common/http_client.hpp: HTTP/1.1 over a TCP socket.
// A `url` is a url taken apart; open_connection gives a `connection`;
// exchange(c, method, u, body) sends one request on it, reads the
// response, and leaves c.reusable saying whether the connection can carry
// another. And the rest of the client (given.hpp):
// http_client::state (its timeout, and its idle connections by
// host:port), get, post and request (which call your send_with_timeout),
// fetch_text, and for task 5 a `limiter` with hold(limit) and
// gather(jobs), from lessons/common/.
using common::http::connection;
using common::http::exchange;
using common::http::open_connection;
using common::http::url;

// ---------------------------------------------------------------------
// Task 1: keep-alive. Opening a TCP connection costs a round trip (and,
// with TLS, two more); HTTP/1.1 lets one connection carry request after
// request. A connection carries one exchange at a time, so a request
// takes it out of the pool and puts it back only when its response has
// been read to the end.
// ---------------------------------------------------------------------
awaitable<response> send_on_pool(std::shared_ptr<http_client::state> s,
                                 std::string method, url u,
                                 std::string body) {
  // TODO: before opening a connection, look in the pool (s->idle, by
  // host:port: u.key()): a connection there has finished its last exchange
  // and can carry this one. Take it out while it is in use, so that no
  // other request writes on it meanwhile; open one only when none is idle.
  auto c = co_await open_connection(u);
  auto reply = co_await exchange(*c, method, u, std::move(body));
  // TODO: put the connection back in the pool for the next request, but
  // only when this response left it fit for one (c->reusable): a server
  // that said "Connection: close", or ended the body by closing, has left
  // nothing to reuse.
  co_return reply;
}

// ---------------------------------------------------------------------
// Task 2: a timeout per request (httpx.AsyncClient(timeout=...)). Race
// the request against a timer, as in lesson 07: `||` waits for the first
// *success*, so spawn the request with as_tuple, which turns its error
// into a value: a refused connection is reported at once, as refused.
// ---------------------------------------------------------------------
awaitable<response> send_with_timeout(std::shared_ptr<http_client::state> s,
                                      std::string method, url u,
                                      std::string body) {
  auto what = fmt::format("{} http://{}{}", method, u.key(), u.target);
  // TODO: this waits as long as the service likes. Race the request
  // against a timer of s->timeout (tut::sleep) with the || operator, as in
  // lesson 07. `||` waits for the first *success*: start the request with
  // co_spawn and the as_tuple(use_awaitable) token, so that its error is a
  // value that ends the race at once. When the timer wins, throw
  // asio::system_error with asio::error::timed_out and `what`; when the
  // request failed, rethrow its error.
  co_return co_await send_on_pool(s, std::move(method), std::move(u),
                                  std::move(body));
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
  // TODO: these calls run one after the other: three calls of 200 ms take
  // 600 ms. Start all three at once with the && operator, which gives their
  // results as a tuple, in the order written.
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
  // TODO: a failure here sinks the whole dashboard. Catch it (a refused
  // connection, a timeout and a status 500 all come as std::exception) and
  // keep its what() in the section (s.error), so the page shows the rest.
  s.text = co_await fetch_text(client, url);
  co_return s;
}

// ---------------------------------------------------------------------
// Task 5: a fan-out with a limit. A page of 100 items must not become
// 100 requests at once to one service: hold a permit for each fetch.
// ---------------------------------------------------------------------
awaitable<void> fetch_into(http_client& client, limiter& limit,
                           std::string url, std::string& body) {
  // TODO: hold a permit of `limit` for as long as the fetch runs: hold(limit)
  // waits for one and gives it to you. Keep it in a variable: it goes back
  // when the variable goes out of scope, however the fetch ends.
  body = co_await fetch_text(client, std::move(url));
}

awaitable<std::vector<std::string>> fetch_all(http_client& client,
                                              std::vector<std::string> urls,
                                              std::size_t limit) {
  limiter in_flight(limit);
  std::vector<std::string> bodies(urls.size());
  // TODO: these fetches run one after the other. Make one fetch_into per
  // url, collect them in a std::vector<awaitable<void>> and run them side by
  // side with gather: the limiter holds back all but `limit` of them, and
  // each takes its permit when one is free.
  for (std::size_t i = 0; i < urls.size(); ++i)
    co_await fetch_into(client, in_flight, urls[i], bodies[i]);
  co_return bodies;
}

}  // namespace lesson09
