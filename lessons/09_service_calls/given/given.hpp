// Lesson 09, given: the parts of the client that are not the lesson's tasks
// (defined in given.cpp, compiled beside your exercise.cpp): the client's
// public face and fetch_text; for task 5, lesson 05's semaphore and
// lesson 03's gather.
//
// Like lesson.hpp, everything here is in namespace lesson09, which the
// reference solution's build renames to lesson09_reference.
#pragma once

#include "lesson.hpp"

#include "common/gather.hpp"
#include "common/semaphore.hpp"

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lesson09 {

// What the client keeps between requests: its timeout, and connections
// that finished their last exchange and may carry another one, by
// host:port.
struct http_client::state {
  tut::clock::duration timeout;
  std::map<std::string, std::vector<std::shared_ptr<common::http::connection>>>
      idle;
};

// Yours, in exercise.cpp (task 2): one request, within the client's
// timeout. The client's get, post and request call it.
asio::awaitable<response> send_with_timeout(
    std::shared_ptr<http_client::state> s, std::string method,
    common::http::url u, std::string body);

// For task 5: lesson 05's semaphore (a `limiter`: `auto p = co_await
// hold(limit);` holds a permit until `p` is destroyed) and lesson 03's
// gather, as the course wrote them: lessons/common/.
using limiter = common::async_semaphore;
using common::gather;
using common::hold;
using common::permit;

}  // namespace lesson09
