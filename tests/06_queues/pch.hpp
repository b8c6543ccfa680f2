// Lesson 06's precompiled header: the shared one (tut/pch.hpp), Asio's
// channel, and what the queue awaits, instantiated here once.
#include "tut/pch.hpp"

#include <asio/experimental/channel.hpp>

#include <optional>
#include <string>

#ifdef __clang__  // only clang keeps the code (ASYNCLINGS_PCH_CODEGEN)
namespace tut::pch_warm_up {

using message_channel =
    asio::experimental::channel<void(asio::error_code,
                                     std::optional<std::string>)>;

inline awaitable<void> channel_waits(message_channel& items) {
  co_await items.async_send(asio::error_code{}, std::string(),
                            as_tuple(use_awaitable));
  co_await items.async_send(asio::error_code{}, std::nullopt, use_awaitable);
  co_await items.async_receive(as_tuple(use_awaitable));
  items.try_send(asio::error_code{}, std::nullopt);
}

}  // namespace tut::pch_warm_up
#endif
