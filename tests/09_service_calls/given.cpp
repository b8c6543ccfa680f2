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
  auto t = wire::parse_url(url);
  auto name = method + " " + t.path;
  return tut::traced(std::move(name),
                     send_with_timeout(state_, std::move(method),
                                       std::move(t), std::move(body)));
}

// GET a url; a status other than 2xx is an error.
awaitable<std::string> fetch_text(http_client& client, std::string url) {
  auto reply = co_await client.get(url);
  if (reply.status / 100 != 2)
    throw upstream_error(fmt::format("GET {}: status {}", url, reply.status));
  co_return std::move(reply.body);
}

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

}  // namespace lesson09
