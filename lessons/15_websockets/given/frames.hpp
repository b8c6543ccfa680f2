// Lesson 15, given: WebSocket frames (RFC 6455, section 5) as pure functions
// over bytes: no sockets, no coroutines, no clock. The course fuzzes the
// decoder (scripts/fuzz), as it does the HTTP parsers.
//
// Reading, on a server:
//   ws::decoder d;                      // reads client frames: masked
//   auto e = d.next(bytes);             // erases from `bytes` what it used
//   e.what: none (read more bytes), text or binary (a whole message, its
//           fragments put together; text is valid UTF-8), ping, pong,
//           close (e.code: the client's code, 1005 when it gave none;
//           e.data: its reason), or error (e.code: the close code RFC 6455
//           gives the fault, e.data: what was wrong)
// Writing, on a server: ws::encode(opcode::text, "hello") is one final,
// unmasked frame. A client masks: ws::encode_masked(op, payload, key).
//
// The decoder is strict where the RFC says MUST: a client's frames are
// masked, a server's are not; no reserved bit without an extension (none
// is agreed here); control frames are final and at most 125 bytes; a length
// uses as few bytes as it can and never the top bit; continuations only
// inside a fragmented message, and no new message inside one; text is
// UTF-8. Sizes are checked from a frame's header, before its payload has
// come: a header that announces 2^62 bytes is refused at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ws {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes: RFC 6455, 7.4.1, and IANA's registry (1012-1014).
namespace code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;      // the server stops
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;       // never sent: "none given"
inline constexpr std::uint16_t abnormal = 1006;        // never sent: no close frame came
inline constexpr std::uint16_t invalid_data = 1007;    // e.g. text that is not UTF-8
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace code

// May `c` travel in a close frame? (1005, 1006 and 1015 stand for "none"
// and never do; 1004 and 1016-2999 are reserved; 3000-4999 are for
// libraries and applications.)
inline bool sendable_code(std::uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
         (c >= 3000 && c <= 4999);
}

// Which side reads: a server reads a client's frames, which must be masked;
// a client reads a server's, which must not be.
enum class role { server, client };

struct limits {
  std::size_t max_message = 1 << 20;  // a text or binary message, whole: else 1009
};

// ---- UTF-8 ----------------------------------------------------------------

// Is `text` well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates,
// nothing above U+10FFFF?
inline bool valid_utf8(std::string_view text) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0, n = text.size();
  while (i < n) {
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the 2nd byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if ((byte(i + k) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// ---- One frame ------------------------------------------------------------

enum class status { complete, incomplete, error };

struct frame {
  bool fin = true;
  opcode op = opcode::text;
  std::string payload;  // unmasked
};

struct frame_result {
  status st = status::incomplete;
  frame f;                    // when complete
  std::size_t consumed = 0;   // when complete: the frame's bytes
  std::uint16_t code = 0;     // when error: the close code to answer with
  std::string_view reason;    // when error: what was wrong
};

inline bool is_control(opcode op) { return static_cast<std::uint8_t>(op) >= 0x8; }

inline bool known(std::uint8_t op) {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

// One frame from the front of `bytes` (what follows is left alone), read
// as `reader` reads. Errors are found as early as the bytes allow; a data
// frame's payload over `max_payload` is refused (1009) from its header.
inline frame_result parse_frame(std::string_view bytes, role reader,
                                std::size_t max_payload) {
  frame_result r;
  auto fail = [&](std::uint16_t c, std::string_view why) {
    r.st = status::error;
    r.code = c;
    r.reason = why;
    return r;
  };
  if (bytes.size() < 2) return r;
  auto b0 = static_cast<unsigned char>(bytes[0]);
  auto b1 = static_cast<unsigned char>(bytes[1]);
  bool fin = b0 & 0x80;
  if (b0 & 0x70)
    return fail(code::protocol_error, "reserved bits set, and no extension was agreed");
  std::uint8_t op = b0 & 0x0F;
  if (!known(op)) return fail(code::protocol_error, "an unknown opcode");
  bool masked = b1 & 0x80;
  if (reader == role::server && !masked)
    return fail(code::protocol_error, "an unmasked frame from a client");
  if (reader == role::client && masked)
    return fail(code::protocol_error, "a masked frame from a server");
  std::uint64_t len = b1 & 0x7F;
  bool control = op >= 0x8;
  if (control && !fin) return fail(code::protocol_error, "a fragmented control frame");
  if (control && len > 125)
    return fail(code::protocol_error, "a control frame over 125 bytes");
  std::size_t at = 2;
  if (len == 126) {
    if (bytes.size() < 4) return r;
    len = (std::uint64_t(static_cast<unsigned char>(bytes[2])) << 8) |
          static_cast<unsigned char>(bytes[3]);
    if (len < 126) return fail(code::protocol_error, "a length not in its shortest form");
    at = 4;
  } else if (len == 127) {
    if (bytes.size() < 10) return r;
    len = 0;
    for (std::size_t k = 2; k < 10; ++k)
      len = (len << 8) | static_cast<unsigned char>(bytes[k]);
    if (len >> 63) return fail(code::protocol_error, "a length with its top bit set");
    if (len < 65536) return fail(code::protocol_error, "a length not in its shortest form");
    at = 10;
  }
  if (!control && len > max_payload)
    return fail(code::too_big, "a message over the size limit");
  std::array<unsigned char, 4> key{};
  if (masked) {
    if (bytes.size() < at + 4) return r;
    for (std::size_t k = 0; k < 4; ++k) key[k] = static_cast<unsigned char>(bytes[at + k]);
    at += 4;
  }
  if (bytes.size() - at < len) return r;
  r.st = status::complete;
  r.f.fin = fin;
  r.f.op = static_cast<opcode>(op);
  r.f.payload.assign(bytes.data() + at, static_cast<std::size_t>(len));
  if (masked)
    for (std::size_t k = 0; k < r.f.payload.size(); ++k)
      r.f.payload[k] = static_cast<char>(r.f.payload[k] ^ key[k & 3]);
  r.consumed = at + static_cast<std::size_t>(len);
  return r;
}

// ---- Frames out -----------------------------------------------------------

namespace detail {
inline void append_header(std::string& out, opcode op, std::size_t len, bool fin,
                          bool masked) {
  out += static_cast<char>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
  unsigned char mask_bit = masked ? 0x80 : 0x00;
  if (len < 126) {
    out += static_cast<char>(mask_bit | len);
  } else if (len < 65536) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(len) >> shift) & 0xFF);
  }
}
}  // namespace detail

// One frame as a server sends it: unmasked. A control frame's payload must
// be at most 125 bytes.
inline std::string encode(opcode op, std::string_view payload, bool fin = true) {
  std::string out;
  out.reserve(payload.size() + 10);
  detail::append_header(out, op, payload.size(), fin, false);
  out += payload;
  return out;
}

// One frame as a client sends it: masked with `key`.
inline std::string encode_masked(opcode op, std::string_view payload,
                                 std::uint32_t key, bool fin = true) {
  std::string out;
  out.reserve(payload.size() + 14);
  detail::append_header(out, op, payload.size(), fin, true);
  unsigned char k[4] = {static_cast<unsigned char>(key >> 24),
                        static_cast<unsigned char>(key >> 16),
                        static_cast<unsigned char>(key >> 8),
                        static_cast<unsigned char>(key)};
  out.append(reinterpret_cast<const char*>(k), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(payload[i] ^ k[i & 3]);
  return out;
}

// A close frame's payload: the code, then the reason, cut to fit 125 bytes
// at a character boundary. no_status gives an empty payload ("none given").
inline std::string close_payload(std::uint16_t c, std::string_view reason = {}) {
  if (c == code::no_status) return {};
  std::string out;
  out += static_cast<char>(c >> 8);
  out += static_cast<char>(c & 0xFF);
  if (reason.size() > 123) {
    reason = reason.substr(0, 123);
    while (!reason.empty() && !valid_utf8(reason)) reason.remove_suffix(1);
  }
  out += reason;
  return out;
}

// ---- Messages: frames put together ----------------------------------------

enum class kind { none, text, binary, ping, pong, close, error };

struct event {
  kind what = kind::none;
  // text, binary: the whole message; ping, pong: the payload; close: the
  // reason; error: what was wrong.
  std::string data;
  // close: the peer's code (no_status when it gave none); error: the code
  // to close the connection with.
  std::uint16_t code = 0;
};

inline const char* to_string(kind k) {
  switch (k) {
    case kind::none: return "nothing yet";
    case kind::text: return "a text message";
    case kind::binary: return "a binary message";
    case kind::ping: return "a ping";
    case kind::pong: return "a pong";
    case kind::close: return "a close frame";
    case kind::error: return "a protocol error";
  }
  return "?";
}

class decoder {
public:
  explicit decoder(role reader = role::server, limits lim = {})
      : role_(reader), lim_(lim) {}

  // The next event at the front of `bytes`; the bytes it used are erased.
  // kind::none: read more bytes and call again. Control frames come as
  // they arrive, also between a message's fragments. After an error, every
  // call returns that error again: the connection is done.
  event next(std::string& bytes) {
    if (failed_) return *failed_;
    for (;;) {
      std::size_t room = lim_.max_message - (in_message_ ? message_.size() : 0);
      auto r = parse_frame(bytes, role_, room);
      if (r.st == status::incomplete) return {};
      if (r.st == status::error) return fail(r.code, r.reason);
      bytes.erase(0, r.consumed);
      auto& f = r.f;
      switch (f.op) {
        case opcode::ping: return {kind::ping, std::move(f.payload), 0};
        case opcode::pong: return {kind::pong, std::move(f.payload), 0};
        case opcode::close: return close_event(f.payload);
        case opcode::continuation:
          if (!in_message_)
            return fail(code::protocol_error, "a continuation frame outside a message");
          message_ += f.payload;
          break;
        case opcode::text:
        case opcode::binary:
          if (in_message_)
            return fail(code::protocol_error, "a new message inside a fragmented one");
          in_message_ = true;
          message_op_ = f.op;
          message_ = std::move(f.payload);
          break;
      }
      if (!f.fin) continue;  // more fragments to come
      in_message_ = false;
      event e{message_op_ == opcode::text ? kind::text : kind::binary,
              std::move(message_), 0};
      message_.clear();
      if (e.what == kind::text && !valid_utf8(e.data))
        return fail(code::invalid_data, "a text message that is not UTF-8");
      return e;
    }
  }

  bool failed() const { return failed_.has_value(); }

private:
  event fail(std::uint16_t c, std::string_view why) {
    failed_ = event{kind::error, std::string(why), c};
    return *failed_;
  }

  event close_event(std::string_view payload) {
    if (payload.empty()) return {kind::close, {}, code::no_status};
    if (payload.size() == 1)
      return fail(code::protocol_error, "a close frame of one byte");
    auto c = static_cast<std::uint16_t>(
        (static_cast<unsigned char>(payload[0]) << 8) |
        static_cast<unsigned char>(payload[1]));
    if (!sendable_code(c)) return fail(code::protocol_error, "a close code that may not be sent");
    auto reason = payload.substr(2);
    if (!valid_utf8(reason))
      return fail(code::invalid_data, "a close reason that is not UTF-8");
    return {kind::close, std::string(reason), c};
  }

  role role_;
  limits lim_;
  bool in_message_ = false;
  opcode message_op_ = opcode::text;
  std::string message_;
  std::optional<event> failed_;
};

}  // namespace ws
