// Lesson 11 grading. Your web app runs on a thread of its own (or, where a
// test cancels it, on the test's loop); the tests are its clients, over
// sockets on 127.0.0.1, in real time. They judge what a client can see
// (statuses, bodies, which reply came first, a connection closed or
// refused), the files the app wrote, and its counters (requests in flight,
// jobs done), never a stopwatch. When the loop was held, the lag monitor on
// your app's loop says for how long.
#include "sides.hpp"
#include "web_harness.hpp"

#include "given/fake_upstream.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace harness;
using grade::run_real;
using run_t = server_run<webapp::stats>;
using serve_fn = asio::awaitable<void> (*)(webapp::config, webapp::stats&);

namespace {

// A config that keeps tests short: small limits, short timeouts.
webapp::config test_config(const fs::path& data) {
  webapp::config cfg;
  cfg.server.idle_timeout = 300ms;
  cfg.server.limits.max_head = 4096;
  cfg.server.limits.max_body = 64 * 1024;
  cfg.server.limits.max_headers = 32;
  cfg.server.max_connections = 64;
  cfg.data_dir = data;
  cfg.shutdown_deadline = 800ms;
  cfg.upstream_timeout = 1s;
  cfg.job_latency = 100ms;
  cfg.threads = 2;
  return cfg;
}

// A case's own data folder, and the test configuration over it.
struct app_case {
  temp_dir data;
  webapp::config cfg = test_config(data.path());
};

run_t::serve_fn serving(serve_fn serve, webapp::config cfg) {
  return [serve, cfg](webapp::stats& s) { return serve(cfg, s); };
}

// Starts `serve` and waits for it to listen and answer GET / (lesson 10's
// server, given); fails the test if it does not.
#define START(name, serve, cfg)                                           \
  run_t name(serving(serve, cfg));                                        \
  if (!name.listening())                                                  \
    FAIL("the web app did not start listening within 3 s" +               \
         (name.error().empty() ? std::string()                            \
                               : ": serve() threw " + name.error()));

// One exchange whose result and arrival are recorded: `order` gets `tag`
// when the reply (or the close) comes. Spawned coroutines take what they
// need as parameters: those live in the coroutine's frame.
awaitable<void> recorded(unsigned short port, std::string bytes,
                         duration limit, exchange_result& out,
                         std::vector<std::string>& order, std::string tag) {
  out = co_await exchange(port, std::move(bytes), limit);
  order.push_back(std::move(tag));
}

// Sends `slow` (named `name` on the timeline) and, once the app is working
// on it, GET /: was GET / answered first, as a loop that is not held
// answers it? The slow request's exchange and the run come back too.
struct meanwhile_outcome {
  grade::outcome<grade::nothing> run;
  exchange_result slow;
  bool hello_first = false;
};

meanwhile_outcome meanwhile(run_t& server, std::string name, std::string slow,
                            duration limit) {
  auto port = server.port();
  meanwhile_outcome m;
  std::vector<std::string> order;
  exchange_result hello;
  m.run = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex,
             tut::traced(name, recorded(port, slow, limit, m.slow, order,
                                        "slow")),
             detached);
    co_await eventually(
        [&] { return server.stats().in_flight > 0 || !order.empty(); }, 1s);
    co_await tut::sleep(20ms);
    co_await tut::traced("GET / meanwhile",
                         recorded(port, get("/"), limit, hello, order, "hello"));
  });
  m.hello_first = !order.empty() && order.front() == "hello";
  return m;
}

// CPU work that takes about 150 ms in this build: /cpu-heavy sums the
// primes below it. The tests compute the same sum to check the answer.
std::uint64_t calibrated_cpu_work() {
  static const std::uint64_t n = [] {
    std::uint64_t probe = 100'000;
    auto start = std::chrono::steady_clock::now();
    volatile auto sum = webapp::sum_primes_below(probe);
    (void)sum;
    double took = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    double scale = std::pow(0.15 / std::max(took, 1e-4), 2.0 / 3.0);
    return std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(probe * scale), 200'000, 4'000'000);
  }();
  return n;
}

}  // namespace

// ===========================================================================
// Task 1: CPU-bound work
// ===========================================================================

TEST_CASE_METHOD(app_case,
                 "/cpu-heavy computes on the thread pool: the loop answers "
                 "others meanwhile",
                 "[lesson11][task1]") {
  cfg.cpu_work = calibrated_cpu_work();  // about 150 ms
  START(server, yours::serve, cfg);
  auto [out, heavy, hello_first] =
      meanwhile(server, "GET /cpu-heavy", get("/cpu-heavy"), 4s);
  REQUIRE(out.value);
  auto want = fmt::format(R"({{"result": {}}})",
                          webapp::sum_primes_below(cfg.cpu_work));
  if (heavy.end != ending::reply || heavy.answer.body != want)
    FAIL(fmt::format("GET /cpu-heavy got {}; expected 200 {}",
                     describe(heavy), want));
  if (!hello_first)
    FAIL(fmt::format(
        "GET /, sent while /cpu-heavy computed, was answered only after it: "
        "the computation held the loop's thread ({:.0f} ms at worst)\n\n{}",
        ms(server.worst_lag()), tut::render_timeline(out.trace)));
}

// ===========================================================================
// Task 2: uploads
// ===========================================================================

TEST_CASE_METHOD(app_case,
                 "an upload is saved whole in uploads/, without holding the "
                 "loop while the disk works",
                 "[lesson11][task2]") {
  cfg.disk_latency = 250ms;
  START(server, yours::serve, cfg);
  std::string body;
  for (int i = 0; body.size() < 40'000; ++i)
    body += fmt::format("line {}\n", i);
  const std::string name = "the-quarterly-report.txt";
  auto [out, upload, hello_first] =
      meanwhile(server, "POST /upload?name=" + name,
                post("/upload?name=" + name, body), 2s);
  REQUIRE(out.value);
  auto saved = data.read("uploads/" + name);  // as the reply came
  auto want = fmt::format(R"({{"saved": "{}", "bytes": {}}})", name, body.size());
  if (upload.end != ending::reply || upload.answer.status != 201 ||
      upload.answer.body != want)
    FAIL(fmt::format("POST /upload?name={} got {}; expected 201 {}", name,
                     describe(upload), want));
  if (saved != body)
    FAIL(fmt::format("the reply said the upload was saved, but when it came "
                     "uploads/{} held {} of the {} bytes sent{}",
                     name, saved.size(), body.size(),
                     saved.size() == body.size() ? ", not the ones sent" : ""));
  if (!hello_first)
    FAIL(fmt::format(
        "GET /, sent while the upload was being written, was answered only "
        "after it: the write held the loop's thread (for {:.0f} ms at "
        "worst)\n\n{}",
        ms(server.worst_lag()), tut::render_timeline(out.trace)));
  CHECK(data.files() == std::vector<std::string>{"uploads/" + name});
}

TEST_CASE("upload names with /, .., NUL or over 255 bytes get 400 and "
          "nothing is written; a name of 255 bytes is saved",
          "[lesson11][task2]") {
  temp_dir root;
  // The data directory sits two levels down, so a name that escapes it
  // lands where the test can see it (and clean it up).
  auto data = root.path() / "a" / "b" / "data";
  fs::create_directories(root.path() / "abs");
  START(server, yours::serve, test_config(data));
  auto absolute = (root.path() / "abs" / "evil.txt").string();
  std::string longest(255, 'n');
  std::vector<bad_case> cases{
      {"a name going up", post("/upload?name=../evil.txt", "x"), 400, false},
      {"a name going up, escaped",
       post("/upload?name=%2e%2e%2f%2e%2e%2fevil.txt", "x"), 400, false},
      {"the parent itself", post("/upload?name=..", "x"), 400, false},
      {"a name with a slash", post("/upload?name=sub/evil.txt", "x"), 400,
       false},
      {"an absolute path", post("/upload?name=" + absolute, "x"), 400, false},
      {"a name with a NUL", post("/upload?name=evil%00.txt", "x"), 400, false},
      {"a name with a backslash", post("/upload?name=a%5cb", "x"), 400, false},
      {"a hidden name", post("/upload?name=.evil", "x"), 400, false},
      {"an empty name", post("/upload?name=", "x"), 400, false},
      {"no name at all", post("/upload", "x"), 400, false},
      {"a name of 256 bytes", post("/upload?name=" + longest + "n", "x"), 400,
       false},
      {"a plain name (this one is fine)", post("/upload?name=ok.txt", "fine"),
       201, false},
      {"a name of 255 bytes, the longest a file can have (fine too)",
       post("/upload?name=" + longest, "long"), 201, false},
  };
  auto problems = run_cases(server.port(), cases);
  std::vector<std::string> written;
  for (const auto& e : fs::recursive_directory_iterator(root.path()))
    if (e.is_regular_file() && e.path() != data / "uploads" / "ok.txt" &&
        e.path() != data / "uploads" / longest)
      written.push_back(fs::relative(e.path(), root.path()).string());
  if (!written.empty())
    problems.push_back(fmt::format("files written outside the plan: {}",
                                   fmt::join(written, ", ")));
  report(problems, cases.size(),
         "The seed's f\"data/{file.filename}\" writes wherever the name "
         "points: \"../x\" climbs out of data/, \"/x\" starts again at the "
         "root, and a NUL cuts the name short.");
}

TEST_CASE_METHOD(app_case,
                 "an upload called log.txt lands in uploads/, apart from the "
                 "jobs' log",
                 "[lesson11][task2]") {
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::vector<exchange_result>> {
    std::vector<exchange_result> replies;
    replies.push_back(co_await exchange(port, post("/log", "a job of the log"), 1s));
    if (replies.back().answer.status == 202)  // a job to wait for
      co_await eventually([&] { return server.stats().jobs_done >= 1; }, 1s);
    replies.push_back(co_await exchange(
        port, post("/upload?name=log.txt", "an upload, not the log"), 1s));
    co_return replies;
  });
  REQUIRE(out.value);
  const auto& upload = out.value->back();
  if (upload.end != ending::reply || upload.answer.status != 201)
    FAIL(fmt::format("POST /upload?name=log.txt got {}; expected 201",
                     describe(upload)));
  CHECK(data.read("uploads/log.txt") == "an upload, not the log");
  if (out.value->front().answer.status == 202)
    CHECK(data.read("log.txt") == "a job of the log\n");
}

TEST_CASE_METHOD(app_case,
                 "Expect: 100-continue: 100 Continue, then the body; a name "
                 "that is refused gets its 400 instead, and the body is never "
                 "asked for",
                 "[lesson11][task2]") {
  START(server, yours::serve, cfg);
  auto port = server.port();
  report_clients([&](std::vector<std::string>& problems) -> awaitable<void> {
    std::string body = "the body, sent once the server says so";
    auto head_of = [&](std::string_view target) {
      return fmt::format("POST {} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue"
                         "\r\nContent-Length: {}\r\n\r\n",
                         target, body.size());
    };
    {
      auto c = co_await connected(port);
      co_await c.send(head_of("/upload?name=asked.txt"));
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end != ending::reply || r.status != 100) {
        problems.push_back(fmt::format(
            "POST /upload?name=asked.txt with \"Expect: 100-continue\" and no "
            "body yet got {}; expected 100 Continue: the client waits for it "
            "before it sends the body (curl waits a second)",
            end == ending::reply ? fmt::format("{} {}", r.status, r.body.empty() ? http::reason_phrase(r.status) : r.body)
                                 : to_string(end)));
      } else {
        co_await c.send(body);
        end = co_await c.receive(r, 1s);
        if (end != ending::reply || r.status != 201)
          problems.push_back(fmt::format(
              "after 100 Continue and the body, the upload got {}; expected "
              "201",
              end == ending::reply ? fmt::to_string(r.status) : to_string(end)));
      }
    }
    {
      auto c = co_await connected(port);
      co_await c.send(head_of("/upload?name=../escape.txt"));
      reply r;
      auto end = co_await c.receive(r, 1s);
      if (end != ending::reply || r.status != 400)
        problems.push_back(fmt::format(
            "POST /upload?name=../escape.txt with \"Expect: 100-continue\" "
            "got {}; expected 400 at once, without 100 Continue: a request "
            "refused for its name needs no body",
            end == ending::reply ? fmt::format("{} {}", r.status, r.body.empty() ? http::reason_phrase(r.status) : r.body)
                                 : to_string(end)));
    }
  }, 2,
         "Check the name before you await the body (ctx.body()): that is when "
         "the server tells the client to send it.");
  CHECK(data.read("uploads/asked.txt") ==
        "the body, sent once the server says so");
}

// ===========================================================================
// Task 3: the dashboard
// ===========================================================================

namespace {

struct dashboard_outcome {
  std::string basics;  // why the scenario could not run, if it could not
  grade::outcome<std::vector<exchange_result>> run;
  webapp::upstream_counters upstream;
};

dashboard_outcome dashboard(serve_fn serve, std::vector<std::string> requests) {
  temp_dir data;
  dashboard_outcome out;
  out.run = run_real([&]() -> awaitable<std::vector<exchange_result>> {
    auto ex = co_await asio::this_coro::executor;
    webapp::fake_upstream upstream(ex, 80ms);
    auto cfg = test_config(data.path());
    cfg.upstream = upstream.endpoint();
    run_t server(serving(serve, cfg));
    std::vector<exchange_result> replies;
    auto calls = [&]() -> awaitable<void> {
      if (!co_await eventually([&] { return server.port() != 0; }, 3s))
        throw std::runtime_error("the web app did not start listening");
      for (const auto& request : requests) {
        auto line = request.substr(0, request.find(" HTTP/"));
        replies.push_back(co_await tut::traced(
            line, exchange(server.port(), request, 2s)));
      }
    };
    co_await (calls() || upstream.run());
    out.upstream = upstream.seen;
    co_return replies;
  });
  return out;
}

}  // namespace

TEST_CASE("the dashboard's three upstream calls run at once",
          "[lesson11][task3]") {
  std::vector<std::string> requests{get("/dashboard/7")};
  auto [actual, expected] = BOTH_SIDES(dashboard, serve, requests);
  grade::expect_no_exception(actual, expected, "the scenario");
  REQUIRE(actual.run.value->size() == 1);
  const auto& mine = actual.run.value->front();
  const auto& theirs = expected.run.value->front();
  GRADE(mine.end == ending::reply && mine.answer.status == 200,
        fmt::format("GET /dashboard/7 got {}; expected 200 with the three "
                    "answers",
                    describe(mine)),
        actual.run, expected.run);
  GRADE(mine.answer.body == theirs.answer.body,
        fmt::format("GET /dashboard/7 answered\n  {}\nexpected\n  {}",
                    mine.answer.body, theirs.answer.body),
        actual.run, expected.run);
  GRADE(actual.upstream.peak == 3,
        fmt::format("at most {} of the {} upstream calls ran at once: one "
                    "after another they take 3 x 80 ms",
                    actual.upstream.peak, actual.upstream.calls),
        actual.run, expected.run);
}

TEST_CASE("a failing upstream service gives 502 Bad Gateway; HEAD gives "
          "the dashboard's head and no body",
          "[lesson11][task3]") {
  // User 13's orders fail; then a good one, and HEAD on the same route.
  std::vector<std::string> requests{get("/dashboard/13"), get("/dashboard/7"),
                                    head("/dashboard/7")};
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(dashboard, serve, requests);
  grade::expect_no_exception(actual, expected, "the scenario");
  REQUIRE(actual.run.value->size() == 3);
  const auto& failing = actual.run.value->at(0);
  GRADE(failing.end == ending::reply && failing.answer.status == 502,
        fmt::format("GET /dashboard/13, whose orders service fails, got {}; "
                    "expected 502: the failure is the upstream's",
                    describe(failing)),
        actual.run, expected->run);
  const auto& next = actual.run.value->at(1);
  GRADE(next.end == ending::reply && next.answer.status == 200,
        fmt::format("after a failing dashboard, GET /dashboard/7 got {}",
                    describe(next)),
        actual.run, expected->run);
  const auto& h = actual.run.value->at(2);
  auto length = fmt::to_string(next.answer.body.size());
  GRADE(h.end == ending::reply && h.answer.status == 200 &&
            h.answer.header("content-length") == length,
        fmt::format("HEAD /dashboard/7 got {} with Content-Length \"{}\"; "
                    "expected 200 and {}, the GET's, with no body",
                    describe(h), h.answer.header("content-length"), length),
        actual.run, expected->run);
}

// ===========================================================================
// Task 4: background jobs
// ===========================================================================

TEST_CASE_METHOD(app_case,
                 "POST /log answers at once, then its job runs; jobs run in "
                 "the order they came",
                 "[lesson11][task4]") {
  START(server, yours::serve, cfg);  // a job: 100 ms
  auto port = server.port();
  int done_at_reply = -1;
  auto out = run_real([&]() -> awaitable<std::vector<exchange_result>> {
    std::vector<exchange_result> replies;
    for (auto message : {"the first job of the log", "the second job of the log",
                         "the third job of the log"}) {
      replies.push_back(co_await tut::traced(
          fmt::format("POST /log {}", message),
          exchange(port, post("/log", message), 2s)));
      if (done_at_reply < 0) done_at_reply = server.stats().jobs_done;
      if (replies.back().answer.status != 202) co_return replies;
    }
    co_await tut::traced("the jobs", eventually([&] {
      return server.stats().jobs_done >= 3;
    }, 2s));
    co_return replies;
  });
  REQUIRE(out.value);
  const auto& first = out.value->front();
  if (first.end != ending::reply || first.answer.status != 202 ||
      first.answer.body != R"({"queued": true})")
    FAIL(fmt::format("POST /log got {}; expected 202 {{\"queued\": true}}",
                     describe(first)));
  if (done_at_reply != 0)
    FAIL(fmt::format(
        "the reply to POST /log came after its job had run: the client "
        "waited for work it does not need\n\n{}",
        tut::render_timeline(out.trace)));
  auto jobs = server.stats().jobs_done.load();
  if (jobs != 3)
    FAIL(fmt::format(
        "{} of the 3 queued jobs ran within 2 s (each takes 100 ms)", jobs));
  CHECK(server.stats().jobs_queued == 3);
  CHECK(data.read("log.txt") == "the first job of the log\nthe second job of "
                                "the log\nthe third job of the log\n");
}

TEST_CASE_METHOD(app_case,
                 "a full job queue answers 503, and the jobs it took all run",
                 "[lesson11][task4]") {
  cfg.max_jobs = 2;
  cfg.job_latency = 150ms;
  START(server, yours::serve, cfg);
  auto port = server.port();
  auto out = run_real([&]() -> awaitable<std::vector<int>> {
    std::vector<int> statuses;
    // The worker takes the first at once; two more wait in the queue.
    for (int i = 1; i <= 4; ++i) {
      auto r = co_await exchange(
          port, post("/log", fmt::format("the job number {} of four", i)), 1s);
      statuses.push_back(r.end == ending::reply ? r.answer.status : 0);
      if (i == 1)
        co_await eventually([&] { return server.stats().jobs_queued >= 1; }, 200ms);
    }
    // The jobs it took (at most 3 fit) run: none to wait for if it took
    // none.
    auto took = std::min<long>(3, std::count(statuses.begin(), statuses.end(), 202));
    co_await eventually([&] { return server.stats().jobs_done >= took; }, 2s);
    co_return statuses;
  });
  REQUIRE(out.value);
  std::vector<int> want{202, 202, 202, 503};
  if (*out.value != want)
    FAIL(fmt::format("four POST /log in a row, the queue holding 2 and the "
                     "worker busy with the first for 150 ms, got [{}]; "
                     "expected [{}]: a job that does not fit is refused with "
                     "503, at once",
                     fmt::join(*out.value, ", "), fmt::join(want, ", ")));
  CHECK(server.stats().jobs_done == 3);
  CHECK(data.read("log.txt") == "the job number 1 of four\nthe job number 2 of "
                                "four\nthe job number 3 of four\n");
}

// ===========================================================================
// Task 5: graceful shutdown
// ===========================================================================

namespace {

// SIGTERM while there is work everywhere: an idle keep-alive connection,
// five /sleep requests in flight, three background jobs queued, an upload
// whose body is half sent. Everything should finish, then serve() return.
struct shutdown_outcome {
  std::string basics;  // why the scenario could not run, if it could not
  std::vector<exchange_result> sleepers;
  std::vector<std::string> order;
  ending idle_end = ending::timed_out;
  double idle_closed_after = 0;     // seconds after SIGTERM
  ending newcomer = ending::reply;  // a connection tried after SIGTERM
  bool newcomer_done = false;
  exchange_result upload;
  bool returned = false;  // serve() returned within the limit
  double waited = 0;      // seconds after SIGTERM the test waited for it
  bool ignored = false;   // SIGTERM changed nothing, so the test stopped
                          // waiting early
  std::string error;
  int jobs_done = 0;
  std::vector<std::string> files;
  std::string log;
  std::string upload_file;
  std::string body;
  tut::trace trace;
};

// The rest of a half-sent upload, 50 ms after SIGTERM, and its reply.
awaitable<void> finish_upload(client& upload, std::string rest,
                              exchange_result& out,
                              tut::clock::time_point until) {
  co_await tut::sleep(50ms);
  co_await upload.send(rest);
  out.end = co_await tut::traced("POST /upload (half sent at SIGTERM)",
                                 upload.receive(out.answer,
                                                until - tut::now()));
}

// When (if) the server closes a connection, in seconds from now.
awaitable<void> watch_close(client& c, ending& end, double& after,
                            tut::clock::time_point until) {
  auto start = tut::now();
  end = co_await c.closed(until - start);
  after = tut::seconds(tut::now() - start).count();
}

// A client that comes `after` SIGTERM: refused, or let in and answered?
awaitable<void> newcomer(unsigned short port, ending& result, bool& done,
                         duration after = 100ms) {
  co_await tut::sleep(after);
  client c(co_await asio::this_coro::executor);
  result = co_await c.open(port, 200ms);
  if (result == ending::reply) {
    co_await c.send(get("/"));
    reply r;
    result = co_await c.receive(r, 300ms);
  }
  done = true;
}

awaitable<void> returned(const run_t& server, bool& done,
                         tut::clock::time_point until) {
  done = co_await eventually([&] { return server.finished(); },
                             until - tut::now());
}

// Ends 300 ms after SIGTERM if the signal has changed nothing by then: the
// client that came at 100 ms was answered, the idle connection is open,
// serve() runs. Nothing that SIGTERM should start has started, so there is
// nothing more to wait for. Otherwise waits until `until`.
awaitable<void> ignored_sigterm(const run_t& server, const shutdown_outcome& o,
                                bool& ignored, tut::clock::time_point sigterm,
                                tut::clock::time_point until) {
  co_await sleep_until(sigterm + 300ms);
  co_await eventually([&] { return o.newcomer_done; }, until - tut::now());
  bool newcomer_answered = o.newcomer_done && o.newcomer == ending::reply;
  bool idle_open = o.idle_closed_after == 0;  // watch_close sets it at the end
  if (newcomer_answered && idle_open && !server.finished()) {
    ignored = true;
    co_return;
  }
  co_await sleep_until(until);
}

const shutdown_outcome& graceful_shutdown() {
  static const shutdown_outcome result = [] {
    shutdown_outcome o;
    temp_dir data;
    auto cfg = test_config(data.path());
    cfg.server.idle_timeout = 3s;  // an idle connection closes for SIGTERM
    cfg.shutdown_deadline = 1s;
    // Three jobs take 450 ms, the requests 200 ms: jobs are still queued
    // when the last connection closes, even on a loaded machine.
    cfg.job_latency = 150ms;
    run_t server(serving(yours::serve, cfg));
    if (!server.listening()) {
      o.basics = "the web app did not start listening within 3 s";
      return o;
    }
    auto port = server.port();
    for (int i = 0; o.body.size() < 20'000; ++i)
      o.body += fmt::format("row {}\n", i);
    auto run = run_real([&]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      auto idle = co_await connected(port);
      co_await idle.send(get("/"));
      reply r;
      co_await idle.receive(r, 1s);
      o.sleepers.resize(5);
      for (int i = 0; i < 5; ++i)
        co_spawn(ex,
                 tut::traced(fmt::format("GET /sleep?ms=200 #{}", i + 1),
                             recorded(port, get("/sleep?ms=200"), 1500ms,
                                      o.sleepers[i], o.order, "sleeper")),
                 detached);
      auto upload = co_await connected(port);
      std::string request = post("/upload?name=big.txt", o.body);
      auto half = request.size() / 2;
      co_await upload.send(std::string_view(request).substr(0, half));
      co_await eventually([&] { return server.stats().in_flight >= 5; }, 1s);
      // Three jobs of 150 ms, queued just before the signal: two still
      // wait in the queue when the last connection closes.
      for (auto message : {"the first job before SIGTERM",
                           "the second job before SIGTERM",
                           "the third job before SIGTERM"})
        co_await exchange(port, post("/log", message), 1s);

      send_sigterm();
      tut::note("GET /sleep?ms=200 #1", "SIGTERM");
      auto sigterm = tut::now();
      auto until = sigterm + 1500ms;
      co_await ((finish_upload(upload, request.substr(half), o.upload, until) &&
                 watch_close(idle, o.idle_end, o.idle_closed_after, until) &&
                 newcomer(port, o.newcomer, o.newcomer_done) &&
                 returned(server, o.returned, until)) ||
                ignored_sigterm(server, o, o.ignored, sigterm, until));
      o.waited = tut::seconds(tut::now() - sigterm).count();
      if (o.ignored) o.idle_closed_after = o.waited;
    });
    o.error = run.exception ? run.error : server.error();
    o.jobs_done = server.stats().jobs_done;
    o.files = data.files();
    o.log = data.read("log.txt");
    o.upload_file = data.read("uploads/big.txt");
    o.trace = run.trace;
    return o;
  }();
  return result;
}

// Why the test waited less than its limit, if it did.
std::string ignored_note(const shutdown_outcome& o) {
  return o.ignored ? "; the test stopped waiting then, as SIGTERM had changed "
                     "nothing: the client that came 100 ms after it was "
                     "answered, the idle connection was open, serve() ran on"
                   : "";
}

}  // namespace

TEST_CASE("on SIGTERM the app refuses new connections at once and closes "
          "the idle ones",
          "[lesson11][task5]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  if (o.newcomer != ending::refused)
    FAIL(fmt::format(
        "a client that connected 100 ms after SIGTERM got {}; expected the "
        "connection refused: once the acceptor is closed, the system itself "
        "refuses it, at once, and the client can try another server",
        to_string(o.newcomer)));
  if (o.idle_end == ending::timed_out || o.idle_closed_after > 0.5)
    FAIL(fmt::format(
        "an idle keep-alive connection was still open {:.1f} s after "
        "SIGTERM (idle timeout 3 s): nothing is under way there, so it can "
        "close at once{}",
        o.idle_closed_after, ignored_note(o)));
}

TEST_CASE("on SIGTERM the requests under way are answered, the queued jobs "
          "run, then serve() returns",
          "[lesson11][task5]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < o.sleepers.size(); ++i)
    if (o.sleepers[i].end != ending::reply ||
        o.sleepers[i].answer.status != 200)
      problems.push_back(fmt::format("GET /sleep?ms=200 #{}, in flight at "
                                     "SIGTERM, got {}",
                                     i + 1, describe(o.sleepers[i])));
  if (!o.returned)
    problems.push_back(fmt::format(
        "serve() had not returned {:.1f} s after SIGTERM (shutdown deadline "
        "1 s){}",
        o.waited, ignored_note(o)));
  else if (!o.error.empty())
    problems.push_back("serve() threw " + o.error);
  if (o.jobs_done != 3)
    problems.push_back(fmt::format(
        "{} of the 3 background jobs queued just before SIGTERM ran before "
        "serve() {}",
        o.jobs_done, o.returned ? "returned" : "was given up on"));
  if (!problems.empty())
    FAIL(fmt::format("  - {}\n\n{}", fmt::join(problems, "\n  - "),
                     tut::render_timeline(o.trace)));
  CHECK(o.log == "the first job before SIGTERM\nthe second job before "
                 "SIGTERM\nthe third job before SIGTERM\n");
}

TEST_CASE("SIGTERM during an upload: the upload is finished and saved "
          "whole; no file is left half-written",
          "[lesson11][task5]") {
  const auto& o = graceful_shutdown();
  if (!o.basics.empty()) FAIL(o.basics);
  if (o.upload.end != ending::reply || o.upload.answer.status != 201)
    FAIL(fmt::format("an upload half sent at SIGTERM (the rest came 50 ms "
                     "later) got {}; a request under way is in flight: let "
                     "it finish",
                     describe(o.upload)));
  CHECK(o.upload.answer.header("connection") == "close");
  CHECK(o.upload_file == o.body);
  CHECK(o.files == std::vector<std::string>{"log.txt", "uploads/big.txt"});
}

TEST_CASE_METHOD(app_case,
                 "a request that outlasts the shutdown deadline is cut off, "
                 "and serve() still returns in time, leaving no half file",
                 "[lesson11][task5]") {
  cfg.shutdown_deadline = 400ms;
  cfg.server.idle_timeout = 5s;
  START(server, yours::serve, cfg);
  auto port = server.port();
  exchange_result sleeper;
  std::vector<std::string> order;
  ending upload_end = ending::reply;
  bool returned = false, ignored = false;
  double waited = 0;
  auto run = run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex,
             tut::traced("GET /sleep?ms=5000",
                         recorded(port, get("/sleep?ms=5000"), 1300ms, sleeper,
                                  order, "sleeper")),
             detached);
    auto upload = co_await connected(port);
    co_await upload.send(
        "POST /upload?name=never.txt HTTP/1.1\r\nHost: a\r\n"
        "Content-Length: 1000\r\n\r\nnever finished");
    // Both in flight (or one already answered: no use waiting).
    co_await eventually([&] {
      return server.stats().in_flight >= 2 || server.stats().requests > 0;
    }, 1s);
    send_sigterm();
    auto sigterm = tut::now();
    returned = co_await eventually([&] { return server.finished(); }, 300ms);
    if (!returned) {
      // Still serving 300 ms after SIGTERM: does it still take clients? If
      // it does, SIGTERM changed nothing, and waiting longer tells nothing.
      ending probe = ending::refused;
      bool probed = false;
      co_await newcomer(port, probe, probed, 0ms);
      ignored = probe == ending::reply && !server.finished();
      if (!ignored)
        returned = co_await eventually([&] { return server.finished(); },
                                       sigterm + 1s - tut::now());
    }
    waited = tut::seconds(tut::now() - sigterm).count();
    reply r;
    upload_end = co_await upload.receive(r, 300ms);
    // A serve() that did not return fails the test: its sleeper, still
    // waiting for an answer, is not waited for.
    if (!returned) stop_loop(ex);
  });
  REQUIRE(run.value);
  if (!returned)
    FAIL(fmt::format(
        "serve() had not returned {:.1f} s after SIGTERM, with a 400 ms "
        "shutdown deadline and a 5 s request in flight{}: when the deadline "
        "passes, what is left must be ended, and serve() return\n\n{}",
        waited,
        ignored ? " (the test stopped waiting then: a client that connected "
                  "300 ms after SIGTERM was answered, as if no SIGTERM had "
                  "come)"
                : "",
        tut::render_timeline(run.trace)));
  CHECK(server.error().empty());
  CHECK(sleeper.end != ending::reply);
  CHECK(upload_end != ending::reply);
  CHECK(data.files().empty());
}

namespace {

// serve() on this loop, cancelled through a bound signal 300 ms in, with a
// job queued and a request under way: it should shut down as on SIGTERM.
struct cancel_outcome {
  grade::outcome<grade::cancelled_run<grade::nothing>> run;
  exchange_result job, sleeper;
  std::vector<std::string> order;
  int jobs_done = -1;
  int connections_after = -1;
};

awaitable<void> clients(webapp::stats& stats, cancel_outcome& o) {
  auto ex = co_await asio::this_coro::executor;
  co_await eventually([&] { return stats.port != 0; }, 1s);
  auto port = stats.port.load();
  co_await recorded(port, post("/log", "a job queued before the cancel"), 1s, o.job,
                    o.order, "job");
  co_await tut::sleep(150ms);
  co_spawn(ex,
           tut::traced("GET /sleep?ms=200",
                       recorded(port, get("/sleep?ms=200"), 1500ms, o.sleeper,
                                o.order, "sleeper")),
           detached);
}

cancel_outcome cancelled_app(serve_fn serve, const fs::path& data) {
  cancel_outcome o;
  webapp::stats stats;
  auto cfg = test_config(data);
  cfg.job_latency = 200ms;
  o.run = run_real([&]() -> awaitable<grade::cancelled_run<grade::nothing>> {
    auto ex = co_await asio::this_coro::executor;
    co_spawn(ex, clients(stats, o), detached);
    // A serve() that does not end is given up on after 2 s: the loop stops.
    auto r = co_await cancel_serve(serve, cfg, stats, 300ms, 2s);
    o.jobs_done = stats.jobs_done;
    o.connections_after = stats.connections;
    // Whatever is left running on this loop (it should be nothing) is
    // stopped with it.
    stop_loop(ex);
    co_return r;
  });
  return o;
}

}  // namespace

TEST_CASE("serve() cancelled through a bound signal shuts down as on "
          "SIGTERM, then ends as cancelled",
          "[lesson11][task5]") {
  temp_dir mine, theirs;
  auto actual = cancelled_app(yours::serve, mine.path());
  grade::on_demand expected{[&] { return cancelled_app(reference::serve, theirs.path()); }};
  grade::expect_no_exception(actual, expected, "the scenario");
  const auto& a = *actual.run.value;
  GRADE(a.aborted,
        fmt::format("serve(), cancelled 300 ms in (as a task group cancels "
                    "its tasks), {}; it should shut down as on SIGTERM, then "
                    "end with operation_aborted. A cancelled coroutine "
                    "awaits again only after "
                    "asio::this_coro::reset_cancellation_state()",
                    ended_as(a)),
        actual.run, expected->run);
  GRADE(actual.sleeper.end == ending::reply &&
            actual.sleeper.answer.status == 200 && actual.jobs_done == 1 &&
            actual.connections_after == 0,
        fmt::format("when serve() ended, the request under way at the "
                    "cancel got {}, {} of 1 queued job had run, and {} "
                    "connections were open; expected 200, 1 and 0",
                    describe(actual.sleeper), actual.jobs_done,
                    actual.connections_after),
        actual.run, expected->run);
}
