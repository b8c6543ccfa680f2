// Starting a cpp-httplib server that the tests run beside their own loop
// (lesson 08's slow upstream, lesson 09's fake services).
#pragma once

#include <httplib.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

namespace grade {

// Runs `server` (bound already: bind_to_any_port) on `thread` and returns
// once it runs, so that stop() can stop it (before, stop() does nothing and
// the server would listen for ever). cpp-httplib makes its task queue, of
// `threads` threads, right after it starts running: the queue's maker says
// when. False if it did not start within `limit`.
inline bool start_listening(httplib::Server& server, std::thread& thread,
                            std::size_t threads,
                            std::chrono::milliseconds limit =
                                std::chrono::seconds(2)) {
  auto started = std::make_shared<std::promise<void>>();
  auto running = started->get_future();
  server.new_task_queue = [started, threads] {
    started->set_value();
    return new httplib::ThreadPool(threads);
  };
  thread = std::thread([&server] { server.listen_after_bind(); });
  return running.wait_for(limit) == std::future_status::ready;
}

}  // namespace grade
