// Lesson 09, given: the parts of the client that are not the lesson's tasks
// (declared in given.hpp). Compiled once, beside your exercise.cpp, so
// that saving it recompiles only your code.
#include "given.hpp"

#include <algorithm>
#include <exception>
#include <utility>

using asio::awaitable;
using asio::co_spawn;
using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace lesson09 {

// The client's public face. Each request is a row on the timeline.
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
  auto u = common::http::parse_url(url);
  auto name = method + " " + u.target;
  return tut::traced(std::move(name),
                     send_with_timeout(state_, std::move(method),
                                       std::move(u), std::move(body)));
}

// GET a url; a status other than 2xx is an error.
awaitable<std::string> fetch_text(http_client& client, std::string url) {
  auto reply = co_await client.get(url);
  if (reply.status / 100 != 2)
    throw upstream_error(fmt::format("GET {}: status {}", url, reply.status));
  co_return std::move(reply.body);
}

}  // namespace lesson09
