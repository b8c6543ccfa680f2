// Lesson 11, given: a fake of the upstream services the dashboard calls,
// for the demo and the tests. It is lesson 10's server (lessons/common/
// serve.hpp) with three routes: GET /users/{id}, /orders/{id} and
// /recommendations/{id}, each answered after `delay`; the orders of user 13
// fail (500), a service that is down.
#pragma once

#include "common/serve.hpp"
#include "work.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace webapp {

// What the fake services saw. They run on one loop: no atomics needed.
struct upstream_counters {
  int in_flight = 0;
  int peak = 0;  // most calls in progress at once
  int calls = 0;
  std::vector<std::string> paths;  // in the order they came
  bool traced = true;  // each call a task on the timeline (tut::traced)
};

class fake_upstream {
public:
  fake_upstream(asio::any_io_executor ex, tut::clock::duration delay)
      : delay_(delay) {
    std::vector<common::web::route> routes;
    for (const char* pattern :
         {"/users/{id}", "/orders/{id}", "/recommendations/{id}"})
      routes.push_back({"GET", pattern, [this](auto& ctx) { return answer(ctx); }});
    srv_ = std::make_shared<common::web::server>(ex, common::web::config{},
                                                 stats_, std::move(routes));
  }

  asio::ip::tcp::endpoint endpoint() const {
    return srv_->acceptor.local_endpoint();
  }
  upstream_counters seen;

  // Serves until cancelled.
  asio::awaitable<void> run() {
    co_await common::web::serve_until_cancelled(*srv_, common::web::listener);
  }

private:
  asio::awaitable<common::http::response> answer(
      common::web::request_context& ctx) {
    std::string path(ctx.request().path);
    seen.paths.push_back(path);
    ++seen.calls;
    seen.peak = std::max(seen.peak, ++seen.in_flight);
    ctx.on_finish([this](common::web::ending) { --seen.in_flight; });
    if (seen.traced)
      co_await tut::traced("upstream " + path, tut::sleep(delay_));
    else
      co_await tut::sleep(delay_);
    if (path == "/orders/13")
      co_return common::http::json_error(500, "the orders service is down");
    co_return common::http::json(200, upstream_body(path));
  }

  tut::clock::duration delay_;
  common::web::server_stats stats_;
  std::shared_ptr<common::web::server> srv_;
};

}  // namespace webapp
