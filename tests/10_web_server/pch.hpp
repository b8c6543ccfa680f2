// Lesson 10's precompiled header: the shared one (tut/pch.hpp), the
// lesson's given headers and the parts of Asio the server uses.
#include "tut/pch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/signal_set.hpp>
#include <asio/thread_pool.hpp>

#include "given/web.hpp"

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
// What the server awaits, instantiated here once (see tut/pch.hpp).
namespace web::pch_warm_up {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;

inline awaitable<std::uint64_t> number_job() { co_return 0; }

inline awaitable<void> waits(asio::ip::tcp::acceptor& acceptor,
                             asio::signal_set& signals,
                             asio::thread_pool& pool,
                             asio::experimental::channel<void(
                                 asio::error_code, std::string)>& jobs) {
  asio::any_io_executor on_pool = pool.get_executor();
  (void)on_pool;
  auto ex = co_await asio::this_coro::executor;
  co_await acceptor.async_accept(as_tuple(use_awaitable));
  co_await (tut::pch_warm_up::void_job() ||
            signals.async_wait(use_awaitable));
  co_await asio::co_spawn(pool, tut::pch_warm_up::void_job(), use_awaitable);
  co_await asio::co_spawn(pool, number_job(), use_awaitable);
  jobs.try_send(asio::error_code{}, std::string());
  asio::cancellation_signal cancel;
  asio::co_spawn(ex, tut::pch_warm_up::void_job(),
                 asio::bind_cancellation_slot(cancel.slot(), on_done{}));
  co_await jobs.async_send(asio::error_code{}, std::string(), use_awaitable);
  co_await jobs.async_receive(as_tuple(use_awaitable));
}

}  // namespace web::pch_warm_up
#endif
