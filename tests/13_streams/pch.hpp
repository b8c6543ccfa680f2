// Lesson 13's precompiled header: the shared one (tut/pch.hpp), lesson 10's
// server core, Asio's channel and resumable coroutine (the channel first:
// see lesson.hpp), and, for clang, the lesson's given headers outside its
// namespace.
#include "tut/pch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/coro.hpp>
#include <asio/experimental/use_coro.hpp>
#include <asio/signal_set.hpp>

#include "common/serve.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// The given headers too: g++ 12 cannot precompile their coroutine
// (fake_api::fetch: an internal compiler error in its name mangling).
#include "given/api.hpp"
#include "given/feed.hpp"

// What the lesson's streams await, instantiated here once (see
// tut/pch.hpp).
namespace upstream::pch_warm_up {

using namespace tut::pch_warm_up;  // its names and its jobs
using asio::experimental::coro;
using asio::experimental::use_coro;

inline coro<std::string> items(asio::any_io_executor ex, fake_api& api,
                               asio::experimental::channel<void(
                                   asio::error_code, std::string)>& ch) {
  auto p = co_await api.async_fetch(1, use_coro);
  for (auto& item : p.items) co_yield std::move(item);
  auto [ec, text] = co_await ch.async_receive(as_tuple(use_coro));
  co_yield std::move(text);
}

inline asio::awaitable<void> waits(
    fake_api& api, common::web::request_context& ctx,
    asio::experimental::channel<void(asio::error_code, std::string)>& ch) {
  auto ex = co_await asio::this_coro::executor;
  auto s = items(ex, api, ch);
  while (auto item = co_await s.async_resume(use_awaitable))
    co_await ctx.send(sse_event(*item));
  co_await ctx.send_head(event_stream_head());
  co_await api.async_fetch(1, use_awaitable);
  co_await ch.async_send(asio::error_code{}, std::string(), use_awaitable);
  asio::cancellation_signal signal;
  asio::co_spawn(ex, void_job(),
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  co_await (void_job() || void_job());
}

}  // namespace upstream::pch_warm_up
#endif
