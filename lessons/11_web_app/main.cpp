// Lesson 11 demo: your web app (exercise.cpp) on 127.0.0.1, in real time,
// with a fake of the upstream services its dashboard calls, each taking
// 100 ms. It asks each endpoint what the FastAPI program answers, then
// sends itself SIGTERM and watches the app stop: the requests under way are
// answered and the queued jobs run first. Run it with `scripts/tutor run
// 11`.
#include "lesson.hpp"
#include "given/fake_upstream.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
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
namespace http = common::http;

namespace {

double since(tut::clock::time_point start) {
  return tut::seconds(tut::now() - start).count();
}

// One request on a connection of its own, read with the course's response
// parser: its status (0: the connection ended first) and body.
awaitable<http::received> ask(unsigned short port, std::string request) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port},
                                use_awaitable);
  auto [error, sent] = co_await asio::async_write(
      socket, asio::buffer(request), as_tuple(use_awaitable));
  if (error) co_return http::received{};
  std::string in;
  char chunk[4096];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk),
                                                   as_tuple(use_awaitable));
    in.append(chunk, n);
    auto r = http::parse_response(in, bool(ec));
    if (r.status == http::parse_status::complete) co_return r.res;
    if (ec || r.status == http::parse_status::error) co_return http::received{};
  }
}

// Asks, and prints the answer and how long it took, as a row on the
// timeline.
awaitable<int> show(unsigned short port, std::string method,
                    std::string target, std::string body = {}) {
  auto request = fmt::format(
      "{} {} HTTP/1.1\r\nHost: demo\r\nContent-Length: {}\r\n\r\n{}",
      method, target, body.size(), body);
  auto start = tut::now();
  auto r = co_await tut::traced(method + " " + target, ask(port, request));
  auto shown = r.body.size() > 64 ? r.body.substr(0, 61) + "..." : r.body;
  fmt::print("  {:<5} {:<26} {} in {:.2f} s  {}\n", method, target,
             r.status ? fmt::to_string(r.status) : "no answer", since(start),
             shown);
  co_return r.status;
}

// Each endpoint once: the dashboard's three calls of 100 ms run at once,
// the upload is written on the pool, a name that climbs out of uploads/ is
// refused, the job is queued and runs after its reply.
awaitable<void> endpoints(unsigned short port) {
  co_await show(port, "GET", "/");
  co_await show(port, "GET", "/dashboard/7");
  co_await show(port, "GET", "/dashboard/13");  // its orders service fails
  co_await show(port, "POST", "/upload?name=hello.txt", "Hello, disk!\n");
  co_await show(port, "POST", "/upload?name=../escape.txt", "no");
  co_await show(port, "POST", "/log", "user 7 looked at the dashboard");
  co_await show(port, "GET", "/cpu-heavy");
}

// Graceful shutdown: three requests of 300 ms in flight and a job queued
// when SIGTERM comes. The signal_set here keeps SIGTERM from killing the
// demo if your app does not listen for it yet.
awaitable<void> stop(unsigned short port, const webapp::stats& stats,
                     const bool& stopped) {
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < 3; ++i)
    co_spawn(ex, show(port, "GET", "/sleep?ms=300"), detached);
  co_await show(port, "POST", "/log", "the last job");
  asio::signal_set keep(ex, SIGTERM);
  fmt::print("\nsending SIGTERM...\n");
  auto start = tut::now();
  ::kill(::getpid(), SIGTERM);
  while (!stopped && since(start) < 4) co_await tut::sleep(5ms);
  if (!stopped)
    throw std::runtime_error("the app did not stop on SIGTERM (task 5)");
  fmt::print("the app stopped after {:.2f} s; jobs done: {} of {}\n",
             since(start), stats.jobs_done.load(), stats.jobs_queued.load());
}

// What went wrong in `work`, or "" when nothing did: `a || b` waits for
// the first to succeed, so errors come back as text.
awaitable<std::string> error_of(awaitable<void> work) {
  try {
    co_await std::move(work);
  } catch (const std::exception& e) {
    co_return e.what();
  }
  co_return "";
}

// The app, the fake upstream and the tour on one loop. When the app has
// stopped, the tour ends, and || cancels the upstream. If the tour fails,
// && cancels the app.
awaitable<void> main_coroutine(fs::path data) {
  auto ex = co_await asio::this_coro::executor;
  webapp::fake_upstream upstream(ex, 100ms);
  webapp::config cfg;
  cfg.data_dir = data;
  cfg.upstream = upstream.endpoint();
  cfg.shutdown_deadline = 2s;
  webapp::stats stats;
  bool stopped = false;
  auto app = [&]() -> awaitable<void> {
    co_await lesson11::serve(cfg, stats);
    stopped = true;
  };
  auto tour = [&]() -> awaitable<void> {
    while (stats.port == 0) co_await tut::sleep(1ms);
    fmt::print("serving on http://127.0.0.1:{} (data in {})\n\n",
               stats.port.load(), data.string());
    co_await endpoints(stats.port);
    co_await stop(stats.port, stats, stopped);
  };
  auto ended = co_await (error_of(app() && tour()) || upstream.run());
  if (ended.index() == 0 && !std::get<0>(ended).empty())
    throw std::runtime_error(std::get<0>(ended));
}

}  // namespace

int main() {
  std::string dir = (fs::temp_directory_path() / "asynclings-11-XXXXXX").string();
  if (!::mkdtemp(dir.data())) return 1;
  int status = 0;
  try {
    tut::run(main_coroutine(dir));
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file())
        files.push_back(fs::relative(e.path(), dir).string());
    std::sort(files.begin(), files.end());
    fmt::print("files: {}\n\n{}", fmt::join(files, ", "),
               tut::render_timeline(tut::current_trace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    status = 1;
  }
  fs::remove_all(dir);
  return status;
}
