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
//   - Listening with the system's largest backlog lets ten thousand clients
//     connect at once with the plain accept loop; raising the file limit
//     (below) lets them stay.
#include "lesson.hpp"

#include <asio/ip/address.hpp>
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
