// Given in lesson 09: one connection to an HTTP server, and one exchange on
// it (a request written, its response read to the end), on Asio coroutines.
// The bytes are common/http.hpp's; what is async is here. Lesson 09's client
// keeps these connections in a pool; lesson 11's dashboard makes one per
// upstream call.
//
// How an exchange can fail:
//   the port is closed   asio::system_error, code connection_refused; what()
//                        names host:port
//   not HTTP/1.1         http::bad_response; what() names host:port and says
//                        what was wrong (a malformed status line, a bad
//                        chunk size, a body cut short)
#pragma once

#include "common/http.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace common::http {

// One TCP connection to a server. `buffer` holds what was read past the end
// of the last response: with keep-alive, the next one may have begun.
// `reusable` says whether the last response left the connection fit for
// another request.
struct connection {
  explicit connection(asio::any_io_executor ex) : socket(ex) {}
  asio::ip::tcp::socket socket;
  std::string buffer;
  bool reusable = false;
};

// Resolves u.host and connects to it (TCP_NODELAY on).
asio::awaitable<std::shared_ptr<connection>> open_connection(url u);

// Sends one request on `c` and reads its response to the end; c.reusable
// then says whether `c` can carry another.
asio::awaitable<received> exchange(connection& c, std::string method, url u,
                                   std::string body);

}  // namespace common::http
