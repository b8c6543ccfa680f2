// Lesson 10's interface: the one function the tests call. Your exercise.cpp
// defines it; so does the reference solution. The tests talk to the server
// the way any client does: over sockets on 127.0.0.1.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson10) and once for the reference, renamed to
// lesson10_reference, so both can run side by side.
#include "tut/tut.hpp"
#include "given/web.hpp"

namespace lesson10 {

// Serves HTTP on cfg.address:cfg.port (port 0: any free port, reported in
// stats.port once listening) until SIGINT or SIGTERM; then stops
// accepting, lets the requests in flight and the queued background jobs
// finish within cfg.shutdown_deadline, and returns.
asio::awaitable<void> serve(web::config cfg, web::server_stats& stats);

}  // namespace lesson10
