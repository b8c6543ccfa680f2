// Lesson 11's endpoints served the classic way: cpp-httplib with its default
// thread pool, one thread per request (8 threads on a small machine). Each
// handler is plain blocking code, which reads well; the price shows under
// I/O-bound load: a thread that sleeps or waits for an upstream serves no one
// else, so /sleep?ms=100 tops out at (threads / 0.1 s) requests a second
// however many clients are waiting.
//
//   bench_httplib_server --port 8000 --upstream 127.0.0.1:9000 [--data-dir D]
//                        [--nagle]   (TCP_NODELAY off, as cpp-httplib ships)
#include <httplib.h>

#include "work.hpp"  // lessons/11_web_app/given: the same work as lesson 11

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* json = "application/json";

struct upstream_address {
  std::string host = "127.0.0.1";
  int port = 0;
};

void answer(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), json);
}

void error(httplib::Response& res, int status, std::string_view message) {
  answer(res, status, R"({"error": ")" + std::string(message) + "\"}");
}

// One blocking call to the upstream service on a connection of its own.
std::string fetch(const upstream_address& upstream, const std::string& path) {
  httplib::Client client(upstream.host, upstream.port);
  client.set_connection_timeout(2s);
  client.set_read_timeout(2s);
  auto res = client.Get(path);
  if (!res || res->status != 200)
    throw std::runtime_error("GET " + path + " failed");
  return res->body;
}

// The three upstream calls overlap: each gets a thread of its own
// (std::async), and the handler's thread waits for all three.
std::string dashboard(const upstream_address& upstream,
                      const std::string& user_id) {
  auto user = std::async(std::launch::async, fetch, upstream,
                         "/users/" + user_id);
  auto orders = std::async(std::launch::async, fetch, upstream,
                           "/orders/" + user_id);
  auto recommendations = std::async(std::launch::async, fetch, upstream,
                                    "/recommendations/" + user_id);
  auto u = user.get(), o = orders.get(), r = recommendations.get();
  return R"({"user": )" + u + R"(, "orders": )" + o +
         R"(, "recommendations": )" + r + "}";
}

bool safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name.front() != '.' &&
         name.find_first_of(std::string_view("/\\\0", 3)) ==
             std::string_view::npos &&
         name.find("..") == std::string_view::npos;
}

// Saves `data` as `path`: into a temporary file, flushed to the disk, then
// renamed over `path`.
void save_file(const fs::path& path, std::string_view data) {
  static std::atomic<unsigned> count{0};
  auto tmp = path.parent_path() / ("." + path.filename().string() + ".tmp-" +
                                   std::to_string(getpid()) + "-" +
                                   std::to_string(count++));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open");
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::system_error(errno, std::generic_category(), "write");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  ::fsync(fd);
  ::close(fd);
  fs::rename(tmp, path);
}

// POST /log's jobs: a thread of their own takes them one after another.
class job_worker {
public:
  explicit job_worker(fs::path log_file)
      : log_file_(std::move(log_file)), thread_([this] { run(); }) {}
  ~job_worker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();  // the queued jobs are done first
  }
  void push(std::string message) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(message));
    }
    wake_.notify_one();
  }

private:
  void run() {
    for (;;) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto message = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      std::this_thread::sleep_for(50ms);  // a job's wait, as in lesson 11
      for (auto& ch : message)
        if (ch == '\n' || ch == '\r') ch = ' ';
      std::ofstream(log_file_, std::ios::app) << message << '\n';
    }
  }

  fs::path log_file_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

void add_routes(httplib::Server& server, const upstream_address& upstream,
                const fs::path& data_dir, job_worker& jobs) {
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    answer(res, 200, R"({"hello": "Asyncio"})");
  });

  // A blocking sleep: the thread is held for the whole wait.
  server.Get("/sleep", [](const httplib::Request& req,
                          httplib::Response& res) {
    long ms = 100;
    if (req.has_param("ms")) {
      auto text = req.get_param_value("ms");
      char* end = nullptr;
      ms = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || ms < 0 || ms > 10'000)
        return error(res, 400, "ms must be from 0 to 10000");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    answer(res, 200, R"({"slept_ms": )" + std::to_string(ms) + "}");
  });

  server.Get(R"(/dashboard/(\d+))", [&upstream](const httplib::Request& req,
                                                httplib::Response& res) {
    try {
      answer(res, 200, dashboard(upstream, req.matches[1]));
    } catch (const std::exception&) {
      error(res, 502, "an upstream service failed");
    }
  });

  server.Get("/cpu-heavy", [](const httplib::Request&,
                              httplib::Response& res) {
    answer(res, 200,
           R"({"result": )" + std::to_string(webapp::sum_primes_below(200'000)) + "}");
  });

  // The body is taken as it comes, whatever its Content-Type says.
  server.Post("/upload", [&data_dir](const httplib::Request& req,
                                     httplib::Response& res,
                                     const httplib::ContentReader& read) {
    auto name = req.get_param_value("name");
    if (!safe_name(name)) return error(res, 400, "a plain file name, please");
    std::string body;
    read([&body](const char* data, std::size_t n) {
      body.append(data, n);
      return body.size() <= 1024 * 1024;
    });
    if (body.size() > 1024 * 1024) return error(res, 413, "body too large");
    try {
      save_file(data_dir / name, body);
    } catch (const std::exception&) {
      return error(res, 500, "internal error");
    }
    answer(res, 201, R"({"saved": ")" + name + R"(", "bytes": )" +
                         std::to_string(body.size()) + "}");
  });

  server.Post("/log", [&jobs](const httplib::Request& req,
                              httplib::Response& res) {
    jobs.push(req.body);
    answer(res, 202, R"({"queued": true})");
  });
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8000;
  upstream_address upstream;
  fs::path data_dir = "data";
  bool nagle = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--nagle") {
      nagle = true;
      continue;
    }
    if (i + 1 == argc) break;
    std::string value = argv[++i];
    if (flag == "--port") {
      port = std::atoi(value.c_str());
    } else if (flag == "--upstream") {
      auto colon = value.rfind(':');
      upstream.host = value.substr(0, colon);
      upstream.port = std::atoi(value.c_str() + colon + 1);
    } else if (flag == "--data-dir") {
      data_dir = value;
    }
  }
  fs::create_directories(data_dir);

  // SIGINT/SIGTERM are taken by a thread of their own (sigwait), which
  // stops the server; every other thread has them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The default thread pool, as shipped. TCP_NODELAY, as uvicorn and the
  // Asio server set it: without it (--nagle) a response sent in two writes
  // waits for the client's delayed ACK, 40 ms, which measures Nagle's
  // algorithm rather than threads.
  httplib::Server server;
  server.set_tcp_nodelay(!nagle);
  job_worker jobs(data_dir / "log.txt");
  add_routes(server, upstream, data_dir, jobs);

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
  });

  std::printf("cpp-httplib on 127.0.0.1:%d, %u threads\n", port,
              static_cast<unsigned>(CPPHTTPLIB_THREAD_POOL_COUNT));
  std::fflush(stdout);
  if (!server.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "cpp-httplib: cannot listen on 127.0.0.1:%d\n",
                 port);
    std::quick_exit(1);
  }
  stopper.join();
}
