// The course runtime in one include: what asyncio gives you for free.
//   tut::run(main())      asyncio.run(main())
//   tut::sleep(1s)        await asyncio.sleep(1)
//   tut::yield()          await asyncio.sleep(0)
//   tut::timer            loop.call_later / a cancellable timer
//   tut::now()            loop.time()
//   tut::traced(n, w)     a named task on the timeline
#pragma once

#include "tut/clock.hpp"
#include "tut/lag_monitor.hpp"
#include "tut/run.hpp"
#include "tut/trace.hpp"

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
