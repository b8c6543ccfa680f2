// libFuzzer target for lesson 15's WebSocket frames (lessons/15_websockets/
// given/frames.hpp), the decoder every session of the lesson reads with.
// Built and run by scripts/fuzz with clang, AddressSanitizer and
// UndefinedBehaviorSanitizer:
//
//   scripts/fuzz --only frames 600
//
// Besides "no crash, no undefined behaviour", it checks what the sessions
// rely on:
//   - decoding is the same however the bytes arrive: all at once, or split
//     in two anywhere, gives the same events;
//   - an event uses bytes that were there: the buffer only shrinks; text is
//     UTF-8; a message is never over the limit; an error carries 1002, 1007
//     or 1009 and a reason, and stays;
//   - parse_frame on a prefix of a frame is incomplete, or the same error;
//   - what encode_masked writes, the server's decoder reads back, and what
//     encode writes, the client's.
#include "given/frames.hpp"

#include "../support/fuzz_check.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using fuzz::check;

constexpr std::size_t max_message = 4096;

struct seen {
  ws::kind what;
  std::string data;
  std::uint16_t code;
  bool operator==(const seen&) const = default;
};

// Every event `bytes` holds, fed in two pieces split at `at`.
std::vector<seen> decode(std::string_view bytes, std::size_t at, ws::role role) {
  ws::decoder d(role, ws::limits{max_message});
  std::vector<seen> out;
  std::string buffer(bytes.substr(0, at));
  for (int piece = 0; piece < 2; ++piece) {
    if (piece == 1) buffer.append(bytes.substr(at));
    for (;;) {
      auto before = buffer.size();
      auto e = d.next(buffer);
      check(buffer.size() <= before, "the decoder only takes bytes away");
      if (e.what == ws::kind::none) break;
      if (e.what == ws::kind::text)
        check(ws::valid_utf8(e.data), "a text message is UTF-8");
      if (e.what == ws::kind::text || e.what == ws::kind::binary)
        check(e.data.size() <= max_message, "a message is within the limit");
      if (e.what == ws::kind::error) {
        check(e.code == ws::code::protocol_error || e.code == ws::code::invalid_data ||
                  e.code == ws::code::too_big,
              "an error's close code is 1002, 1007 or 1009");
        check(!e.data.empty(), "an error says what was wrong");
        auto again = d.next(buffer);
        check(again.what == ws::kind::error && again.code == e.code, "an error stays");
        out.push_back({e.what, e.data, e.code});
        return out;
      }
      if (e.what == ws::kind::close)
        check(e.code == ws::code::no_status || ws::sendable_code(e.code),
              "a close's code may be sent");
      out.push_back({e.what, std::move(e.data), e.code});
    }
  }
  return out;
}

void check_prefixes(std::string_view bytes, ws::role role) {
  auto full = ws::parse_frame(bytes, role, max_message);
  if (full.st == ws::status::incomplete) return;
  std::size_t end = full.st == ws::status::complete ? full.consumed : bytes.size();
  for (std::size_t n = 0; n < end && n < 64; ++n) {
    auto p = ws::parse_frame(bytes.substr(0, n), role, max_message);
    check(p.st == ws::status::incomplete ||
              (p.st == ws::status::error && full.st == ws::status::error &&
               p.code == full.code),
          "a prefix of a frame is incomplete, or the same error");
  }
  if (full.st == ws::status::complete) {
    check(full.consumed <= bytes.size(), "a frame lies inside its bytes");
    auto again = ws::parse_frame(std::string(bytes.substr(0, full.consumed)) + "trailing",
                                 role, max_message);
    check(again.st == ws::status::complete && again.consumed == full.consumed &&
              again.f.payload == full.f.payload,
          "bytes after a frame change nothing");
  }
}

// The input as a frame to encode: byte 0 picks the opcode and fin, bytes 1
// to 4 the mask key, the rest is the payload.
void check_round_trip(std::string_view bytes) {
  if (bytes.size() < 5) return;
  static const ws::opcode ops[] = {ws::opcode::text, ws::opcode::binary, ws::opcode::ping,
                                   ws::opcode::pong, ws::opcode::close};
  auto op = ops[static_cast<unsigned char>(bytes[0]) % 5];
  std::uint32_t key = 0;
  for (int i = 1; i <= 4; ++i) key = (key << 8) | static_cast<unsigned char>(bytes[i]);
  std::string payload(bytes.substr(5));
  if (ws::is_control(op) && payload.size() > 125) payload.resize(125);
  if (op == ws::opcode::close) payload = ws::close_payload(1000, "");
  if (op == ws::opcode::text && !ws::valid_utf8(payload)) op = ws::opcode::binary;
  for (auto role : {ws::role::server, ws::role::client}) {
    auto wire = role == ws::role::server ? ws::encode_masked(op, payload, key)
                                         : ws::encode(op, payload);
    ws::decoder d(role, ws::limits{1 << 20});
    auto e = d.next(wire);
    check(wire.empty(), "a whole frame is taken whole");
    if (op == ws::opcode::close) {
      check(e.what == ws::kind::close && e.code == 1000, "a close frame reads back");
    } else {
      check(e.what != ws::kind::error && e.what != ws::kind::none, "an encoded frame decodes");
      check(e.data == payload, "what was encoded reads back");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (auto role : {ws::role::server, ws::role::client}) {
    auto whole = decode(bytes, bytes.size(), role);
    std::size_t at = size ? data[0] % (size + 1) : 0;
    check(decode(bytes, at, role) == whole, "decoding does not depend on how bytes arrive");
    check_prefixes(bytes, role);
  }
  check_round_trip(bytes);
  ws::valid_utf8(bytes);
  return 0;
}
