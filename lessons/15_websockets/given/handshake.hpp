// Lesson 15, given: the opening handshake (RFC 6455, section 4), both
// sides, as pure functions over the course's HTTP types (common/http.hpp).
// The accept key is SHA-1 and base64, from OpenSSL's libcrypto: a hash is
// not something to write by hand.
//
// The server's side:
//   auto up = ws::accept_upgrade(ctx.request());
//   if (!up.accepted) co_return up.reply;   // 400, 426: an HTTP answer
//   co_await ctx.take_over(up.reply);       // 101 Switching Protocols
// The client's side: upgrade_request() writes the request; the reply,
// parsed with http::parse_response, goes to check_accept().
#pragma once

#include "common/http.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace ws {

namespace http = common::http;

inline constexpr std::string_view handshake_guid =
    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

inline std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                          static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
inline std::string accept_key(std::string_view key) {
  std::string text(key);
  text += handshake_guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

// A Sec-WebSocket-Key is 16 bytes in base64: 22 characters, then "==".
inline bool valid_key(std::string_view key) {
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (key.size() != 24 || !key.ends_with("==")) return false;
  for (char c : key.substr(0, 22))
    if (alphabet.find(c) == std::string_view::npos) return false;
  // The last character holds 2 bits of the 16th byte and 4 that must be 0.
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

// ---- The server's side ----------------------------------------------------

struct upgrade {
  bool accepted = false;
  http::response reply;  // 101 when accepted; else the HTTP answer to send
};

// Checks a request for a WebSocket (RFC 6455, 4.2.1): GET over HTTP/1.1,
// "Upgrade: websocket", "Connection: Upgrade", version 13, a key of 16
// bytes, no body. A request that asks for no upgrade gets 426 Upgrade
// Required (the endpoint speaks WebSocket only); another version gets 426
// with the one spoken here; anything else wrong, 400.
inline upgrade accept_upgrade(const http::request& req) {
  upgrade out;
  auto refuse = [&](int status, std::string_view why, std::string headers = {}) {
    out.reply = http::json_error(status, why);
    out.reply.extra_headers = std::move(headers);
    return out;
  };
  if (req.method != "GET" ||
      !http::has_token(req.header("upgrade"), "websocket"))
    return refuse(426, "this endpoint speaks WebSocket: ask for an upgrade",
                  "Upgrade: websocket\r\n");
  if (req.minor_version < 1) return refuse(400, "WebSocket needs HTTP/1.1");
  if (!http::has_token(req.header("connection"), "upgrade"))
    return refuse(400, "an upgrade needs \"Connection: Upgrade\"");
  if (req.header("sec-websocket-version") != "13")
    return refuse(426, "WebSocket version 13 only",
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  auto key = req.header("sec-websocket-key");
  if (!valid_key(key)) return refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  if (req.content_length != 0) return refuse(400, "an upgrade request has no body");
  out.accepted = true;
  out.reply.status = 101;
  out.reply.extra_headers = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n";
  return out;
}

// ---- The client's side ----------------------------------------------------

// A fresh Sec-WebSocket-Key.
inline std::string make_key() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  unsigned char bytes[16];
  for (auto& b : bytes) b = static_cast<unsigned char>(random());
  return base64(bytes, sizeof bytes);
}

// The request that opens a WebSocket on `path`.
inline std::string upgrade_request(std::string_view host, std::string_view path,
                                   std::string_view key) {
  std::string out = "GET ";
  out += path;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  out += key;
  out += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return out;
}

// What is wrong with the server's answer to upgrade_request(..., key); ""
// when it accepted.
inline std::string check_accept(const http::received& res, std::string_view key) {
  if (res.status != 101)
    return "the server answered " + std::to_string(res.status) + " " + res.body;
  if (!http::has_token(res.header("upgrade"), "websocket") ||
      !http::has_token(res.header("connection"), "upgrade"))
    return "the 101 lacks \"Upgrade: websocket\" or \"Connection: Upgrade\"";
  if (res.header("sec-websocket-accept") != accept_key(key))
    return "Sec-WebSocket-Accept is \"" + res.header("sec-websocket-accept") +
           "\", not \"" + accept_key(key) + "\"";
  return {};
}

}  // namespace ws
