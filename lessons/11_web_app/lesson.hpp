// Lesson 11's interface: the one function the tests call. Your exercise.cpp
// defines it; so does the reference solution. The tests talk to the web app
// the way any client does: over sockets on 127.0.0.1.
//
// No include guard on purpose: a test includes this file twice, once for
// your code (namespace lesson11) and once for the reference, renamed to
// lesson11_reference, so both can run side by side.
#include "given/web_app.hpp"
#include "tut/tut.hpp"

namespace lesson11 {

namespace http = common::http;
namespace web = common::web;

// Serves the web app on cfg.server's address and port (port 0: any free
// port, reported in stats.port once listening) until SIGINT or SIGTERM;
// then refuses new connections, lets the requests under way and the queued
// background jobs finish within cfg.shutdown_deadline (what is left after
// it is cancelled), and returns.
asio::awaitable<void> serve(webapp::config cfg, webapp::stats& stats);

}  // namespace lesson11
