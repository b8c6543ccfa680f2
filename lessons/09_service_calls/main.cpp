// Lesson 09 demo: your client (exercise.cpp) in real time, against small
// HTTP services on 127.0.0.1 that take 200 ms to answer. The dashboard's
// three calls one after another and then at once; a fan-out of eight
// through a limit of three; then one service failing and one too slow for
// the client's timeout, and the partial dashboard that comes back. Run it
// with `scripts/tutor run 09`.
#include "lesson.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using asio::awaitable;
using namespace std::chrono_literals;

namespace {

// A service that answers every GET after `delay`, with the text that
// `answer` makes of the path, on its own threads (a real server elsewhere,
// as far as the client can tell).
using answer_fn = std::function<std::string(const std::string& path)>;

answer_fn always(std::string text) {
  return [text](const std::string&) { return text; };
}

class fake_service {
public:
  fake_service(answer_fn answer, std::chrono::milliseconds delay,
               int status = 200) {
    server_.Get(".*", [=, this](const httplib::Request& request,
                                httplib::Response& reply) {
      std::unique_lock lock(mutex_);
      stopping_.wait_for(lock, delay, [this] { return stopped_; });
      reply.status = status;
      reply.set_content(answer(request.path), "text/plain");
    });
    server_.set_tcp_nodelay(true);  // no 40 ms wait between head and body
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~fake_service() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    stopping_.notify_all();
    server_.stop();
    thread_.join();
  }
  std::string url(std::string_view path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable stopping_;
  bool stopped_ = false;
};

// The dashboard the slow way, for comparison: one call after the other.
awaitable<lesson09::dashboard> load_in_turn(lesson09::http_client& client,
                                            lesson09::service_urls urls) {
  lesson09::dashboard d;
  d.user = co_await lesson09::fetch_text(client, urls.user);
  d.orders.text = co_await lesson09::fetch_text(client, urls.orders);
  d.notifications.text =
      co_await lesson09::fetch_text(client, urls.notifications);
  co_return d;
}

void report(const char* what) {
  auto trace = tut::current_trace();
  fmt::print("{}: {:.0f} ms\n{}\n", what, trace.elapsed.count() * 1000,
             tut::render_timeline(trace));
}

std::string shown(const lesson09::section& s) {
  return s.text ? *s.text : "missing: " + s.error;
}

void print(const lesson09::dashboard& d) {
  fmt::print("  user:          {}\n  orders:        {}\n"
             "  notifications: {}\n",
             d.user, shown(d.orders), shown(d.notifications));
}

}  // namespace

int main() {
  // A client that gives up on a request closes its connection while the
  // service may still write to it: that must be an error, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    // Three services on 127.0.0.1, each answering after 200 ms, on threads
    // of their own: as far as the client can tell, servers elsewhere.
    fake_service user(always("Ada Lovelace"), 200ms);
    fake_service orders(always("2 orders"), 200ms);
    fake_service notifications(always("3 new"), 200ms);
    lesson09::service_urls urls{user.url("/user"), orders.url("/orders"),
                                notifications.url("/notifications")};

    // The dashboard the slow way: each call waits for the one before it,
    // so the page takes the sum of the three, about 600 ms.
    auto dashboard = tut::run([&]() -> awaitable<lesson09::dashboard> {
      lesson09::http_client client(2s);
      co_return co_await load_in_turn(client, urls);
    }());
    report("three calls of 200 ms in turn");

    // Your load_dashboard: the three calls in flight at once, so the page
    // takes as long as the slowest, about 200 ms.
    dashboard = tut::run([&]() -> awaitable<lesson09::dashboard> {
      lesson09::http_client client(2s);
      co_return co_await lesson09::load_dashboard(client, urls);
    }());
    report("the same three calls at once (load_dashboard)");
    print(dashboard);

    // A fan-out: eight items of 200 ms each through a limit of three. Three
    // at a time make three waves: about 600 ms, and never more than three
    // requests at the service.
    fake_service items([](const std::string& path) {
      return "item " + path.substr(path.rfind('/') + 1);
    }, 200ms);
    std::vector<std::string> item_urls;
    for (int i = 1; i <= 8; ++i)
      item_urls.push_back(items.url(fmt::format("/items/{}", i)));
    auto bodies = tut::run([&]() -> awaitable<std::vector<std::string>> {
      lesson09::http_client client(2s);
      co_return co_await lesson09::fetch_all(client, item_urls, 3);
    }());
    fmt::print("\n");
    report("8 items of 200 ms, at most 3 at a time (fetch_all)");
    fmt::print("  {}\n\n", fmt::join(bodies, ", "));

    // Trouble: the orders service answers 500, the notifications service
    // takes 2 s and the client gives each request 500 ms. The dashboard
    // still comes back after 500 ms, with the user and two reasons.
    fake_service orders_down(always("database down"), 0ms, 500);
    fake_service notifications_slow(always("3 new"), 2000ms);
    lesson09::service_urls troubled{user.url("/user"),
                                    orders_down.url("/orders"),
                                    notifications_slow.url("/notifications")};
    dashboard = tut::run([&]() -> awaitable<lesson09::dashboard> {
      lesson09::http_client client(500ms);
      co_return co_await lesson09::load_dashboard(client, troubled);
    }());
    report("orders down, notifications 2 s late, timeout 500 ms");
    print(dashboard);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
