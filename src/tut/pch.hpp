// Headers nearly every lesson source parses; precompiled once.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <fmt/format.h>
#include "tut/tut.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What nearly every lesson awaits, instantiated here once: with clang the
// precompiled header then keeps this code (see cmake/Pch.cmake), and a
// lesson's file compiles only what is its own. Never called.
namespace tut::pch_warm_up {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

inline awaitable<void> void_job() { co_return; }
inline awaitable<std::string> string_job() { co_return std::string(); }
inline awaitable<int> int_job() { co_return 0; }

inline awaitable<void> waits(timer& t, asio::ip::tcp::socket& s,
                             asio::mutable_buffer in,
                             asio::const_buffer out) {
  auto ex = co_await asio::this_coro::executor;
  co_await t.async_wait(use_awaitable);
  co_await t.async_wait(as_tuple(use_awaitable));
  co_await s.async_read_some(in, use_awaitable);
  co_await s.async_read_some(in, as_tuple(use_awaitable));
  co_await asio::async_write(s, out, use_awaitable);
  co_await asio::async_write(s, out, as_tuple(use_awaitable));
  asio::co_spawn(ex, void_job(), asio::detached);
  co_await asio::co_spawn(ex, void_job(), use_awaitable);
  co_await asio::co_spawn(ex, string_job(), use_awaitable);
  co_await asio::co_spawn(ex, void_job(), as_tuple(use_awaitable));
  co_await asio::co_spawn(ex, string_job(), as_tuple(use_awaitable));
  co_await (void_job() || void_job());
  co_await (void_job() && void_job());
  co_await (string_job() || void_job());
  co_await (string_job() && string_job());
  co_await (string_job() && string_job() && string_job());
  co_await (int_job() || void_job());
  co_await (asio::co_spawn(ex, string_job(), as_tuple(use_awaitable)) ||
            sleep(clock::duration{}));
  co_await sleep(clock::duration{});
  asio::cancellation_signal signal;
  co_await asio::co_spawn(
      ex, string_job(),
      asio::bind_cancellation_slot(signal.slot(), as_tuple(use_awaitable)));
  co_await asio::co_spawn(
      ex, void_job(),
      asio::bind_cancellation_slot(signal.slot(), as_tuple(use_awaitable)));
  asio::co_spawn(ex, void_job(),
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  co_await traced("", void_job());
  co_await traced("", string_job());
}

// What the lessons' files make and copy: timers, lists of strings, the
// durations they write (each literal is a template of its own).
inline void values(asio::any_io_executor ex) {
  using namespace std::chrono_literals;
  timer made(ex);
  timer due(ex, clock::duration{});
  std::vector<std::string> v{std::string()};
  v.push_back(std::string());
  v.push_back(v.front());
  auto copy = v;
  (void)(10ms + 100ms + 200ms + 1s + 2s);
}

}  // namespace tut::pch_warm_up
#endif
