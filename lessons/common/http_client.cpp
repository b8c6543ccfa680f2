// Lesson 09's given connection and exchange (http_client.hpp), written once.
#include "common/http_client.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace common::http {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;

awaitable<std::shared_ptr<connection>> open_connection(url u) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(u.host, u.port, as_tuple(use_awaitable));
  if (resolve_error)
    throw asio::system_error(resolve_error, "resolve " + u.key());
  auto c = std::make_shared<connection>(ex);
  auto [connect_error, endpoint] = co_await asio::async_connect(
      c->socket, endpoints, as_tuple(use_awaitable));
  if (connect_error)
    throw asio::system_error(connect_error, "connect to " + u.key());
  c->socket.set_option(asio::ip::tcp::no_delay(true));
  co_return c;
}

awaitable<received> exchange(connection& c, std::string method, url u,
                             std::string body) {
  c.reusable = false;
  std::string out;
  write_request(out, method, u, body);
  auto [write_error, written] =
      co_await asio::async_write(c.socket, asio::buffer(out), as_tuple(use_awaitable));
  if (write_error) throw asio::system_error(write_error, "write to " + u.key());

  // Parse what has come; read more until the response is whole.
  bool eof = false;
  for (;;) {
    auto r = parse_response(c.buffer, eof, method == "HEAD");
    if (r.status == parse_status::complete) {
      c.buffer.erase(0, r.consumed);
      c.reusable = r.reusable;
      co_return std::move(r.res);
    }
    if (r.status == parse_status::error)
      throw bad_response(r.shown.empty()
                             ? fmt::format("{}: {}", u.key(), r.reason)
                             : fmt::format("{}: {} '{}'", u.key(), r.reason, r.shown));
    // At least what the response is known to need, or a chunk of 16 KiB.
    auto had = c.buffer.size();
    auto want = std::max<std::size_t>(r.need > had ? r.need - had : 0, 16 * 1024);
    c.buffer.resize(had + want);
    auto [error, n] = co_await c.socket.async_read_some(
        asio::buffer(c.buffer.data() + had, want), as_tuple(use_awaitable));
    c.buffer.resize(had + n);
    if (error == asio::error::eof) {
      eof = true;
    } else if (error) {
      throw asio::system_error(error, "read from " + u.key());
    }
  }
}

}  // namespace common::http
