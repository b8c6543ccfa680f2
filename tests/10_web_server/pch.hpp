// Lesson 10's precompiled header: the shared one (tut/pch.hpp), the
// lesson's given headers and the parts of Asio the server uses.
#include "tut/pch.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/signal_set.hpp>
#include <asio/thread_pool.hpp>

#include "web.hpp"
