// Lesson 10 demo: runs your server (exercise.cpp) on 127.0.0.1 in real
// time, with a fake upstream service for its dashboard, and asks it what
// the FastAPI program answers. Then it sends itself SIGTERM and watches the
// server stop. Run it with `scripts/tutor run 10`.
//
// With --serve it only serves, until SIGINT or SIGTERM (curl it, or load it
// with wrk):
//   demo_10_solution --serve 8000 [--upstream 127.0.0.1:9000] [--data DIR]
// Without --upstream, the fake upstream runs in the same process; without
// --data, uploads go to $TMPDIR/asynclings-10-data.
#include "lesson.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <sys/resource.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

using asio::awaitable;
using asio::co_spawn;
using asio::detached;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

double seconds_since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

struct answer {
  int status = 0;
  std::string body;
};

// One request on a connection of its own: the status and the body.
awaitable<answer> request(unsigned short port, std::string method,
                          std::string target, std::string body) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                use_awaitable);
  auto text = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      method, target, body.size(), body);
  co_await asio::async_write(socket, asio::buffer(text), use_awaitable);
  std::string in;
  char chunk[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk),
                                                   as_tuple(use_awaitable));
    in.append(chunk, n);
    auto r = http::parse_response(in, bool(ec));
    if (r.status == http::parse_status::complete)
      co_return answer{r.code, std::string(r.body)};
    if (ec || r.status == http::parse_status::error) co_return answer{};
  }
}

// Asks, prints the answer and how long it took, as a task on the timeline.
awaitable<answer> show(unsigned short port, std::string method,
                       std::string target, std::string body = {}) {
  auto start = tut::now();
  auto a = co_await tut::traced(method + " " + target,
                                request(port, method, target, body));
  auto shown = a.body.size() > 72 ? a.body.substr(0, 69) + "..." : a.body;
  fmt::print("  {:<6} {:<28} {} in {:.2f} s  {}\n", method, target,
             a.status ? fmt::to_string(a.status) : "no answer",
             seconds_since(start), shown);
  co_return a;
}

struct tally {
  int answered = 0;  // with 200
  int ended = 0;
};

awaitable<void> sleeper(unsigned short port, std::shared_ptr<tally> t) {
  auto a = co_await request(port, "GET", "/sleep?ms=100", "");
  t->answered += a.status == 200;
  t->ended += 1;
}

awaitable<bool> eventually(auto done, tut::clock::duration limit) {
  auto until = tut::now() + limit;
  while (!done() && tut::now() < until) co_await tut::sleep(5ms);
  co_return done();
}

// The requests of the tour, then SIGTERM.
awaitable<void> tour(const web::config& cfg, web::server_stats& stats,
                     const bool& stopped) {
  if (!co_await eventually([&] { return stats.port != 0 || stopped; }, 3s) ||
      stats.port == 0)
    throw std::runtime_error("the server did not start");
  auto port = stats.port.load();
  fmt::print("serving on http://127.0.0.1:{} (data in {})\n\n", port,
             cfg.data_dir.string());

  co_await show(port, "GET", "/");
  co_await show(port, "GET", "/dashboard/7");  // 3 calls of 100 ms at once
  co_await show(port, "POST", "/upload?name=hello.txt", "Hello, disk!\n");
  co_await show(port, "POST", "/upload?name=../escape.txt", "no");
  co_await show(port, "POST", "/log", "user 7 looked at the dashboard");
  co_await show(port, "GET", "/cpu-heavy");
  co_await show(port, "GET", "/nope");

  // Fifty requests that each wait 100 ms, all at once.
  auto start = tut::now();
  auto sleepers = std::make_shared<tally>();
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < 50; ++i)
    co_spawn(ex, sleeper(port, sleepers), detached);
  co_await eventually([&] { return sleepers->ended == 50; }, 5s);
  fmt::print("\n  50 x GET /sleep?ms=100 at once: {} answered in {:.2f} s, "
             "{} in flight at the peak\n",
             sleepers->answered, seconds_since(start),
             stats.peak_in_flight.load());

  co_await eventually([&] { return stats.jobs_done > 0; }, 1s);
  fmt::print("  background jobs done: {}; data/: ", stats.jobs_done.load());
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(cfg.data_dir))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  fmt::print("{}\n\n", fmt::join(files, ", "));

  // Graceful shutdown. The signal_set keeps SIGTERM from killing the demo
  // if the server does not listen for it yet.
  asio::signal_set keep(ex, SIGTERM);
  fmt::print("sending SIGTERM...\n");
  start = tut::now();
  ::kill(::getpid(), SIGTERM);
  if (!co_await eventually([&] { return stopped; },
                           cfg.shutdown_deadline + 2s))
    throw std::runtime_error(
        "the server did not stop on SIGTERM (that is task 7)");
  fmt::print("the server stopped after {:.2f} s\n", seconds_since(start));
}

// serve(), then a flag for the tour to see.
awaitable<void> run_server(web::config cfg, web::server_stats& stats,
                           bool& stopped) {
  try {
    co_await lesson10::serve(std::move(cfg), stats);
  } catch (...) {
    stopped = true;
    throw;
  }
  stopped = true;
}

// What went wrong in `work`, or "" when nothing did.
awaitable<std::string> error_of(awaitable<void> work) {
  try {
    co_await std::move(work);
  } catch (const std::exception& e) {
    co_return e.what();
  }
  co_return "";
}

awaitable<void> main_coroutine(fs::path data) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor upstream(ex, {asio::ip::make_address("127.0.0.1"), 0});
  web::upstream_counters seen;
  web::config cfg;
  cfg.data_dir = data / "data";
  cfg.upstream = upstream.local_endpoint();
  cfg.shutdown_deadline = 2s;
  web::server_stats stats;
  bool stopped = false;
  // `a || b` waits for the first to succeed: errors come back as text.
  auto ended = co_await (
      error_of(run_server(cfg, stats, stopped) && tour(cfg, stats, stopped)) ||
      web::serve_upstream(upstream, 100ms, seen));
  if (ended.index() == 0 && !std::get<0>(ended).empty())
    throw std::runtime_error(std::get<0>(ended));
}

// --serve: the server alone, until SIGINT or SIGTERM.
awaitable<void> serve_only(web::config cfg, bool with_fake_upstream) {
  web::server_stats stats;
  auto ex = co_await asio::this_coro::executor;
  if (!with_fake_upstream) {
    co_await lesson10::serve(std::move(cfg), stats);
    co_return;
  }
  tcp::acceptor upstream(ex, {asio::ip::make_address("127.0.0.1"), 0});
  web::upstream_counters seen;
  seen.traced = false;  // a long run would keep every call on the trace
  cfg.upstream = upstream.local_endpoint();
  co_await (lesson10::serve(std::move(cfg), stats) ||
            web::serve_upstream(upstream, 100ms, seen));
}

// Many connections need many file descriptors: raise the soft limit.
void raise_open_files() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

tcp::endpoint parse_endpoint(std::string_view text) {
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
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "--serve") {
      web::config cfg;
      cfg.data_dir = fs::temp_directory_path() / "asynclings-10-data";
      bool fake_upstream = true;
      for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--upstream" && i + 1 < args.size()) {
          cfg.upstream = parse_endpoint(args[++i]);
          fake_upstream = false;
        } else if (args[i] == "--data" && i + 1 < args.size()) {
          cfg.data_dir = std::string(args[++i]);
        } else {
          cfg.port =
              static_cast<unsigned short>(std::stoi(std::string(args[i])));
        }
      }
      raise_open_files();
      fmt::print("serving on http://{}:{} until SIGINT or SIGTERM; uploads "
                 "go to {}\n",
                 cfg.address, cfg.port, cfg.data_dir.string());
      std::fflush(stdout);
      tut::run(serve_only(std::move(cfg), fake_upstream));
      return 0;
    }

    std::string dir =
        (fs::temp_directory_path() / "asynclings-10-XXXXXX").string();
    if (!::mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed");
    try {
      tut::run(main_coroutine(dir));
    } catch (...) {
      fs::remove_all(dir);
      throw;
    }
    fs::remove_all(dir);
    fmt::print("\n{}", tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
