// Lesson 13, given: a fake of a paginated API, in the process, for the
// demo and the tests. Page n of it is what GET /items?page=n would answer
// from a real service: some items, and the number of the page to ask for
// next (none after the last page). Each fetch takes `delay` on the loop.
//
// Outside the lesson's namespace, so that your code and the reference
// share it.
#pragma once

#include "tut/tut.hpp"

#include <asio/co_spawn.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace upstream {

using namespace std::chrono_literals;

struct page {
  std::vector<std::string> items;
  std::optional<int> next;  // the page after this one; none: the last
};

struct api_config {
  std::string name = "api";  // on the timeline, a row per fetch: "api page 2"
  int pages = 3;             // how many pages there are
  int step = 1;              // the pages are 1, 1 + step, 1 + 2 * step, ...
  int per_page = 3;          // items on a page
  tut::clock::duration delay = 100ms;  // what one fetch takes
  int empty_page = 0;        // this page has no items (it still has a next)
  int failing_page = 0;      // fetching this page fails (503), after `delay`
  std::size_t item_bytes = 0;  // items padded to this many bytes
  bool traced = true;        // each fetch a row on the timeline
};

// What the API saw. Atomics: a test reads them while the server that
// fetches runs on another thread.
struct api_counters {
  std::atomic<int> started{0};    // fetches begun
  std::atomic<int> completed{0};  // ended with a page
  std::atomic<int> cancelled{0};  // ended with operation_aborted
  std::atomic<int> failed{0};     // the failing page, or one that is not there
  std::atomic<int> in_flight{0};  // under way now
  std::atomic<int> peak{0};       // most under way at once
};

// The text of item i (from 1) of page n: "api: item 2 of page 1".
inline std::string item_text(const api_config& cfg, int n, int i) {
  auto text = fmt::format("{}: item {} of page {}", cfg.name, i, n);
  if (text.size() < cfg.item_bytes) text.resize(cfg.item_bytes, '.');
  return text;
}

// Every item of every page, in order: what reading the whole API gives.
inline std::vector<std::string> all_items(const api_config& cfg) {
  std::vector<std::string> out;
  for (int k = 0; k < cfg.pages; ++k) {
    int n = 1 + k * cfg.step;
    if (n == cfg.empty_page) continue;
    for (int i = 1; i <= cfg.per_page; ++i) out.push_back(item_text(cfg, n, i));
  }
  return out;
}

class fake_api {
public:
  // `seen`: where to count what it sees (its own counters when null).
  fake_api(asio::any_io_executor ex, api_config cfg,
           api_counters* seen = nullptr)
      : ex_(std::move(ex)),
        cfg_(std::move(cfg)),
        own_(seen ? nullptr : std::make_unique<api_counters>()),
        seen_(seen ? seen : own_.get()) {}

  // Fetches page n. An asynchronous operation that takes any completion
  // token, like Asio's own:
  //   co_await api.async_fetch(n, asio::use_awaitable)           (awaitable)
  //   co_await api.async_fetch(n, asio::experimental::use_coro)  (coro)
  // Cancelled while it waits, it ends with operation_aborted. A page that
  // is not there (404) and the failing page (503) throw
  // std::runtime_error.
  template <typename Token>
  auto async_fetch(int n, Token&& token) {
    auto work = fetch(n);
    if (cfg_.traced)
      work = tut::traced(fmt::format("{} page {}", cfg_.name, n),
                         std::move(work));
    return asio::co_spawn(ex_, std::move(work), std::forward<Token>(token));
  }

  const api_config& config() const { return cfg_; }
  const api_counters& seen() const { return *seen_; }

  // The pages asked for, in the order they were asked for.
  std::vector<int> requested() const {
    std::lock_guard lock(mutex_);
    return requested_;
  }

private:
  asio::awaitable<page> fetch(int n) {
    {
      std::lock_guard lock(mutex_);
      requested_.push_back(n);
    }
    auto& c = *seen_;
    ++c.started;
    int now = ++c.in_flight;
    for (int p = c.peak; now > p && !c.peak.compare_exchange_weak(p, now);) {
    }
    struct leave {
      api_counters& c;
      ~leave() { --c.in_flight; }
    } left{c};
    try {
      co_await tut::sleep(cfg_.delay);
    } catch (...) {
      ++c.cancelled;
      throw;
    }
    int k = (n - 1) / cfg_.step;
    if (n < 1 || (n - 1) % cfg_.step != 0 || k >= cfg_.pages) {
      ++c.failed;
      throw std::runtime_error(
          fmt::format("{}: there is no page {} (404 Not Found)", cfg_.name, n));
    }
    if (n == cfg_.failing_page) {
      ++c.failed;
      throw std::runtime_error(fmt::format(
          "{}: page {} failed (503 Service Unavailable)", cfg_.name, n));
    }
    ++c.completed;
    page p;
    if (n != cfg_.empty_page)
      for (int i = 1; i <= cfg_.per_page; ++i)
        p.items.push_back(item_text(cfg_, n, i));
    if (k + 1 < cfg_.pages) p.next = n + cfg_.step;
    co_return p;
  }

  asio::any_io_executor ex_;
  api_config cfg_;
  std::unique_ptr<api_counters> own_;
  api_counters* seen_;
  mutable std::mutex mutex_;
  std::vector<int> requested_;
};

}  // namespace upstream
