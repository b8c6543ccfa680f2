// Lesson 09's interface: the HTTP client and the functions the tests call.
// Your exercise.cpp defines them; so does the reference solution.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson09) and once for the reference, renamed to
// lesson09_reference, so both can run side by side.
//
// How a request can fail. A status such as 404 or 500 is not an error of
// the client: it is in the response, as with httpx.
//   the port is closed    asio::system_error, code connection_refused;
//                         what() names host:port
//   too slow              asio::system_error, code asio::error::timed_out;
//                         what() names the method and the url
//   not HTTP/1.1          bad_response; what() says what was wrong (a
//                         malformed status line, a bad chunk size, a body
//                         cut short) and names host:port
#include "tut/tut.hpp"
#include "given/dashboard.hpp"
#include "common/http_client.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lesson09 {

// What a server answered, and the error for an answer that is not
// HTTP/1.1 (given, in lessons/common/http.hpp).
using response = common::http::received;
using common::http::bad_response;

// An HTTP/1.1 client for URLs of the form http://host:port/path
// (httpx.AsyncClient). It keeps connections open between requests
// (keep-alive) and gives every request `timeout` to finish.
class http_client {
public:
  explicit http_client(tut::clock::duration timeout);

  asio::awaitable<response> get(std::string url);
  asio::awaitable<response> post(std::string url, std::string body);
  asio::awaitable<response> request(std::string method, std::string url,
                                    std::string body);

  // Task 1 keeps open connections here; defined in exercise.cpp.
  struct state;

private:
  std::shared_ptr<state> state_;
};

// A service answered with a status other than 2xx (httpx's
// raise_for_status). what() is "GET <url>: status 500".
class upstream_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// GET `url` and return the body; a status other than 2xx throws
// upstream_error.
asio::awaitable<std::string> fetch_text(http_client& client, std::string url);

// The dashboard and its parts (given, in dashboard.hpp: the same types for
// your code and the reference): section, dashboard, service_urls.
using services::dashboard;
using services::section;
using services::service_urls;

// Tasks 3 and 4: the user, the orders and the notifications, fetched at
// the same time (the whole takes as long as the slowest, not the sum).
// The user is required: when it fails, load_dashboard throws its error.
// Orders and notifications are optional: when one fails, the dashboard
// comes back without it, and its section says why.
asio::awaitable<dashboard> load_dashboard(http_client& client,
                                          service_urls urls);

// Task 5: the body of every url, in the order of `urls`, fetched side by
// side but never more than `limit` at once. When fetches fail, the others
// still run; then the first error is thrown.
asio::awaitable<std::vector<std::string>> fetch_all(
    http_client& client, std::vector<std::string> urls, std::size_t limit);

}  // namespace lesson09
