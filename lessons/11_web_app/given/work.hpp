// Lesson 11, given: the work behind two endpoints, shared by the lesson, its
// tests and the benchmark's other servers (scripts/peers), so that every
// server computes and answers exactly the same.
#pragma once

#include "common/http.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace webapp {

// Blocking and CPU-bound (GET /cpu-heavy): the sum of the primes below `n`,
// by trial division. 200'000 takes tens of milliseconds.
inline std::uint64_t sum_primes_below(std::uint64_t n) {
  std::uint64_t sum = 0;
  for (std::uint64_t k = 2; k < n; ++k) {
    bool prime = true;
    for (std::uint64_t d = 2; d * d <= k; ++d)
      if (k % d == 0) {
        prime = false;
        break;
      }
    if (prime) sum += k;
  }
  return sum;
}

// What the dashboard's upstream services answer to GET `path`: /users/{id},
// /orders/{id} and /recommendations/{id}; any other path is echoed back.
inline std::string upstream_body(std::string_view path) {
  std::string_view id;
  auto segment = [&](std::string_view prefix) {
    if (!path.starts_with(prefix)) return false;
    id = path.substr(prefix.size());
    return !id.empty() && id.find('/') == std::string_view::npos;
  };
  if (segment("/users/"))
    return fmt::format(R"({{"id": {}, "name": "user {}"}})", id, id);
  if (segment("/orders/"))
    return R"([{"id": 1, "total": 9.5}, {"id": 2, "total": 12}])";
  if (segment("/recommendations/")) return R"(["asyncio", "asio"])";
  return fmt::format(R"({{"path": "{}"}})", common::http::json_escape(path));
}

}  // namespace webapp
