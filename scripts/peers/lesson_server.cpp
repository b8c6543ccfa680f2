// The lessons' server, for the benchmark: lesson 11's reference solution
// (the web app) on lesson 10's server as lessons/common has it, with a main
// of its own. It serves until SIGINT or SIGTERM, shuts down as the lesson
// does (the requests under way answered, the queued jobs run), and exits 0.
//
//   bench_lesson_server --port 8000 --upstream 127.0.0.1:9000 [--data DIR]
//
// What makes it fast, all of it outside the code a learner writes, and
// written down here once:
//   - Asio keeps 16 freed coroutine frames and operations per thread for
//     reuse, instead of 2 (ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE, set for the
//     whole build in cmake/Dependencies.cmake): a request then costs two
//     calls to malloc, not seven.
//   - The reply's head is appended into a buffer the connection keeps
//     (http::write_head, lessons/common/http.cpp), not formatted; head and
//     body go out in one gathered write.
//   - The request parser makes no copies: it gives views into the
//     connection's buffer, and the body is read only when a handler asks.
//   - The watchdog does not wake per request: it looks at the deadline at
//     least every idle timeout, so a reply only stores a time.
//   - Its accept loop takes, after each accept, the connections already
//     waiting too, up to 16 in a row (burst_listener, below; it runs in
//     place of the lessons' through config::accept_loop). The lessons'
//     loop takes one connection per turn of the event loop, behind all
//     else that is ready: ten thousand clients connecting together then
//     wait up to seconds in the kernel's queue, and on a slow machine wrk
//     counts their first replies as timeouts. Several accept loops on one
//     acceptor do not help: Asio queues an accept behind the ones pending,
//     and they wait for the next connection to arrive.
//   - Listening with the system's largest backlog lets ten thousand clients
//     wait in the kernel meanwhile; raising the file limit (below) lets
//     them stay.
#include "lesson.hpp"

#include "common/serve.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/address.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <sys/resource.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace {

// Many connections need many file descriptors: raise the soft limit.
void raise_open_files() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

namespace web = common::web;

// The lessons' listener (common/serve.cpp), taking the connections that
// already wait after each accept, at most 16 in a row, so that the ones
// taken read their requests between bursts.
asio::awaitable<void> burst_listener(web::server& srv) {
  constexpr int burst = 16;
  srv.acceptor.non_blocking(true);  // accept() below: "would block", not wait
  for (;;) {
    auto socket = co_await srv.acceptor.async_accept(asio::use_awaitable);
    for (int taken = 1;; ++taken) {
      if (srv.connections.size() >= srv.cfg.max_connections)
        web::turn_away(srv, socket);
      else
        asio::co_spawn(srv.executor, web::serve_connection(srv, std::move(socket)),
                       asio::detached);
      if (taken == burst) break;
      asio::error_code ec;
      asio::ip::tcp::socket next(srv.executor);
      srv.acceptor.accept(next, ec);
      if (ec) break;  // none waiting (or an error the next async_accept sees)
      socket = std::move(next);
    }
  }
}

asio::ip::tcp::endpoint parse_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    throw std::invalid_argument("expected HOST:PORT, got " + std::string(text));
  auto port = std::stoi(std::string(text.substr(colon + 1)));
  return {asio::ip::make_address(std::string(text.substr(0, colon))),
          static_cast<unsigned short>(port)};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    webapp::config cfg;
    cfg.data_dir = "data";
    for (int i = 1; i + 1 < argc; i += 2) {
      std::string_view flag = argv[i];
      std::string value = argv[i + 1];
      if (flag == "--port")
        cfg.server.port = static_cast<unsigned short>(std::stoi(value));
      else if (flag == "--upstream")
        cfg.upstream = parse_endpoint(value);
      else if (flag == "--data")
        cfg.data_dir = value;
      else
        throw std::invalid_argument("unknown flag " + std::string(flag));
    }
    cfg.server.max_connections = 60'000;
    cfg.server.accept_loop = burst_listener;
    raise_open_files();
    webapp::stats stats;
    fmt::print("the lessons' server on http://{}:{}, uploads in {}\n",
               cfg.server.address, cfg.server.port, cfg.data_dir.string());
    std::fflush(stdout);
    tut::run(lesson11::serve(std::move(cfg), stats));
    fmt::print("stopped after {} requests\n", stats.requests.load());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_lesson_server: {}\n", e.what());
    return 1;
  }
}
