// Lesson 15 grading. Two kinds of scenario, both over real sockets on
// 127.0.0.1, in real time, each bounded:
//  - a session of the test's own: the test holds one end of a loopback
//    connection as a client, makes a session on the other end and runs one
//    of your tasks on it (the writer, send, run_session);
//  - your server: serve() on a thread of its own, and clients that talk to
//    it as a browser would: the tests' raw-socket client (ws_client.hpp),
//    Python's websockets library, headless Chromium.
// They judge what a client sees (frames, their order, close codes, the
// connection's end) and the server's counters, never a stopwatch: a time
// limit only bounds how long a test waits for something to happen.
#include "sides.hpp"
#include "cancelled.hpp"
#include "ws_client.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <functional>
#include <optional>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace wstest;
using grade::run_real;
using run_t = server_run<wsapp::stats>;
using serve_fn = asio::awaitable<void> (*)(wsapp::config, wsapp::stats&);
using wsapp::session;

namespace {

// A config that keeps tests short: no pings unless a test asks for them,
// short timeouts, small messages. (A client that is to stall sets a small
// receive buffer of its own: the kernel then holds little for it.)
wsapp::config test_config() {
  wsapp::config cfg;
  cfg.server.idle_timeout = 500ms;
  cfg.server.max_connections = 256;
  cfg.queue_limit = 32;
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 30s;
  cfg.close_timeout = 150ms;
  cfg.shutdown_deadline = 1s;
  cfg.limits.max_message = 64 * 1024;
  return cfg;
}

constexpr int small_buffer = 4096;  // a client's receive buffer, when it stalls

// "alice says: message number 007 ...", padded to `size`: test data lives
// on the heap (over 15 bytes), where a dangling string shows.
std::string numbered(std::string_view who, int k, std::size_t size = 0) {
  auto text = fmt::format("{} says: message number {:03}", who, k);
  if (text.size() < size) text.append(size - text.size(), '.');
  return text;
}

std::string list_of(const std::vector<got>& frames) {
  std::vector<std::string> shown;
  for (const auto& g : frames) shown.push_back(describe(g));
  return shown.empty() ? "nothing" : fmt::format("[{}]", fmt::join(shown, ", "));
}

// The exception at the root of `e`: `a && b` and `a || b` throw
// asio::multiple_exceptions when both sides failed (both were cancelled,
// say); the first of them is the one that counts.
bool is_cancellation(std::exception_ptr e) {
  while (e) {
    try {
      std::rethrow_exception(e);
    } catch (const asio::multiple_exceptions& m) {
      e = m.first_exception();
    } catch (const asio::system_error& s) {
      return s.code() == asio::error::operation_aborted;
    } catch (...) {
      return false;
    }
  }
  return false;
}

// ---- A session of the test's own ------------------------------------------

// One end of a loopback connection as a session, the other as a client.
// Made on the heap and kept outside the run, so that a task that never
// ends can be left behind (leaked) instead of touching freed memory.
struct linked {
  wsapp::config cfg = test_config();
  int client_buffer = 0;  // the client's receive buffer; 0: the system's
  wsapp::stats stats;
  std::vector<ws::event> handed_on;  // what the session gave its endpoint
  std::unique_ptr<ws_client> client;
  std::unique_ptr<tcp::socket> socket;
  std::unique_ptr<session> s;
};

// What a test keeps of a linked session outside the loop's run. The run
// destroys the session, its socket and its client once its tasks have ended
// (wind_down); whatever a run that failed left behind is leaked here, not
// destroyed after the loop it belongs to is gone.
struct linked_holder {
  std::unique_ptr<linked> p = std::make_unique<linked>();
  linked* operator->() const { return p.get(); }
  linked& operator*() const { return *p; }
  linked_holder() = default;
  linked_holder(const linked_holder&) = delete;
  linked_holder& operator=(const linked_holder&) = delete;
  ~linked_holder() {
    if (p->s || p->socket || p->client) (void)p.release();
  }
};

awaitable<void> link(linked& l) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
  l.client = std::make_unique<ws_client>(ex);
  l.socket = std::make_unique<tcp::socket>(ex);
  if (!co_await l.client->connect_raw(acceptor.local_endpoint().port(), l.client_buffer))
    throw std::runtime_error("the test could not connect to itself");
  co_await acceptor.async_accept(*l.socket, use_awaitable);
  auto* seen = &l.handed_on;
  l.s = std::make_unique<session>(
      l.cfg, l.stats, *l.socket, std::string(),
      [seen](session&, ws::event e) -> awaitable<void> {
        seen->push_back(std::move(e));
        co_return;
      });
}

// A task of the session, started on its own; how and when it ended.
struct task_end {
  bool ended = false;
  bool cancelled = false;  // it threw operation_aborted
  std::string error;       // what it threw, if it did
  tut::clock::time_point at{};
};

std::shared_ptr<task_end> start(asio::any_io_executor ex, awaitable<void> work) {
  auto end = std::make_shared<task_end>();
  co_spawn(ex, std::move(work), [end](std::exception_ptr e) {
    end->ended = true;
    end->at = tut::now();
    end->cancelled = is_cancellation(e);
    if (e) end->error = grade::describe_exception(e);
  });
  return end;
}

// The end of a scenario: the task, if it still runs, is woken (the outbox
// closed, the socket closed) and given 500 ms to end; if it still does
// not, it is left behind with what it uses, and the loop is stopped.
awaitable<void> wind_down(linked& l, std::shared_ptr<task_end> task) {
  auto ended = [&] { return task->ended; };
  // The session first: it refers to the socket.
  auto destroy = [&] {
    l.s.reset();
    l.socket.reset();
    l.client.reset();
  };
  if (ended()) co_return destroy();
  asio::error_code ignored;
  l.s->out.close();
  l.s->changed.cancel();
  l.socket->close(ignored);
  l.client->reset();
  if (co_await eventually(ended, 500ms)) co_return destroy();
  (void)l.s.release();
  (void)l.socket.release();
  (void)l.client.release();
  auto ex = co_await asio::this_coro::executor;
  stop_loop(ex);
}

// Runs `steps(s)` on a session of the test's own, linked to the test's
// client: a coroutine that returns the task of the session it started,
// which then winds the session down.
template <typename Steps>
grade::outcome<grade::nothing> on_linked(linked_holder& l, Steps steps) {
  return run_real([&]() -> awaitable<void> {
    co_await link(*l);
    co_await wind_down(*l, co_await steps(*l->s));
  });
}

// ---- Your server ----------------------------------------------------------

run_t::serve_fn serving(serve_fn serve, wsapp::config cfg) {
  return [serve, cfg](wsapp::stats& s) { return serve(cfg, s); };
}

// Runs `clients(server)` (a coroutine, on the test's loop) against a fresh
// server started with `serve` and `cfg`, once it listens.
template <typename F>
auto against(serve_fn serve, wsapp::config cfg, F clients) {
  using T = typename std::invoke_result_t<F&, run_t&>::value_type;
  using stored = std::conditional_t<std::is_void_v<T>, grade::nothing, T>;
  struct served {
    std::string basics;  // why the scenario could not run, if it could not
    grade::outcome<stored> run;
  } out;
  run_t server(serving(serve, cfg));
  if (!server.listening()) {
    out.basics = "the server did not start listening within 3 s" +
                 (server.error().empty() ? std::string()
                                         : ": serve() threw " + server.error());
    return out;
  }
  out.run = run_real([&] { return clients(server); });
  return out;
}

// Fails the test unless the scenario ran to its end.
template <typename S>
void ran(const S& served) {
  if (!served.basics.empty()) FAIL(served.basics);
  if (!served.run.value)
    FAIL("the test's clients could not go on: " + served.run.error);
}

// Opens a WebSocket on `path`, or throws what went wrong (the scenario
// ends with it).
awaitable<std::unique_ptr<ws_client>> opened(unsigned short port, std::string path,
                                             int buffer = 0) {
  auto c = std::make_unique<ws_client>(co_await asio::this_coro::executor);
  auto problem = co_await c->open(port, path, buffer);
  if (!problem.empty())
    throw std::runtime_error(fmt::format("GET {} with an upgrade: {}", path, problem));
  co_return c;
}

// `n` frames, each waited for at most `limit`; stops at a close frame or
// the connection's end.
awaitable<std::vector<got>> frames(ws_client& c, std::size_t n, duration limit = 1s) {
  std::vector<got> out;
  while (out.size() < n) {
    out.push_back(co_await c.next(limit));
    if (out.back().end != ending::reply || out.back().what == ws::kind::close) break;
  }
  co_return out;
}

got text(std::string t) { return {ws::kind::text, std::move(t), 0, ending::reply}; }
got binary(std::string b) { return {ws::kind::binary, std::move(b), 0, ending::reply}; }
got close_frame(std::uint16_t code) { return {ws::kind::close, {}, code, ending::reply}; }

bool same(const std::vector<got>& a, const std::vector<got>& b, bool reasons = false) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].end != b[i].end || a[i].what != b[i].what) return false;
    if (a[i].what == ws::kind::close ? a[i].code != b[i].code ||
                                           (reasons && a[i].data != b[i].data)
                                     : a[i].data != b[i].data)
      return false;
  }
  return true;
}

}  // namespace

// ===========================================================================
// Task 1: the writer
// ===========================================================================

namespace {

using task_fn = awaitable<void> (*)(session&);

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  return out;
}

const std::string first_text = "the first frame, a text of some length";
const std::string third_text = "the third frame comes after the big one";
const std::string last_words = "that was all, thank you";

void queue(session& s, ws::opcode op, std::string_view payload) {
  if (!s.out.try_send(asio::error_code{}, wsapp::make_frame(op, payload)))
    throw std::runtime_error("the test could not queue a frame");
}

struct writer_outcome {
  grade::outcome<grade::nothing> run;
  std::vector<got> seen;          // what the client read
  task_end writer;                // how the writer ended
  bool ended_early = false;       // it had returned with nothing to write
  bool gone = false;              // the session hung up
};

// A writer scenario on a session of the test's own: `steps(s, o)` queues
// frames, starts the writer (start_writer) and plays the client; the
// writer is then given `limit` to end.
template <typename Steps>
writer_outcome writer_run(linked_holder& l, Steps steps, duration limit = 300ms) {
  writer_outcome o;
  o.run = on_linked(l, [&](session& s) -> awaitable<std::shared_ptr<task_end>> {
    auto w = co_await steps(s, o);
    co_await eventually([&] { return w->ended; }, limit);
    o.writer = *w;
    o.gone = s.gone;
    co_return w;
  });
  return o;
}

// The writer is the only task that writes to the linked client: once it
// has ended, the client's waits end when no more bytes come.
awaitable<std::shared_ptr<task_end>> start_writer(task_fn writer, session& s, ws_client& client) {
  auto w = start(co_await asio::this_coro::executor, tut::traced("writer", writer(s)));
  client.nothing_more_once([w] { return w->ended; });
  co_return w;
}

// Three frames (one of 200 kB, more than the socket takes at once) and the
// close frame are queued; the writer runs; the client reads.
writer_outcome write_frames(task_fn writer) {
  linked_holder l;
  l->cfg.send_buffer = 4096;  // the socket takes a few kB at a time
  l->client_buffer = small_buffer;
  return writer_run(l, [&](session& s, writer_outcome& o) -> awaitable<std::shared_ptr<task_end>> {
    queue(s, ws::opcode::text, first_text);
    queue(s, ws::opcode::binary, pattern(200'000));
    queue(s, ws::opcode::text, third_text);
    wsapp::close(s, ws::code::normal, last_words);
    auto w = co_await start_writer(writer, s, *l->client);
    o.seen = co_await tut::traced("client", l->client->until_close(2s));
    co_return w;
  });
}

// The writer starts with nothing to write; a frame comes 150 ms later,
// then the close.
writer_outcome wait_for_frames(task_fn writer) {
  linked_holder l;
  return writer_run(l, [&](session& s, writer_outcome& o) -> awaitable<std::shared_ptr<task_end>> {
    auto w = co_await start_writer(writer, s, *l->client);
    co_await tut::sleep(150ms);
    o.ended_early = w->ended;
    queue(s, ws::opcode::text, "sent after the writer had waited 150 ms");
    o.seen = co_await frames(*l->client, 1);
    wsapp::close(s, ws::code::going_away, last_words);
    auto rest = co_await l->client->until_close(1s);
    o.seen.insert(o.seen.end(), rest.begin(), rest.end());
    co_return w;
  });
}

// The client resets its connection; then frames are queued.
writer_outcome client_gone(task_fn writer) {
  linked_holder l;
  return writer_run(l, [&](session& s, writer_outcome&) -> awaitable<std::shared_ptr<task_end>> {
    l->client->reset();
    co_await tut::sleep(20ms);
    for (int k = 1; k <= 3; ++k)
      queue(s, ws::opcode::text, numbered("the server", k, 20'000));
    co_return co_await start_writer(writer, s, *l->client);
  }, 1s);
}

// The outbox is full (2 of 2) when the session is closed: close() drops
// what waits, and the close frame goes next.
writer_outcome full_then_closed(task_fn writer) {
  linked_holder l;
  l->cfg.queue_limit = 2;
  return writer_run(l, [&](session& s, writer_outcome& o) -> awaitable<std::shared_ptr<task_end>> {
    queue(s, ws::opcode::text, first_text);
    queue(s, ws::opcode::text, third_text);
    wsapp::close(s, ws::code::policy_violation, "too slow: your outbox is full");
    auto w = co_await start_writer(writer, s, *l->client);
    o.seen = co_await l->client->until_close(1s);
    co_return w;
  });
}

std::string writer_end(const task_end& w, std::string_view name = "the writer") {
  if (!w.ended) return fmt::format("{} was still running", name);
  if (!w.error.empty()) return fmt::format("{} threw {}", name, w.error);
  return fmt::format("{} returned", name);
}

}  // namespace

TEST_CASE("the writer writes the queued frames in order, each whole, then "
          "the close frame, and returns",
          "[lesson15][task1]") {
  auto [actual, expected] = BOTH_SIDES(write_frames, writer);
  grade::expect_no_exception(actual, expected, "the scenario");
  std::vector<got> want{text(first_text), binary(pattern(200'000)), text(third_text),
                        close_frame(ws::code::normal)};
  REQUIRE(same(expected.seen, want));
  GRADE(same(actual.seen, want),
        fmt::format("with a text, 200 kB of binary, another text and the close "
                    "frame queued, the client read {}; expected {}",
                    list_of(actual.seen), list_of(want)),
        actual.run, expected.run);
  GRADE(actual.writer.ended && actual.writer.error.empty() && !actual.gone,
        fmt::format("after the close frame, {}; it should return once it has "
                    "written the close frame",
                    writer_end(actual.writer)),
        actual.run, expected.run);
}

TEST_CASE("the writer waits for the next frame, and ends with the outbox",
          "[lesson15][task1]") {
  auto [actual, expected] = BOTH_SIDES(wait_for_frames, writer);
  grade::expect_no_exception(actual, expected, "the scenario");
  GRADE(!actual.ended_early,
        fmt::format("with nothing queued yet, {} within 150 ms: it should wait "
                    "for the next frame (the outbox's async_receive)",
                    writer_end(actual.writer)),
        actual.run, expected.run);
  std::vector<got> want{text("sent after the writer had waited 150 ms"),
                        close_frame(ws::code::going_away)};
  GRADE(same(actual.seen, want),
        fmt::format("a frame queued after 150 ms, then close(): the client read "
                    "{}; expected {}",
                    list_of(actual.seen), list_of(want)),
        actual.run, expected.run);
  GRADE(actual.writer.ended && actual.writer.error.empty(),
        fmt::format("after the close frame, {}", writer_end(actual.writer)),
        actual.run, expected.run);
}

TEST_CASE("a write that fails hangs up the session, and the writer returns",
          "[lesson15][task1]") {
  auto [actual, expected] = BOTH_SIDES(client_gone, writer);
  REQUIRE(expected.gone);
  GRADE(actual.writer.ended && actual.writer.error.empty() && actual.gone,
        fmt::format("frames queued for a client that had reset its connection: "
                    "{}{}; a failed write means the client has gone: "
                    "hang_up(s) (nothing more to write), then return",
                    writer_end(actual.writer),
                    actual.gone ? ", and the session hung up"
                                : ", and the session did not hang up"),
        actual.run, expected.run);
}

TEST_CASE("an outbox closed with its frames dropped: the close frame still "
          "goes out",
          "[lesson15][task1]") {
  auto [actual, expected] = BOTH_SIDES(full_then_closed, writer);
  grade::expect_no_exception(actual, expected, "the scenario");
  std::vector<got> want{close_frame(ws::code::policy_violation)};
  GRADE(same(actual.seen, want),
        fmt::format("close() on a full outbox drops what waits (the channel is "
                    "closed); the client then read {}; expected {}: the close "
                    "frame ends the connection either way",
                    list_of(actual.seen), list_of(want)),
        actual.run, expected.run);
}

// ===========================================================================
// Task 2: a bounded outbox
// ===========================================================================

namespace {

using send_fn = bool (*)(session&, wsapp::frame);

struct send_outcome {
  std::vector<bool> accepted;             // what each send returned
  std::vector<std::uint16_t> code_after;  // the session's close code after it
  std::vector<std::string> queued;        // what the outbox held at the end
  bool operator==(const send_outcome&) const = default;
};

// `count` sends to a session whose outbox holds `limit`; close(1000) after
// `close_at` of them, if given. Then the outbox is read out: each frame's
// text, and "<end>" for the end of the queue.
send_outcome sends(send_fn send, std::size_t limit, int count, int close_at = -1) {
  send_outcome o;
  auto run = grade::run([&]() -> awaitable<void> {
    auto cfg = test_config();
    cfg.queue_limit = limit;
    wsapp::stats stats;
    tcp::socket socket(co_await asio::this_coro::executor);
    session s(cfg, stats, socket, std::string(),
              [](session&, ws::event) -> awaitable<void> { co_return; });
    for (int k = 1; k <= count; ++k) {
      if (k - 1 == close_at) wsapp::close(s, ws::code::normal, "closed by the test");
      o.accepted.push_back(send(s, wsapp::make_frame(ws::opcode::text, numbered("send", k))));
      o.code_after.push_back(s.close_code);
    }
    co_await tut::yield();
    for (bool more = true; more;) {
      more = s.out.try_receive([&](asio::error_code ec, wsapp::frame f) {
        if (ec || !f) {
          o.queued.push_back("<end>");
          return;
        }
        std::string bytes = *f;
        o.queued.push_back(ws::decoder(ws::role::client).next(bytes).data);
      });
      if (o.queued.size() > 100) break;
    }
    s.out.cancel();
    s.out.close();
    co_await tut::yield();
  });
  if (!run.value) o.queued.push_back("the scenario failed: " + run.error);
  return o;
}

std::string shown(const std::vector<bool>& v) {
  std::vector<const char*> words;
  for (bool b : v) words.push_back(b ? "true" : "false");
  return grade::list(words);
}

std::string shown_codes(const std::vector<std::uint16_t>& v) {
  std::vector<std::string> words;
  for (auto c : v) words.push_back(c ? fmt::to_string(c) : "-");
  return grade::list(words);
}

}  // namespace

TEST_CASE("send queues without waiting until the outbox is full; the next "
          "one closes the session with 1008 and drops what waits",
          "[lesson15][task2]") {
  auto actual = sends(yours::send, 4, 6);
  auto expected = sends(reference::send, 4, 6);
  REQUIRE(expected.accepted == std::vector<bool>{true, true, true, true, false, false});
  if (actual.accepted != expected.accepted || actual.code_after != expected.code_after)
    FAIL(fmt::format(
        "six sends to a session whose outbox holds 4 (nobody writes) returned "
        "{}, and the session's close code after each was {}; expected {} and "
        "{}: the fifth finds the outbox full, which means the client is not "
        "reading: close(s, 1008, ...) and false; after that the session is "
        "closing and takes nothing",
        shown(actual.accepted), shown_codes(actual.code_after),
        shown(expected.accepted), shown_codes(expected.code_after)));
  if (actual.queued != expected.queued)
    FAIL(fmt::format("after the six sends the outbox held {}; expected {}",
                     grade::list(actual.queued), grade::list(expected.queued)));
}

TEST_CASE("a closing session takes no more frames: the close frame is the last",
          "[lesson15][task2]") {
  auto actual = sends(yours::send, 8, 3, 2);
  auto expected = sends(reference::send, 8, 3, 2);
  REQUIRE(expected.accepted == std::vector<bool>{true, true, false});
  if (actual != expected)
    FAIL(fmt::format(
        "two sends, then close(s, 1000), then a third: send returned {} and "
        "the outbox held {}; expected {} and {}: once the session is closing "
        "(s.closing()), nothing more goes after the close",
        shown(actual.accepted), grade::list(actual.queued),
        shown(expected.accepted), grade::list(expected.queued)));
}

// ===========================================================================
// Task 3: the reader, the echo endpoint, a session
// ===========================================================================

namespace {

// Text, text with characters outside ASCII, binary, 60 kB of text (more
// than one read), and a text in three fragments, one of them splitting a
// character: each comes back whole, in order.
std::vector<got> echo_wanted() {
  return {text("a first message, longer than fifteen bytes"),
          text("ünïcode: naïve café, 東京, and an emoji 🙂"),
          binary(pattern(1000)),
          text(std::string(60'000, 'w')),
          text("fragment one, fragment two €, fragment three")};
}

awaitable<std::vector<got>> echo_round(unsigned short port) {
  auto c = co_await opened(port, "/echo");
  auto want = echo_wanted();
  co_await c->send_text(want[0].data);
  co_await c->send_text(want[1].data);
  co_await c->send(ws::opcode::binary, want[2].data);
  co_await c->send_text(want[3].data);
  std::string euro = "€";  // three bytes: split between fragments two and three
  co_await c->send(ws::opcode::text, "fragment one, ", false);
  co_await c->send(ws::opcode::continuation, "fragment two " + euro.substr(0, 2), false);
  co_await c->send(ws::opcode::continuation, euro.substr(2) + ", fragment three", true);
  co_return co_await frames(*c, want.size());
}

}  // namespace

TEST_CASE("echo: text and binary messages come back whole, in order, "
          "fragmented ones put together",
          "[lesson15][task3]") {
  auto actual = against(yours::serve, test_config(),
                        [](run_t& server) { return echo_round(server.port()); });
  ran(actual);
  auto want = echo_wanted();
  if (!same(*actual.run.value, want))
    FAIL(fmt::format("five messages sent to GET /echo came back as {}; expected "
                     "{}\n\n{}",
                     list_of(*actual.run.value), list_of(want),
                     tut::render_timeline(actual.run.trace)));
}

TEST_CASE("a ping gets a pong with its payload, also between the fragments "
          "of a message",
          "[lesson15][task3]") {
  auto actual = against(yours::serve, test_config(), [](run_t& server) -> awaitable<std::vector<got>> {
    auto c = co_await opened(server.port(), "/echo");
    co_await c->send(ws::opcode::ping, "are you there, server? a ping");
    co_await c->send(ws::opcode::text, "part one, ", false);
    co_await c->send(ws::opcode::ping, "a ping between the fragments");
    co_await c->send(ws::opcode::continuation, "part two", true);
    co_return co_await frames(*c, 3);
  });
  ran(actual);
  std::vector<got> want{{ws::kind::pong, "are you there, server? a ping", 0, ending::reply},
                        {ws::kind::pong, "a ping between the fragments", 0, ending::reply},
                        text("part one, part two")};
  if (!same(*actual.run.value, want))
    FAIL(fmt::format("a ping, a fragment, a ping, the last fragment: the client "
                     "got {}; expected {}",
                     list_of(*actual.run.value), list_of(want)));
}

namespace {

// One of many clients on GET /echo: five messages, five echoes.
awaitable<void> echo_client(unsigned short port, int i,
                            std::shared_ptr<std::vector<std::string>> problems,
                            std::shared_ptr<int> finished) {
  try {
    auto c = co_await opened(port, "/echo");
    std::vector<got> want;
    for (int k = 1; k <= 5; ++k) {
      want.push_back(text(numbered(fmt::format("client {}", i), k)));
      co_await c->send_text(want.back().data);
    }
    auto back = co_await frames(*c, 5);
    if (!same(back, want)) problems->push_back(fmt::format("client {} got {}", i, list_of(back)));
  } catch (const std::exception& e) {
    problems->push_back(fmt::format("client {}: {}", i, e.what()));
  }
  ++*finished;
}

}  // namespace

TEST_CASE("twenty clients at once: each gets its own echoes",
          "[lesson15][task3]") {
  auto actual = against(yours::serve, test_config(), [](run_t& server) -> awaitable<std::vector<std::string>> {
    auto ex = co_await asio::this_coro::executor;
    auto problems = std::make_shared<std::vector<std::string>>();
    auto finished = std::make_shared<int>(0);
    for (int i = 0; i < 20; ++i)
      co_spawn(ex, echo_client(server.port(), i, problems, finished), detached);
    co_await eventually([&] { return *finished == 20; }, 3s);
    if (*finished < 20)
      problems->push_back(fmt::format("{} of the 20 clients were not done after 3 s", 20 - *finished));
    co_return *problems;
  });
  ran(actual);
  auto problems = *actual.run.value;
  if (problems.size() > 4) {
    auto more = problems.size() - 3;
    problems.resize(3);
    problems.push_back(fmt::format("and {} more", more));
  }
  if (!problems.empty())
    FAIL(fmt::format("twenty clients on GET /echo at once, five messages each:\n  - {}",
                     fmt::join(problems, "\n  - ")));
}

TEST_CASE("a client that goes away (its connection closed or reset, no close "
          "frame) ends its session",
          "[lesson15][task3]") {
  auto actual = against(yours::serve, test_config(), [](run_t& server) -> awaitable<std::pair<int, int>> {
    auto a = co_await opened(server.port(), "/echo");
    auto b = co_await opened(server.port(), "/chat");
    auto c = co_await opened(server.port(), "/echo");
    const std::array<ws_client*, 3> clients{a.get(), b.get(), c.get()};
    for (auto* client : clients) {
      co_await client->send_text("a message before going away");
      auto back = co_await frames(*client, 1);
      if (back.size() != 1 || !back[0].is(ws::kind::text))
        throw std::runtime_error("a message before going away got " + list_of(back) +
                                 " instead of coming back (task 3)");
    }
    int open = server.stats().sessions;
    a->reset();
    b->shutdown_send();
    c->socket().close();
    co_await eventually([&] { return server.stats().sessions == 0; }, 1s);
    co_return std::pair{open, server.stats().sessions.load()};
  });
  ran(actual);
  auto [open, left] = *actual.run.value;
  REQUIRE(open == 3);
  if (left != 0)
    FAIL(fmt::format("three clients went away without a close frame (one reset "
                     "its connection, one shut its side down, one closed its "
                     "socket); 1 s later {} of their sessions were still open: "
                     "when read_more says the connection has ended, hang_up(s), "
                     "which also ends the writer, and return",
                     left));
}

namespace {

struct cancelled_session {
  grade::outcome<grade::nothing> run;
  task_end session;          // how run_session ended
  bool within_limit = false;
  std::vector<got> after;    // what the client got after it ended
};

// run_session on a session of the test's own, cancelled through a bound
// signal after 150 ms while it waits for the client. Then a frame is
// queued: a writer still running waits on the outbox and takes it at once
// (the outbox is then not ready), and the client gets it; a frame nobody
// took stays in the outbox, and nothing comes.
cancelled_session cancel_session(task_fn run_session) {
  linked_holder l;
  cancelled_session o;
  o.run = on_linked(l, [&](session& s) -> awaitable<std::shared_ptr<task_end>> {
    auto r = co_await (grade::cancel_after(grade::as_nothing(run_session(s)), 150ms) ||
                       tut::sleep(1s));
    o.within_limit = r.index() == 0;
    if (o.within_limit) {
      auto& c = std::get<0>(r);
      o.session.ended = c.ended();
      o.session.cancelled = is_cancellation(c.exception);
      if (c.exception) o.session.error = c.error.empty() ? grade::describe_exception(c.exception) : c.error;
      co_await tut::sleep(20ms);
      bool queued = s.out.try_send(
          asio::error_code{}, wsapp::make_frame(ws::opcode::text, "queued after the session ended"));
      if (queued && !s.out.ready())
        o.after = co_await frames(*l->client, 1, 300ms);
      else
        o.after = {got{.end = ending::timed_out}};
    }
    auto gone = std::make_shared<task_end>();
    gone->ended = o.within_limit;
    co_return gone;
  });
  return o;
}

}  // namespace

TEST_CASE("a session cancelled while it waits ends at once with "
          "operation_aborted, its tasks ended",
          "[lesson15][task3]") {
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(cancel_session, run_session);
  GRADE(actual.within_limit,
        "run_session, cancelled 150 ms in (as the server's shutdown deadline "
        "cancels it) while it waited for the client, had not ended 850 ms "
        "later",
        actual.run, expected->run);
  GRADE(actual.session.cancelled,
        fmt::format("run_session, cancelled while it waited for the client, {}; "
                    "it should end with operation_aborted, as the tasks it "
                    "awaits do",
                    actual.session.error.empty() ? std::string("returned")
                                                 : "threw " + actual.session.error),
        actual.run, expected->run);
  GRADE(actual.after.size() == 1 && actual.after[0].end == ending::timed_out,
        fmt::format("after run_session had ended, a frame queued in the outbox "
                    "reached the client ({}): a task of the session was still "
                    "running; the writer must end with run_session",
                    list_of(actual.after)),
        actual.run, expected->run);
}

// ===========================================================================
// Task 4: the chat room
// ===========================================================================

namespace {

// A member that reads `n` frames (or until `limit`), on a task of its own.
struct hearing {
  std::vector<got> heard;
  bool done = false;
};

awaitable<void> keep_listening(ws_client& c, std::size_t n, duration limit,
                               std::shared_ptr<hearing> h) {
  auto until = tut::now() + limit;
  while (h->heard.size() < n) {
    auto g = co_await c.next(until - tut::now());
    if (g.end != ending::reply) break;
    h->heard.push_back(std::move(g));
  }
  h->done = true;
}

std::shared_ptr<hearing> listen(asio::any_io_executor ex, ws_client& c, std::size_t n,
                                duration limit) {
  auto h = std::make_shared<hearing>();
  co_spawn(ex, keep_listening(c, n, limit, h), detached);
  return h;
}

// The texts of `frames` that are the `sender`'s numbered messages, as
// numbers; -1 for anything else.
std::vector<int> numbers(const std::vector<got>& frames, std::string_view sender) {
  std::vector<int> out;
  auto prefix = fmt::format("{} says: message number ", sender);
  for (const auto& g : frames)
    out.push_back(g.is(ws::kind::text) && g.data.starts_with(prefix)
                      ? std::stoi(g.data.substr(prefix.size(), 3))
                      : -1);
  return out;
}

bool counts_up(const std::vector<int>& v, std::size_t n) {
  if (v.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i)
    if (v[i] != static_cast<int>(i + 1)) return false;
  return true;
}

awaitable<void> wait_members(run_t& server, int n) {
  if (!co_await eventually([&] { return server.stats().members == n; }, 1s))
    throw std::runtime_error(fmt::format("the room had {} members, not {}",
                                         server.stats().members.load(), n));
}

// Three members of /chat: slow (a small receive buffer; it reads nothing),
// alice and bob, all in the room.
struct slow_room {
  std::unique_ptr<ws_client> slow, alice, bob;
};

awaitable<slow_room> join_slow_room(run_t& server) {
  slow_room r;
  r.slow = co_await opened(server.port(), "/chat", small_buffer);
  r.alice = co_await opened(server.port(), "/chat");
  r.bob = co_await opened(server.port(), "/chat");
  co_await wait_members(server, 3);
  co_return r;
}

}  // namespace

TEST_CASE("every member hears every message, the sender too, in the order "
          "it was sent",
          "[lesson15][task4]") {
  auto actual = against(yours::serve, test_config(), [](run_t& server) -> awaitable<std::vector<std::vector<got>>> {
    std::vector<std::unique_ptr<ws_client>> room;
    for (int i = 0; i < 3; ++i) room.push_back(co_await opened(server.port(), "/chat"));
    co_await wait_members(server, 3);
    std::vector<std::vector<got>> heard(3);
    auto say = [&](int who, ws::opcode op, std::string what) -> awaitable<void> {
      co_await room[who]->send(op, what);
      for (int i = 0; i < 3; ++i)
        for (auto& g : co_await frames(*room[i], 1)) heard[i].push_back(std::move(g));
    };
    co_await say(0, ws::opcode::text, "alice says hello to the whole room");
    co_await say(1, ws::opcode::binary, pattern(300));
    co_await say(2, ws::opcode::text, "carol answers everyone, ünïcode too");
    co_return heard;
  });
  ran(actual);
  std::vector<got> want{text("alice says hello to the whole room"), binary(pattern(300)),
                        text("carol answers everyone, ünïcode too")};
  const char* names[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 3; ++i)
    if (!same(actual.run.value->at(i), want))
      FAIL(fmt::format("alice, bob and carol in the room said one message each, "
                       "in turn; {} heard {}; expected {}",
                       names[i], list_of(actual.run.value->at(i)), list_of(want)));
}

namespace {

struct slow_member_outcome {
  std::vector<int> alice, bob;   // the numbers each heard
  int kicked = 0;                // close frames 1008 the server started
  std::vector<got> slow;         // what the slow member read at the end
  ending slow_end = ending::timed_out;  // how its connection ended
  bool sent_all = false;
};

// Three members; slow reads nothing; alice sends 300 messages of 1 kB,
// alice and bob read them all. Then slow reads what it has, answers the
// close frame, and waits for the connection's end.
slow_member_outcome slow_member(serve_fn serve) {
  auto cfg = test_config();
  cfg.queue_limit = 64;
  cfg.close_timeout = 1s;
  cfg.send_buffer = 16 * 1024;  // what the kernel holds for slow is bounded
  slow_member_outcome o;
  auto served = against(serve, cfg, [&](run_t& server) -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto room = co_await join_slow_room(server);
    auto a = listen(ex, *room.alice, 300, 3s);
    auto b = listen(ex, *room.bob, 300, 3s);
    // In tens: alice waits for her own to come back before the next ten,
    // so that the members who read are never far behind.
    auto sending = [&]() -> awaitable<void> {
      for (int k = 1; k <= 300; ++k) {
        co_await room.alice->send_text(numbered("alice", k, 1000));
        if (k % 10 == 0 && !co_await eventually([&] { return a->heard.size() >= std::size_t(k); }, 300ms))
          co_return;
      }
      o.sent_all = true;
    };
    co_await (sending() || tut::sleep(3s));
    co_await eventually([&] { return a->done && b->done; }, 3500ms);
    o.alice = numbers(a->heard, "alice");
    o.bob = numbers(b->heard, "alice");
    co_await eventually([&] { return server.stats().closed_with(1008) > 0; }, 300ms);
    o.kicked = server.stats().closed_with(1008);
    o.slow = co_await room.slow->until_close(1s);
    if (!o.slow.empty() && o.slow.back().is(ws::kind::close))
      co_await room.slow->send_close(o.slow.back().code);
    o.slow_end = co_await room.slow->ended(1s);
  });
  if (!served.basics.empty()) throw std::runtime_error(served.basics);
  if (!served.run.value) throw std::runtime_error(served.run.error);
  return o;
}

}  // namespace

TEST_CASE("a member that does not read is closed with 1008 once its outbox is "
          "full, and the others hear every message",
          "[lesson15][task4]") {
  auto o = slow_member(yours::serve);
  if (!counts_up(o.bob, 300) || !counts_up(o.alice, 300))
    FAIL(fmt::format(
        "alice sent 300 messages to a room of three (outbox: 64 frames), one of "
        "whom, slow, read nothing; bob heard {} of them and alice {}, within "
        "3 s{}; slow {}. The others' messages must not wait for a member who "
        "does not read",
        o.bob.size(), o.alice.size(), o.sent_all ? "" : " (alice could not send them all: the server stopped reading her)",
        o.kicked ? "was closed with 1008" : "was not closed"));
  if (o.kicked != 1)
    FAIL(fmt::format("alice sent 300 messages of 1 kB to a room with a member "
                     "who read nothing (outbox: 64 frames); the server sent {} "
                     "close frames with 1008; expected 1: a full outbox means "
                     "the client is not reading",
                     o.kicked));
  auto n = numbers(o.slow, "alice");
  bool prefix = !o.slow.empty() && o.slow.back().is(ws::kind::close) &&
                o.slow.back().code == ws::code::policy_violation;
  for (std::size_t i = 0; prefix && i + 1 < n.size(); ++i) prefix = n[i] == static_cast<int>(i + 1);
  if (!prefix)
    FAIL(fmt::format("when the slow member read at last, it got {} ({} frames); "
                     "expected the first messages in order, then a close frame "
                     "1008",
                     describe(o.slow.empty() ? got{} : o.slow.back()), o.slow.size()));
  if (o.slow_end == ending::timed_out)
    FAIL("the slow member answered the close frame 1008, and its connection "
         "was still open 1 s later");
}

TEST_CASE("a member whose own frames wait (it does not read) is still heard "
          "at once",
          "[lesson15][task4]") {
  auto cfg = test_config();
  cfg.queue_limit = 256;        // no one is closed here
  cfg.send_buffer = 16 * 1024;  // slow's socket is full after a few frames
  auto actual = against(yours::serve, cfg, [](run_t& server) -> awaitable<std::pair<std::vector<int>, std::vector<got>>> {
    auto ex = co_await asio::this_coro::executor;
    auto room = co_await join_slow_room(server);
    auto a = listen(ex, *room.alice, 150, 3s);
    auto b = listen(ex, *room.bob, 150, 3s);
    for (int k = 1; k <= 150; ++k) co_await room.alice->send_text(numbered("alice", k, 1000));
    co_await eventually([&] { return a->done && b->done; }, 3s);
    auto heard = numbers(b->heard, "alice");
    co_await room.slow->send_text("slow is not reading, but slow can still speak");
    co_return std::pair{heard, co_await frames(*room.bob, 1)};
  });
  ran(actual);
  auto& [heard, last] = *actual.run.value;
  if (!counts_up(heard, 150))
    FAIL(fmt::format("alice sent 150 messages to a room of three, one of whom, "
                     "slow, read nothing; bob heard {} of them within 3 s",
                     heard.size()));
  std::vector<got> want{text("slow is not reading, but slow can still speak")};
  if (!same(last, want))
    FAIL(fmt::format(
        "a member, slow, read nothing while alice sent 150 messages of 1 kB "
        "(the frames for slow then wait: its socket is full); then slow said "
        "something, and bob got {} within 1 s; expected {}: slow's session "
        "was busy writing and read nothing from slow meanwhile. Reading must "
        "not wait for writing: a reader task and a writer task",
        list_of(last), list_of(want)));
}

// ===========================================================================
// Task 5: keep-alive
// ===========================================================================

namespace {

wsapp::config pinging() {
  auto cfg = test_config();
  cfg.ping_interval = 30ms;
  cfg.pong_timeout = 60ms;
  return cfg;
}

}  // namespace

TEST_CASE("the server pings every ping_interval; a client that answers stays "
          "connected",
          "[lesson15][task5]") {
  auto actual = against(yours::serve, pinging(), [](run_t& server) -> awaitable<std::pair<int, std::vector<got>>> {
    auto c = co_await opened(server.port(), "/echo");
    auto during = co_await frames(*c, 1, 300ms);  // pings are answered on the way
    if (during.front().end != ending::timed_out) co_return std::pair{c->pings, during};
    co_await c->send_text("still here after 300 ms of pings");
    co_return std::pair{c->pings, co_await frames(*c, 1)};
  });
  ran(actual);
  auto& [pings, seen] = *actual.run.value;
  if (pings < 2)
    FAIL(fmt::format("in 300 ms the client got {} pings (ping_interval 30 ms, "
                     "pong_timeout 60 ms); expected one about every 90 ms",
                     pings));
  std::vector<got> want{text("still here after 300 ms of pings")};
  if (!same(seen, want))
    FAIL(fmt::format("a client that answered each of the {} pings with a pong "
                     "got {}; expected its echo, the connection kept",
                     pings, list_of(seen)));
}

TEST_CASE("a client that sends no pong is closed with 1011 after pong_timeout",
          "[lesson15][task5]") {
  auto actual = against(yours::serve, pinging(), [](run_t& server) -> awaitable<std::tuple<int, std::vector<got>, double, ending>> {
    auto c = co_await opened(server.port(), "/echo");
    c->answer_pings = false;
    auto start = tut::now();
    auto seen = co_await c->until_close(1500ms);
    double after = ms(tut::now() - start);
    if (!seen.empty() && seen.back().is(ws::kind::close)) co_await c->send_close(seen.back().code);
    co_return std::tuple{c->pings, seen, after, co_await c->ended(1s)};
  });
  ran(actual);
  auto& [pings, seen, after, end] = *actual.run.value;
  bool closed = !seen.empty() && seen.back().is(ws::kind::close);
  if (!closed || seen.back().code != ws::code::internal_error)
    FAIL(fmt::format("a client that answered none of the server's pings got "
                     "{} in 1.5 s ({} pings; ping_interval 30 ms, pong_timeout "
                     "60 ms); expected a close frame 1011 once a ping had gone "
                     "unanswered for 60 ms",
                     list_of(seen), pings));
  if (after < 80)
    FAIL(fmt::format("the close frame 1011 came {:.0f} ms after the client "
                     "connected: before its first ping (at 30 ms) could have "
                     "been unanswered for pong_timeout (60 ms)",
                     after));
  if (end == ending::timed_out)
    FAIL("the client answered the close frame 1011, and its connection was "
         "still open 1 s later");
}

// ===========================================================================
// Task 6: the close handshake
// ===========================================================================

namespace {

constexpr std::uint32_t mask_key = 0x1234abcd;

std::string masked(ws::opcode op, std::string_view payload, bool fin = true) {
  return ws::encode_masked(op, payload, mask_key, fin);
}

// A frame header by hand: byte 0, the 7-bit length, the extended length
// (2 or 8 bytes, big-endian; empty for none), the mask bit set.
std::string header(unsigned char b0, unsigned char len7, std::string ext = {}) {
  std::string out;
  out += static_cast<char>(b0);
  out += static_cast<char>(0x80 | len7);
  out += ext;
  out += "\x12\x34\xab\xcd";
  return out;
}

struct frames_case {
  std::string what;
  std::string bytes;        // sent after the handshake, in one write
  std::vector<got> want;    // what comes back, the close frame last
};

// Sends each case on a connection of its own to GET /echo and checks what
// comes back, and that the server then ends the connection; then that the
// server still echoes. One line per case that went wrong.
std::vector<std::string> run_frames(unsigned short port, const std::vector<frames_case>& cases) {
  auto out = run_real([&]() -> awaitable<std::vector<std::string>> {
    std::vector<std::string> problems;
    // `message` to GET /echo on a connection of its own: what came back,
    // or nothing when it was its echo.
    auto not_echoed = [port](std::string message) -> awaitable<std::optional<std::vector<got>>> {
      auto c = co_await opened(port, "/echo");
      co_await c->send_text(message);
      auto back = co_await frames(*c, 1);
      if (same(back, std::vector<got>{text(message)})) co_return std::nullopt;
      co_return back;
    };
    if (auto back = co_await not_echoed("does the server echo yet?")) {
      problems.push_back(fmt::format("before any of the cases, a message to GET "
                                     "/echo got {}; expected its echo (task 3)",
                                     list_of(*back)));
      co_return problems;
    }
    for (const auto& c : cases) {
      auto client = co_await opened(port, "/echo");
      co_await client->send_raw(c.bytes);
      auto seen = co_await client->until_close(1s);
      if (!same(seen, c.want)) {
        problems.push_back(fmt::format("{}: got {}; expected {}", c.what, list_of(seen),
                                       list_of(c.want)));
      } else if (co_await client->ended(1s) == ending::timed_out) {
        problems.push_back(fmt::format("{}: the close frame came, then the "
                                       "connection stayed open for 1 s",
                                       c.what));
      }
      if (auto back = co_await not_echoed("still echoing for the others?")) {
        problems.push_back(fmt::format("after {}, the server no longer echoes: "
                                       "another client's message got {}",
                                       c.what, list_of(*back)));
        break;
      }
    }
    co_return problems;
  });
  if (!out.value) return {"the test's clients failed: " + out.error};
  return *out.value;
}

void report_frames(const std::vector<std::string>& problems, std::string_view what,
                   std::string_view advice) {
  if (problems.empty()) return;
  FAIL(fmt::format("{}:\n  - {}\n{}", what, fmt::join(problems, "\n  - "), advice));
}

}  // namespace

TEST_CASE("a client's close frame is answered with its code, then the "
          "server ends the connection",
          "[lesson15][task6]") {
  run_t server(serving(yours::serve, test_config()));
  REQUIRE(server.listening());
  auto bye = "bye, and thanks for all the echoes";
  std::vector<frames_case> cases{
      {"a close 1000 with a reason", masked(ws::opcode::close, ws::close_payload(1000, bye)),
       {close_frame(1000)}},
      {"a close with an application's own code, 4321",
       masked(ws::opcode::close, ws::close_payload(4321, "an application's reason")),
       {close_frame(4321)}},
      {"a close without a code", masked(ws::opcode::close, ""), {close_frame(ws::code::no_status)}},
      {"a message and a close in one write",
       masked(ws::opcode::text, "the last message, sent with the close") +
           masked(ws::opcode::close, ws::close_payload(1000, bye)),
       {text("the last message, sent with the close"), close_frame(1000)}},
  };
  auto problems = run_frames(server.port(), cases);
  report_frames(problems, fmt::format("{} ways a client closes, each on a connection of its own", cases.size()),
         "A close frame from the client (ws::kind::close) is answered with a "
         "close frame of the same code (close(s, e.code)): that ends the "
         "session, and the server closes the connection.");
}

TEST_CASE("malformed frames get the close code RFC 6455 gives them, and the "
          "server goes on serving the others",
          "[lesson15][task6]") {
  run_t server(serving(yours::serve, test_config()));
  REQUIRE(server.listening());
  auto protocol = std::vector<got>{close_frame(ws::code::protocol_error)};
  auto too_big = std::vector<got>{close_frame(ws::code::too_big)};
  auto not_utf8 = std::vector<got>{close_frame(ws::code::invalid_data)};
  std::string eight_bytes(8, '\0');
  std::string top_bit = "\x80" + std::string(7, '\0');
  std::vector<frames_case> cases{
      {"an unmasked frame", ws::encode(ws::opcode::text, "an unmasked frame from a client"), protocol},
      {"a reserved bit set (RSV1, no extension agreed)",
       [] { auto f = masked(ws::opcode::text, "compressed? nobody agreed"); f[0] |= 0x40; return f; }(),
       protocol},
      {"an unknown opcode (3)", [] { auto f = masked(ws::opcode::text, "opcode three"); f[0] = char(0x83); return f; }(),
       protocol},
      {"a fragmented ping", masked(ws::opcode::ping, "a ping in pieces", false), protocol},
      {"a ping of 126 bytes", masked(ws::opcode::ping, std::string(126, 'p')), protocol},
      {"a length with its top bit set", header(0x81, 127, top_bit), protocol},
      {"a length of 10 in 8 bytes (not its shortest form)",
       header(0x82, 127, std::string(7, '\0') + "\x0a") + std::string(10, 'x'), protocol},
      {"a frame announcing 1 MB (the limit is 64 kB), its payload not sent",
       header(0x82, 127, std::string(5, '\0') + "\x10" + std::string(2, '\0')), too_big},
      {"a message of two 40 kB fragments (64 kB at most)",
       masked(ws::opcode::binary, std::string(40'000, 'a'), false) +
           masked(ws::opcode::continuation, std::string(40'000, 'b')),
       too_big},
      {"a text that is not UTF-8", masked(ws::opcode::text, "caf\xc3\x28, not UTF-8 at all"), not_utf8},
      {"a fragmented text whose pieces are not UTF-8 together",
       masked(ws::opcode::text, "starts well \xe2\x82", false) +
           masked(ws::opcode::continuation, "\x28 and ends badly"),
       not_utf8},
      {"a continuation outside a message", masked(ws::opcode::continuation, "continuing nothing"), protocol},
      {"a new message inside a fragmented one",
       masked(ws::opcode::text, "the first half", false) + masked(ws::opcode::text, "a new message"),
       protocol},
      {"a close frame of one byte", masked(ws::opcode::close, "\x03"), protocol},
      {"a close with code 1006 (never sent)", masked(ws::opcode::close, ws::close_payload(1006)),
       protocol},
      {"a close whose reason is not UTF-8",
       masked(ws::opcode::close, ws::close_payload(1000) + "\xff\xfe not text"), not_utf8},
  };
  auto problems = run_frames(server.port(), cases);
  report_frames(problems, fmt::format("{} malformed frames, each on a connection of its own", cases.size()),
         "The decoder says what is wrong: ws::kind::error, with the close code "
         "to answer in e.code (1002 protocol error, 1007 not UTF-8, 1009 too "
         "big). The session then closes with that code (close(s, e.code, "
         "e.data)) and ends.");
}

namespace {

struct server_close_outcome {
  grade::outcome<grade::nothing> run;
  task_end session;
  bool ended_before = false;        // it had ended before the server's close
  double ended_after_ms = -1;       // from the server's close to the end
  std::vector<got> seen;            // what the client got
  std::vector<std::string> handed_on;  // messages the session gave its endpoint
};

// The server closes (1001) a session that runs run_session; the client
// then sends a message, and answers the close or not.
server_close_outcome server_closes(task_fn run_session, bool answer) {
  linked_holder l;
  server_close_outcome o;
  o.run = on_linked(l, [&](session& s) -> awaitable<std::shared_ptr<task_end>> {
    auto run = start(co_await asio::this_coro::executor, tut::traced("run_session", run_session(s)));
    co_await tut::sleep(20ms);
    o.ended_before = run->ended;
    if (o.ended_before) {  // nothing more to see: the first check fails
      o.session = *run;
      co_return run;
    }
    wsapp::close(s, ws::code::going_away, "the server closes first");
    auto closed_at = tut::now();
    o.seen = co_await l->client->until_close(1s);
    co_await l->client->send_text("a message after the server's close frame");
    if (answer) co_await l->client->send_close(ws::code::going_away);
    co_await eventually([&] { return run->ended; }, 1500ms);
    o.session = *run;
    if (run->ended) o.ended_after_ms = ms(run->at - closed_at);
    for (auto& e : l->handed_on) o.handed_on.push_back(e.data);
    co_return run;
  });
  return o;
}

// server_closes through your run_session and the reference's; fails
// unless yours ran until the server's close.
grade::sides<server_close_outcome> server_closes_both(bool answer) {
  auto out = BOTH_SIDES(server_closes, run_session, answer);
  const auto& [actual, expected] = out;
  REQUIRE(expected.session.ended);
  GRADE(!actual.ended_before,
        fmt::format("run_session on a session whose client had said nothing yet "
                    "{} within 20 ms; it should run until the session ends",
                    writer_end(actual.session, "run_session")),
        actual.run, expected.run);
  return out;
}

}  // namespace

TEST_CASE("after the server's close frame the session waits for the "
          "client's, close_timeout at most, and hands on no more messages",
          "[lesson15][task6]") {
  auto [actual, expected] = server_closes_both(false);
  GRADE(actual.seen.size() == 1 && actual.seen[0].is(ws::kind::close),
        fmt::format("close(s, 1001) on a running session: the client got {}; "
                    "expected the close frame",
                    list_of(actual.seen)),
        actual.run, expected.run);
  GRADE(actual.session.ended && actual.ended_after_ms > 110 && actual.ended_after_ms < 300,
        fmt::format("the server closed (1001) and the client never answered; "
                    "run_session {}; expected it to end close_timeout (150 ms) "
                    "after the close: it waits that long for the client's "
                    "close frame, and no longer",
                    actual.session.ended ? fmt::format("ended {:.0f} ms later", actual.ended_after_ms)
                                         : std::string("was still running 1.5 s later")),
        actual.run, expected.run);
  GRADE(actual.handed_on.empty(),
        fmt::format("after the server's close frame, the session handed the "
                    "message {} to its endpoint; once closing, a session hands "
                    "on nothing more",
                    grade::list(actual.handed_on)),
        actual.run, expected.run);
}

TEST_CASE("a client that answers the server's close ends the session at once",
          "[lesson15][task6]") {
  auto [actual, expected] = server_closes_both(true);
  GRADE(actual.session.ended && actual.ended_after_ms < 100,
        fmt::format("the server closed (1001) and the client answered with its "
                    "close frame; run_session {}; expected it to end then, not "
                    "close_timeout (150 ms) later",
                    actual.session.ended ? fmt::format("ended {:.0f} ms after the server's close",
                                                       actual.ended_after_ms)
                                         : std::string("was still running 1.5 s later")),
        actual.run, expected.run);
}

// ===========================================================================
// Task 7: shutdown
// ===========================================================================

namespace {

// A client that waits for the server's close frame, answers it, waits for
// the connection's end and closes its socket.
struct farewell {
  std::string path;
  std::vector<got> seen;
  ending end = ending::timed_out;
  bool done = false;
};

awaitable<void> say_goodbye(ws_client& c, farewell& f, duration limit) {
  f.seen = co_await c.until_close(limit);
  if (!f.seen.empty() && f.seen.back().is(ws::kind::close)) co_await c.send_close(f.seen.back().code);
  f.end = co_await c.ended(1s);
  asio::error_code ignored;
  c.socket().close(ignored);
  f.done = true;
}

struct shutdown_outcome {
  std::vector<farewell> clients;
  std::string newcomer;     // what a client that came after SIGTERM got
  bool returned = false;    // serve() returned in time
  double returned_after_ms = -1;
  tut::trace trace;
};

shutdown_outcome sigterm_shutdown(serve_fn serve) {
  shutdown_outcome o;
  auto cfg = test_config();
  run_t server(serving(serve, cfg));
  if (!server.listening()) return o;
  auto port = server.port();
  auto run = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::unique_ptr<ws_client>> cs;
    o.clients.resize(5);
    for (int i = 0; i < 5; ++i) {
      o.clients[i].path = i < 3 ? "/echo" : "/chat";
      cs.push_back(co_await opened(port, o.clients[i].path));
    }
    co_await eventually([&] { return server.stats().sessions == 5; }, 1s);
    for (int i = 0; i < 5; ++i)
      co_spawn(ex, tut::traced(fmt::format("client {} ({})", i + 1, o.clients[i].path),
                               say_goodbye(*cs[i], o.clients[i], 2s)),
               detached);
    send_sigterm();
    auto start = tut::now();
    co_await tut::sleep(100ms);
    ws_client late(ex);
    o.newcomer = co_await late.open(port, "/echo", 0, 300ms);
    o.returned = co_await eventually([&] { return server.finished(); }, 2s);
    o.returned_after_ms = ms(tut::now() - start);
    co_await eventually([&] {
      for (auto& f : o.clients) if (!f.done) return false;
      return true;
    }, 2s);
  });
  o.trace = run.trace;
  return o;
}

}  // namespace

TEST_CASE("on SIGTERM every client gets a close frame 1001, new connections "
          "are refused, and serve() returns once the clients have answered",
          "[lesson15][task7]") {
  auto o = sigterm_shutdown(yours::serve);
  REQUIRE(o.clients.size() == 5);
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < o.clients.size(); ++i) {
    const auto& f = o.clients[i];
    if (f.seen.empty() || !f.seen.back().is(ws::kind::close) ||
        f.seen.back().code != ws::code::going_away)
      problems.push_back(fmt::format("client {} on {} got {}; expected a close frame 1001 "
                                     "(going away)",
                                     i + 1, f.path, list_of(f.seen)));
    else if (f.end == ending::timed_out)
      problems.push_back(fmt::format("client {} on {} answered the close frame, and its "
                                     "connection stayed open",
                                     i + 1, f.path));
  }
  if (!o.newcomer.starts_with("could not connect"))
    problems.push_back(fmt::format("a client that came 100 ms after SIGTERM: {}; expected "
                                   "the connection refused (the acceptor closed)",
                                   o.newcomer.empty() ? "its WebSocket was opened" : o.newcomer));
  if (!o.returned)
    problems.push_back("serve() had not returned 2 s after SIGTERM (shutdown deadline 1 s)");
  else if (o.returned_after_ms > 700)
    problems.push_back(fmt::format(
        "serve() returned {:.0f} ms after SIGTERM, though every client answered "
        "its close frame at once: it should return when the connections have "
        "ended, and wait for the deadline (1 s) only when they have not",
        o.returned_after_ms));
  if (!problems.empty())
    FAIL(fmt::format("five clients (three on /echo, two on /chat), then SIGTERM:\n  - {}\n\n{}",
                     fmt::join(problems, "\n  - "), tut::render_timeline(o.trace)));
}

namespace {

struct cancel_outcome {
  grade::outcome<grade::cancelled_run<grade::nothing>> run;
  std::vector<farewell> clients;
  int sessions_after = -1;
};

awaitable<void> two_clients(wsapp::stats& stats, cancel_outcome& o) {
  auto ex = co_await asio::this_coro::executor;
  co_await eventually([&] { return stats.port != 0; }, 1s);
  std::vector<std::unique_ptr<ws_client>> cs;
  const std::array<std::string, 2> paths{"/chat", "/echo"};
  for (const auto& path : paths) {
    cs.push_back(co_await opened(stats.port, path));
    o.clients.emplace_back().path = path;
  }
  for (std::size_t i = 0; i < cs.size(); ++i) co_await say_goodbye(*cs[i], o.clients[i], 2s);
  (void)ex;
}

cancel_outcome cancelled_serve(serve_fn serve) {
  cancel_outcome o;
  wsapp::stats stats;
  auto cfg = test_config();
  o.run = run_real([&]() -> awaitable<grade::cancelled_run<grade::nothing>> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex, two_clients(stats, o), detached);
    auto r = co_await cancel_serve(serve, cfg, stats, 150ms, 2500ms);
    o.sessions_after = stats.sessions;
    if (!r.ended()) {
      stop_loop(ex);
      co_return r;
    }
    co_await eventually([&] {
      for (auto& f : o.clients) if (!f.done) return false;
      return o.clients.size() == 2;
    }, 1500ms);
    co_return r;
  });
  return o;
}

}  // namespace

TEST_CASE("serve() cancelled through a bound signal closes every session "
          "with 1001, then ends with operation_aborted",
          "[lesson15][task7]") {
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(cancelled_serve, serve);
  grade::expect_no_exception(actual, expected, "the scenario");
  const auto& a = *actual.run.value;
  GRADE(a.ended() && a.aborted,
        fmt::format("serve(), cancelled 150 ms in with two clients connected, {}; "
                    "it should shut down as on SIGTERM, then end with "
                    "operation_aborted",
                    ended_as(a)),
        actual.run, expected->run);
  std::vector<std::string> seen;
  bool all_1001 = actual.clients.size() == 2;
  for (const auto& f : actual.clients) {
    seen.push_back(fmt::format("{}: {}", f.path, list_of(f.seen)));
    all_1001 = all_1001 && !f.seen.empty() && f.seen.back().is(ws::kind::close) &&
               f.seen.back().code == ws::code::going_away;
  }
  GRADE(all_1001 && actual.sessions_after == 0,
        fmt::format("when the cancelled serve() ended, {} sessions were open, and "
                    "the clients had got {}; expected 0, and a close frame 1001 "
                    "each",
                    actual.sessions_after, grade::list(seen)),
        actual.run, expected->run);
}

// ===========================================================================
// Clients nobody here wrote: Python's websockets, headless Chromium
// ===========================================================================

namespace {

// What a script of this directory printed ("key: value" lines) and how it
// exited. Runs under timeout(1): a script that hangs is stopped.
struct script_run {
  int status = -1;  // 3: skipped (what it needs is missing)
  std::vector<std::pair<std::string, std::string>> facts;
  std::string output;
  std::string fact(const std::string& key) const {
    for (const auto& [k, v] : facts)
      if (k == key) return v;
    return "(not said)";
  }
};

script_run run_script(std::string script, std::vector<std::string> args, int seconds,
                      const std::function<void(const std::string&)>& on_line = {}) {
  auto dir = std::filesystem::path(__FILE__).parent_path();
  auto command = fmt::format("timeout -k 1 {} /usr/bin/python3 {} {} 2>&1", seconds,
                             (dir / script).string(), fmt::join(args, " "));
  script_run r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char line[64 * 1024];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string text(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    r.output += text + "\n";
    if (auto colon = text.find(": "); colon != std::string::npos)
      r.facts.emplace_back(text.substr(0, colon), text.substr(colon + 2));
    if (on_line) on_line(text);
  }
  int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Compares what a script said with what it should have; one line per
// fact that differs.
std::vector<std::string> differences(const script_run& r,
                                     const std::vector<std::pair<std::string, std::string>>& want) {
  std::vector<std::string> out;
  for (const auto& [key, value] : want)
    if (r.fact(key) != value) out.push_back(fmt::format("{}: {} (expected {})", key, r.fact(key), value));
  if (!out.empty() && r.facts.empty())
    out.push_back("the script said:\n" + r.output);
  else if (auto error = r.fact("error"); error != "(not said)")
    out.push_back("the library reported " + error);
  return out;
}

// Python's websockets against your server, in `scenario`
// (python_client.py).
std::optional<std::vector<std::string>> python(serve_fn serve, wsapp::config cfg,
                                               std::string scenario,
                                               std::vector<std::pair<std::string, std::string>> want) {
  run_t server(serving(serve, cfg));
  if (!server.listening()) return std::vector<std::string>{"the server did not start listening"};
  auto r = run_script("python_client.py", {fmt::to_string(server.port()), scenario}, 8);
  if (r.status == 3) {
    WARN("skipped: Python's websockets library is not installed here "
         "(Debian's python3-websockets: scripts/setup test)");
    return std::nullopt;
  }
  return differences(r, want);
}

void python_report(const std::optional<std::vector<std::string>>& problems, std::string_view what) {
  if (problems && !problems->empty())
    FAIL(fmt::format("Python's websockets library, {}:\n  - {}", what,
                     fmt::join(*problems, "\n  - ")));
}

}  // namespace

TEST_CASE("Python's websockets: echo, a ping of its own, and a clean close",
          "[lesson15][task3]") {
  auto problems = python(yours::serve, test_config(), "echo",
                         {{"text", "true"}, {"binary", "true"}, {"big", "true"},
                          {"pong", "true"}, {"close_code", "1000"}});
  python_report(problems, "on GET /echo (close_code 1006 means no close frame came back)");
}

TEST_CASE("Python's websockets: three clients in the room hear each other",
          "[lesson15][task4]") {
  auto problems = python(yours::serve, test_config(), "chat", {{"all_heard_all", "true"}});
  python_report(problems, "three clients on GET /chat, each saying one message");
}

TEST_CASE("Python's websockets answers the server's pings and stays connected",
          "[lesson15][task5]") {
  auto problems = python(yours::serve, pinging(), "idle",
                         {{"echo_after_pings", "true"}, {"close_code", "1000"}});
  python_report(problems, "0.2 s on GET /echo with a ping every 90 ms, then a message");
}

TEST_CASE("Python's websockets sees the shutdown as a close frame 1001",
          "[lesson15][task7]") {
  run_t server(serving(yours::serve, test_config()));
  REQUIRE(server.listening());
  auto r = run_script("python_client.py", {fmt::to_string(server.port()), "shutdown"}, 8,
                      [](const std::string& line) {
                        if (line == "ready") send_sigterm();
                      });
  if (r.status == 3) {
    WARN("skipped: Python's websockets library is not installed here "
         "(Debian's python3-websockets: scripts/setup test)");
    return;
  }
  python_report(differences(r, {{"codes", "[1001, 1001]"}}),
                "two clients (/echo, /chat) waiting when SIGTERM came (1006: the "
                "connection ended without a close frame)");
}

namespace {

// One text to GET /echo from the test's own client, and what came back.
awaitable<got> one_echo(unsigned short port, std::string text) {
  auto c = co_await opened(port, "/echo");
  co_await c->send_text(text);
  co_return co_await c->next(1s);
}

}  // namespace

TEST_CASE("headless Chromium: the page's WebSocket chats and echoes, and "
          "closes cleanly",
          "[lesson15][task6]") {
  run_t server(serving(yours::serve, test_config()));
  REQUIRE(server.listening());
  // Chromium takes a second or more to start: only for a server that
  // echoes at all.
  const std::string hello = "hello from the test, before Chromium starts";
  auto first = run_real([&] { return one_echo(server.port(), hello); });
  if (!first.value || !same({*first.value}, {text(hello)}))
    FAIL(fmt::format("headless Chromium was not started: on GET /echo the "
                     "test's own client sent a text and got {}, not its echo "
                     "(the echo test of task 3 says more)",
                     first.value ? describe(*first.value) : first.error));
  auto r = run_script("browser_client.py", {fmt::to_string(server.port()), "2.5"}, 10);
  if (r.status == 3) {
    WARN("skipped: " + r.fact("skipped"));
    return;
  }
  auto said = R"("the page says hello to the room")";
  auto problems = differences(
      r, {{"text", R"("hello from Chromium, a text of some length")"},
          {"binary", "[0, 1, 2, 250, 251, 252, 253, 254, 255]"},
          {"echo_close", R"({"clean": true, "code": 1000, "reason": ""})"},
          {"chat", fmt::format("[{}, {}]", said, said)},
          {"chat_close", R"({"clean": true, "code": 1005, "reason": ""})"}});
  if (!problems.empty())
    FAIL(fmt::format("headless Chromium on the page at GET / (\"clean\": false "
                     "means the close handshake did not complete):\n  - {}",
                     fmt::join(problems, "\n  - ")));
}
