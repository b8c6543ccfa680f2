// Lesson 11, given: what the web app is told (config) and what it tells back
// (stats). Outside the lesson's namespace, so that your code and the
// reference share them.
#pragma once

#include "common/server.hpp"

#include <asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>

namespace webapp {

using namespace std::chrono_literals;

struct config {
  // Lesson 10's server: address and port, the connection cap, the idle
  // timeout, the size limits.
  common::web::config server;
  // Uploads go to data_dir/uploads/, a directory of their own; the
  // background jobs append to data_dir/log.txt.
  std::filesystem::path data_dir = "data";
  // The dashboard's services: GET /users/{id}, /orders/{id} and
  // /recommendations/{id} there. None: the dashboard answers 503.
  std::optional<asio::ip::tcp::endpoint> upstream;
  tut::clock::duration upstream_timeout = 2s;
  std::uint64_t cpu_work = 200'000;        // /cpu-heavy sums primes below it
  tut::clock::duration disk_latency = 0s;  // a slow disk, for the tests
  tut::clock::duration job_latency = 50ms;  // one background job's wait
  std::size_t max_jobs = 1024;             // queued jobs; more get 503
  std::size_t threads = 2;                 // the pool for blocking work
  tut::clock::duration shutdown_deadline = 5s;
};

// The server's counters (lesson 10's), and the background jobs'.
struct stats : common::web::server_stats {
  std::atomic<int> jobs_queued{0};  // accepted by POST /log
  std::atomic<int> jobs_done{0};    // finished by the worker
};

}  // namespace webapp
