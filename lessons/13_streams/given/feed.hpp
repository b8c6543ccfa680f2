// Lesson 13, given: what the streaming server of tasks 5 and 6 is told
// (feed_config) and what it tells back (feed_stats), and the bytes of a
// server-sent event. Outside the lesson's namespace, so that your code and
// the reference share them.
#pragma once

#include "api.hpp"

#include "common/server.hpp"

#include <string>
#include <string_view>

namespace upstream {

struct feed_config {
  common::web::config server;  // address, port (0: any), limits
  api_config api;              // the API that GET /items reads
};

// The server's counters (lesson 10's) and what its API saw.
struct feed_stats : common::web::server_stats {
  api_counters api;
};

// One server-sent event (the text/event-stream format of the HTML
// standard): a "data:" line with the item, then an empty line.
inline std::string sse_event(std::string_view item) {
  std::string out = "data: ";
  out += item;
  out += "\n\n";
  return out;
}

// The head of an event stream: 200, text/event-stream, not to be cached.
// ctx.send_head() sends it with Transfer-Encoding: chunked.
inline common::http::response event_stream_head() {
  common::http::response head;
  head.status = 200;
  head.content_type = "text/event-stream";
  head.extra_headers = "Cache-Control: no-cache\r\n";
  return head;
}

}  // namespace upstream
