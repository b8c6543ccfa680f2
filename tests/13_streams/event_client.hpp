// Lesson 13's client of an event stream, for the tests: one GET on a
// connection of its own, its head, then the body's chunks decoded as they
// come, each server-sent event noted with what the server's API had done
// when it arrived. Everything it does has a time limit.
#pragma once

#include "web_harness.hpp"

#include "given/api.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace events {

using harness::duration;
using harness::ending;
using namespace asio::experimental::awaitable_operators;

struct event_log {
  ending end = ending::timed_out;  // how the wait ended: reply once the
                                   // stream ended as it should
  int status = 0;                  // 0: no head came
  std::string content_type;
  std::string transfer_encoding;
  long content_length = -1;          // -1: the head did not say
  std::string body;                  // a reply that was not chunked
  std::vector<std::string> items;    // the data of each event, in order
  std::vector<int> pages_done;       // API fetches completed, at each event
  std::string malformed;             // what was wrong with the framing
};

// When to stop reading early: after this many events (-1: never); then the
// connection is closed, or reset.
struct leave_after {
  int events = -1;
  bool reset = false;
};

class reader {
public:
  reader(asio::any_io_executor ex, const upstream::api_counters* seen)
      : socket_(ex), seen_(seen) {}

  asio::ip::tcp::socket& socket() { return socket_; }

  // Connects and sends `request`; false if that failed.
  asio::awaitable<bool> start(unsigned short port, std::string request) {
    asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), port);
    auto [ec] = co_await socket_.async_connect(
        at, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return false;
    auto [wec, n] = co_await asio::async_write(
        socket_, asio::buffer(request),
        asio::experimental::as_tuple(asio::use_awaitable));
    co_return !wec;
  }

  // Reads the reply until it ends, `leave` says to go, or `limit` passes.
  asio::awaitable<event_log> read(duration limit, leave_after leave = {}) {
    event_log log;
    auto until = tut::now() + limit;
    std::size_t head_end = std::string::npos;
    for (;;) {
      if (head_end == std::string::npos) {
        head_end = in_.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          parse_head(std::string_view(in_).substr(0, head_end), log);
          in_.erase(0, head_end + 4);
        }
      }
      if (head_end != std::string::npos && log.malformed.empty()) {
        if (log.transfer_encoding != "chunked") {
          log.body += in_;
          in_.clear();
          // A reply of a known length (a 501 while the route is a stub)
          // has ended once its body is here: no wait for the limit.
          if (log.content_length >= 0 &&
              log.body.size() >= static_cast<std::size_t>(log.content_length)) {
            log.end = ending::reply;
            co_return log;
          }
        } else if (decode(log)) {
          log.end = ending::reply;
          co_return log;
        }
      }
      if (!log.malformed.empty()) {
        log.end = ending::malformed;
        co_return log;
      }
      if (leave.events >= 0 &&
          log.items.size() >= static_cast<std::size_t>(leave.events)) {
        asio::error_code ignored;
        if (leave.reset)
          socket_.set_option(asio::socket_base::linger(true, 0), ignored);
        socket_.close(ignored);
        log.end = ending::closed;
        co_return log;
      }
      if (eof_) {
        log.end = end_;
        co_return log;
      }
      char chunk[16 * 1024];
      auto r = co_await (socket_.async_read_some(
                             asio::buffer(chunk),
                             asio::experimental::as_tuple(asio::use_awaitable)) ||
                         harness::sleep_until(until));
      if (r.index() == 1) {
        log.end = ending::timed_out;
        co_return log;
      }
      auto [ec, n] = std::get<0>(r);
      in_.append(chunk, n);
      if (ec) {
        eof_ = true;
        end_ = ec == asio::error::eof ? ending::closed : ending::reset;
      }
    }
  }

private:
  static std::string_view header(std::string_view head, std::string_view name) {
    return common::http::find_header(head.substr(head.find("\r\n") + 2), name);
  }

  void parse_head(std::string_view head, event_log& log) {
    // "HTTP/1.1 200 OK"
    if (head.size() < 12 || !head.starts_with("HTTP/1.")) {
      log.malformed = "the reply does not start with an HTTP/1.x status line";
      return;
    }
    log.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    log.content_type = std::string(header(head, "content-type"));
    log.transfer_encoding = std::string(header(head, "transfer-encoding"));
    if (auto length = header(head, "content-length"); !length.empty())
      log.content_length = std::atol(std::string(length).c_str());
  }

  // Takes the whole chunks off the front of in_; true once the last one
  // (size 0) and the blank line after it have come.
  bool decode(event_log& log) {
    for (;;) {
      auto line_end = in_.find("\r\n");
      if (line_end == std::string::npos) return false;
      std::size_t size = 0;
      auto size_text = std::string_view(in_).substr(0, line_end);
      for (char c : size_text) {
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
          log.malformed = "a chunk's size is not hexadecimal: \"" +
                          std::string(size_text.substr(0, 20)) + "\"";
          return false;
        }
        size = size * 16 + static_cast<std::size_t>(d);
      }
      if (size_text.empty()) {
        log.malformed = "a chunk has no size line";
        return false;
      }
      if (in_.size() < line_end + 2 + size + 2) return false;
      if (in_.compare(line_end + 2 + size, 2, "\r\n") != 0) {
        log.malformed = "a chunk does not end with CRLF";
        return false;
      }
      if (size == 0) return true;
      text_.append(in_, line_end + 2, size);
      in_.erase(0, line_end + 2 + size + 2);
      // Whole events: "data: <item>\n\n".
      for (auto at = text_.find("\n\n"); at != std::string::npos;
           at = text_.find("\n\n")) {
        auto event = text_.substr(0, at);
        text_.erase(0, at + 2);
        if (!event.starts_with("data: ")) {
          log.malformed = "an event that is not \"data: ...\": \"" +
                          event.substr(0, 40) + "\"";
          return false;
        }
        log.items.push_back(event.substr(6));
        log.pages_done.push_back(seen_ ? seen_->completed.load() : -1);
      }
    }
  }

  asio::ip::tcp::socket socket_;
  const upstream::api_counters* seen_;
  std::string in_;    // bytes not decoded yet
  std::string text_;  // the body decoded, not yet cut into events
  bool eof_ = false;
  ending end_ = ending::closed;
};

}  // namespace events
