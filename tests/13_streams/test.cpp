// Lesson 13 grading. Tasks 1 to 4 run on virtual time: the streams read a
// fake paginated API (given/api.hpp) whose fetches take 100 ms or so of
// loop time, and each test compares what your code returned, what it had
// the API fetch, and when, with the reference. A task is graded beside the
// reference's other parts (your collect over the reference's stream, the
// reference's collect over yours), so that it fails only for its own code.
// Tasks 5 and 6 run your streaming server on a thread of its own (or, where
// a test cancels it, on the test's loop); the tests are its clients over
// sockets on 127.0.0.1, in real time, and judge what a client sees and what
// the server's API was asked for, never a stopwatch.
#include "sides.hpp"

#include "cancelled.hpp"
#include "event_client.hpp"
#include "web_harness.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace asio::experimental::awaitable_operators;
using asio::use_awaitable;
using upstream::api_config;
using stream = yours::stream;  // the same type on both sides
using duration = tut::clock::duration;

namespace {

using paginated_fn = stream (*)(asio::any_io_executor, upstream::fake_api&);
using collect_fn = awaitable<std::vector<std::string>> (*)(stream, std::size_t);
using merge_fn = stream (*)(asio::any_io_executor, stream, stream);

api_config pages_of(std::string name, int pages, int per_page,
                    duration delay) {
  api_config c;
  c.name = std::move(name);
  c.pages = pages;
  c.per_page = per_page;
  c.delay = delay;
  return c;
}

// "left: item 2 of page 1" -> "left 1.2": items as messages show them.
std::string short_name(const std::string& item) {
  auto colon = item.find(": item ");
  auto of = item.find(" of page ");
  if (colon == std::string::npos || of == std::string::npos) return item;
  auto i = item.substr(colon + 7, of - colon - 7);
  auto n = item.substr(of + 9);
  n = n.substr(0, n.find_first_not_of("0123456789"));
  return fmt::format("{} {}.{}", item.substr(0, colon), n, i);
}

std::string show(const std::vector<std::string>& items) {
  std::vector<std::string> names;
  for (const auto& item : items) names.push_back(short_name(item));
  return fmt::format("[{}] ({} item{})", fmt::join(names, ", "), items.size(),
                     items.size() == 1 ? "" : "s");
}

// ---- Scenarios on virtual time --------------------------------------------

// The APIs of a scenario. They are made on its loop and kept until after
// the run, so that a stream left running past its end does not find them
// gone.
struct world {
  std::vector<std::shared_ptr<upstream::fake_api>> apis;
  upstream::fake_api& operator[](std::size_t i) { return *apis.at(i); }
};

// What a scenario read, and what its APIs were asked for.
struct read_out {
  std::vector<std::string> items;
  std::string error;  // what the read threw; "" if it returned
  std::vector<std::vector<int>> requested;  // per API: the pages, in order
};

using read_fn =
    std::function<awaitable<std::vector<std::string>>(asio::any_io_executor,
                                                      world&)>;

// Makes the APIs of `cfgs`, runs `read` as the row "consumer", notes what
// it returned or threw and what each API was asked for.
grade::outcome<read_out> scenario(const std::vector<api_config>& cfgs,
                                  read_fn read) {
  world w;
  return grade::run([&]() -> awaitable<read_out> {
    auto ex = co_await asio::this_coro::executor;
    for (const auto& c : cfgs)
      w.apis.push_back(std::make_shared<upstream::fake_api>(ex, c));
    read_out r;
    try {
      r.items = co_await tut::traced("consumer", read(ex, w));
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    for (auto& api : w.apis) r.requested.push_back(api->requested());
    co_return r;
  });
}

// The same scenario through your code and the reference's.
struct compared {
  grade::outcome<read_out> actual, expected;
  std::vector<api_config> cfgs;  // the APIs both read
};

compared both(const std::vector<api_config>& cfgs, read_fn yours_read,
              read_fn reference_read) {
  compared c{scenario(cfgs, std::move(yours_read)),
             scenario(cfgs, std::move(reference_read)), cfgs};
  grade::reference_runs(c.expected);
  return c;
}

// The run did not end. When the consumer had returned (or thrown), that
// is said first: work was left on the loop after it.
template <typename T>
std::string stalled(const grade::outcome<T>& run, std::string_view what) {
  const auto* consumer = run.trace.find("consumer");
  if (consumer && consumer->end)
    return fmt::format("{} was over at {} ({}), but your run could not end "
                       "then: work was left waiting on the loop that nothing "
                       "would ever wake ({})",
                       what, secs(consumer->end->count()),
                       tut::to_string(consumer->result), run.error);
  return fmt::format("{}{} did not end: {}", grade::stalled(run), what,
                     run.error);
}

// Fails when the run stalled or ended in another way than the reference's:
// an error where it returned, or the other way round.
void expect_same_ending(const compared& c, std::string_view what) {
  const auto& a = c.actual;
  const auto& e = c.expected;
  if (a.exception) FAIL(grade::explain(stalled(a, what), a.trace, e.trace));
  const auto& mine = *a.value;
  const auto& theirs = *e.value;
  if (!mine.error.empty() && theirs.error.empty())
    FAIL(grade::explain(fmt::format("{} threw \"{}\" after {}; expected {}",
                                    what, mine.error, show(mine.items),
                                    show(theirs.items)),
                        a.trace, e.trace));
  if (mine.error.empty() && !theirs.error.empty())
    FAIL(grade::explain(
        fmt::format("{} returned {}; the API failed (\"{}\"), and that "
                    "error should have come out of it instead",
                    what, show(mine.items), theirs.error),
        a.trace, e.trace));
  GRADE(mine.error == theirs.error,
        fmt::format("{} threw \"{}\"; expected \"{}\"", what, mine.error,
                    theirs.error),
        a, e);
}

void expect_same_items(const compared& c, std::string_view what) {
  const auto& mine = *c.actual.value;
  const auto& theirs = *c.expected.value;
  GRADE(mine.items == theirs.items,
        fmt::format("{} gave {}; expected {}", what, show(mine.items),
                    show(theirs.items)),
        c.actual, c.expected);
}

// `why` says what the pages asked for should be, in the test's words.
void expect_same_requests(const compared& c, std::string_view what,
                          std::string_view why) {
  const auto& mine = *c.actual.value;
  const auto& theirs = *c.expected.value;
  const auto& cfgs = c.cfgs;
  for (std::size_t i = 0; i < cfgs.size(); ++i)
    GRADE(mine.requested[i] == theirs.requested[i],
          fmt::format("{}: the API \"{}\" was asked for pages {}; {} pages {}",
                      what, cfgs[i].name, grade::list(mine.requested[i]), why,
                      grade::list(theirs.requested[i])),
          c.actual, c.expected);
}

// What a read case compares once it has ended as the reference's did:
// the items, or the pages asked for (`why` says what they should be).
struct then_same {
  bool items = false;
  std::string why;
};
const then_same same_items{true, {}};
then_same same_requests(std::string why) { return {false, std::move(why)}; }

// expect_same_ending, then each of `checks` in the order given.
void expect_same_read(const compared& c, std::string_view what,
                      std::initializer_list<then_same> checks) {
  expect_same_ending(c, what);
  for (const auto& check : checks) {
    if (check.items)
      expect_same_items(c, what);
    else
      expect_same_requests(c, what, check.why);
  }
}

// The fetch rows of a trace ("<api> page <n>") that ran on past `t`, or
// began after it, in words; empty when every fetch had ended by `t`.
std::vector<std::string> ran_on(const tut::trace& trace, double t) {
  std::vector<std::string> out;
  constexpr double eps = 1e-9;
  for (const auto& task : trace.tasks) {
    if (task.name.find(" page ") == std::string::npos) continue;
    if (task.start.count() > t + eps)
      out.push_back(fmt::format("{} began at {}", task.name,
                                secs(task.start.count())));
    else if (!task.end)
      out.push_back(fmt::format("{} never ended", task.name));
    else if (task.end->count() > t + eps)
      out.push_back(fmt::format("{} ran on to {} ({})", task.name,
                                secs(task.end->count()),
                                tut::to_string(task.result)));
  }
  return out;
}

// When the row `name` ended, or the end of the run.
double ended_at(const tut::trace& trace, std::string_view name) {
  const auto* task = trace.find(name);
  return task && task->end ? task->end->count() : trace.elapsed.count();
}

// ---- Readers the tests use besides collect ---------------------------------

// A slow consumer: pulls an item, works `per_item` on it, pulls the next,
// until `budget` of loop time has passed; then it closes the stream.
awaitable<std::vector<std::string>> read_slowly(stream s, duration per_item,
                                                duration budget) {
  auto until = tut::now() + budget;
  std::vector<std::string> out;
  while (tut::now() < until) {
    auto item = co_await s.async_resume(use_awaitable);
    if (!item) break;
    out.push_back(std::move(*item));
    co_await tut::sleep(per_item);
  }
  co_return out;
}

// Reads everything, noting when each item came: "left 1.2 at 100 ms".
awaitable<std::vector<std::string>> read_timed(stream s) {
  std::vector<std::string> out;
  auto start = tut::now();
  while (auto item = co_await s.async_resume(use_awaitable))
    out.push_back(fmt::format(
        "{} at {}", *item, secs(tut::seconds(tut::now() - start).count())));
  co_return out;
}

// Takes `n` items with `collect` (the row "collect"), then lingers 1 s: what
// the streams still do after their consumer has gone shows on the
// timeline.
awaitable<std::vector<std::string>> take_then_linger(collect_fn collect,
                                                     stream s, std::size_t n) {
  auto items = co_await tut::traced("collect", collect(std::move(s), n));
  co_await tut::sleep(1s);
  co_return items;
}

// ---- Cancelled while they wait ---------------------------------------------

struct cancelled_read {
  grade::outcome<grade::cancelled_run<std::vector<std::string>>> run;
};

cancelled_read cancelled(const std::vector<api_config>& cfgs, read_fn read,
                         duration after) {
  world w;
  cancelled_read o;
  o.run = grade::run(
      [&]() -> awaitable<grade::cancelled_run<std::vector<std::string>>> {
        auto ex = co_await asio::this_coro::executor;
        for (const auto& c : cfgs)
          w.apis.push_back(std::make_shared<upstream::fake_api>(ex, c));
        co_return co_await grade::cancel_after(
            tut::traced("consumer", read(ex, w)), after);
      });
  return o;
}

// `read` cancelled through a bound signal `after` in, while a fetch is under
// way (as a task group or a timeout cancels it): it must end with
// operation_aborted at that moment, like the reference, and no fetch may
// run on past it.
void expect_cancelled_read(std::string_view what,
                           const std::vector<api_config>& cfgs,
                           read_fn yours_read, read_fn reference_read,
                           duration after) {
  auto actual = cancelled(cfgs, std::move(yours_read), after);
  auto expected = cancelled(cfgs, std::move(reference_read), after);
  grade::reference_runs(expected.run);
  const auto& e = *expected.run.value;
  auto at = secs(tut::seconds(after).count());
  auto late = ran_on(actual.run.trace, tut::seconds(after).count());
  GRADE(late.empty(),
        fmt::format("{} was cancelled at {}, and then {}: what a cancelled "
                    "stream has under way is cancelled with it",
                    what, at, fmt::join(late, ", ")),
        actual.run, expected.run);
  if (!actual.run.value)
    FAIL(grade::explain(
        stalled(actual.run, fmt::format("{}, cancelled at {},", what, at)),
        actual.run.trace, expected.run.trace));
  const auto& a = *actual.run.value;
  GRADE(a.aborted && a.ended_at == e.ended_at,
        fmt::format("{} was cancelled at {} while it waited, and {}; "
                    "cancelled, it should end with operation_aborted at {}",
                    what, at, grade::how_and_when(a),
                    secs(e.ended_at.count())),
        actual.run, expected.run);
}

// A task's read, made with your function or the reference's: `make(f,
// limit)` reads up to `limit` items with `f` in it.
template <typename Fn>
struct read_with {
  read_fn (*make)(Fn, std::size_t);
  Fn yours, reference;

  // The read through both sides.
  compared operator()(const std::vector<api_config>& cfgs,
                      std::size_t limit) const {
    return both(cfgs, make(yours, limit), make(reference, limit));
  }

  // Another read through both sides: `read(f, ex, w)`.
  template <typename Read>
  compared reading(const std::vector<api_config>& cfgs, Read read) const {
    auto with = [read](Fn f) -> read_fn {
      return [read, f](asio::any_io_executor ex, world& w) {
        return read(f, ex, w);
      };
    };
    return both(cfgs, with(yours), with(reference));
  }

  // The read of up to 100 items, cancelled 150 ms in: expect_cancelled_read.
  void expect_cancelled(std::string_view what,
                        const std::vector<api_config>& cfgs) const {
    expect_cancelled_read(what, cfgs, make(yours, 100), make(reference, 100),
                          150ms);
  }
};

}  // namespace

// ===========================================================================
// Task 1: async for
// ===========================================================================

namespace {

const std::vector<api_config> three_pages{pages_of("api", 3, 3, 100ms)};

read_fn collect_pages(collect_fn collect, std::size_t limit) {
  return [collect, limit](asio::any_io_executor ex, world& w) {
    return collect(reference::paginated(ex, w[0]), limit);
  };
}

const read_with<collect_fn> collected{collect_pages, yours::collect,
                                      reference::collect};

}  // namespace

TEST_CASE("collect gives every item of every page, in the order they came",
          "[lesson13][task1]") {
  expect_same_read(collected(three_pages, 100),
                   "collect(stream, 100) over 3 pages of 3 items", {same_items});
}

TEST_CASE("collect stops pulling at its limit: 4 items of pages of 3 fetch "
          "pages 1 and 2, never 3",
          "[lesson13][task1]") {
  expect_same_read(collected(three_pages, 4),
                   "collect(stream, 4) over 3 pages of 3 items",
                   {same_requests("4 items need"), same_items});
}

TEST_CASE("collect with a limit of 0 pulls nothing: no page is fetched",
          "[lesson13][task1]") {
  expect_same_read(collected(three_pages, 0), "collect(stream, 0)",
                   {same_items, same_requests("0 items need")});
}

TEST_CASE("an error from the stream comes out of collect, not the items "
          "before it",
          "[lesson13][task1]") {
  auto cfgs = three_pages;
  cfgs[0].failing_page = 2;
  auto c = collected(cfgs, 100);
  expect_same_ending(c, "collect(stream, 100) over 3 pages, page 2 failing");
}

TEST_CASE("collect cancelled while page 2 is fetched ends with "
          "operation_aborted, and the fetch is cancelled",
          "[lesson13][task1]") {
  collected.expect_cancelled("collect(stream, 100)", three_pages);
}

// ===========================================================================
// Task 2: an async generator
// ===========================================================================

namespace {

read_fn pages_collected(paginated_fn paginated, std::size_t limit) {
  return [paginated, limit](asio::any_io_executor ex, world& w) {
    return reference::collect(paginated(ex, w[0]), limit);
  };
}

const read_with<paginated_fn> paged{pages_collected, yours::paginated,
                                    reference::paginated};

}  // namespace

TEST_CASE("the stream gives every item of every page, in order, and ends "
          "after the last page",
          "[lesson13][task2]") {
  expect_same_read(paged(three_pages, 100),
                   "your stream over 3 pages of 3 items, read to its end,",
                   {same_items, same_requests("reading it all asks for")});
}

TEST_CASE("the stream follows each page's next: pages 1, 4 and 7",
          "[lesson13][task2]") {
  auto cfgs = three_pages;
  cfgs[0].step = 3;
  expect_same_read(
      paged(cfgs, 100), "your stream over an API whose pages are 1, 4 and 7",
      {same_items, same_requests("following each page's next asks for")});
}

TEST_CASE("an empty page gives no item, and the stream goes on past it",
          "[lesson13][task2]") {
  std::vector<api_config> cfgs{pages_of("api", 4, 2, 100ms)};
  cfgs[0].empty_page = 2;
  expect_same_read(paged(cfgs, 100),
                   "your stream over 4 pages of 2 items, page 2 empty,",
                   {same_items, same_requests("expected")});
}

TEST_CASE("a page is fetched only when its first item is asked for",
          "[lesson13][task2]") {
  for (std::size_t limit : {std::size_t{1}, std::size_t{3}, std::size_t{4}}) {
    expect_same_read(
        paged(three_pages, limit),
        fmt::format("collect(your stream, {}) over 3 pages of 3 items", limit),
        {same_requests(fmt::format("{} item{}", limit,
                                   limit == 1 ? " needs" : "s need")),
         same_items});
  }
}

TEST_CASE("a slow consumer means fewer requests: 250 ms per item for 1 s "
          "asks for 2 pages, not 10",
          "[lesson13][task2]") {
  std::vector<api_config> cfgs{pages_of("api", 10, 2, 100ms)};
  auto c = paged.reading(
      cfgs, [](paginated_fn paginated, asio::any_io_executor ex, world& w) {
        return read_slowly(paginated(ex, w[0]), 250ms, 1s);
      });
  expect_same_read(
      c, "a consumer taking 250 ms per item, for 1 s, over your stream",
      {same_requests("one item at a time needs"), same_items});
}

TEST_CASE("a page that fails ends the stream with its error, after the "
          "items before it",
          "[lesson13][task2]") {
  auto cfgs = three_pages;
  cfgs[0].failing_page = 2;
  expect_same_read(paged(cfgs, 100),
                   "collect(your stream, 100) over 3 pages, page 2 failing",
                   {same_requests("expected")});
}

TEST_CASE("the stream cancelled while it fetches page 2: the fetch is "
          "cancelled, and the consumer gets operation_aborted",
          "[lesson13][task2]") {
  paged.expect_cancelled("collect over your stream", three_pages);
}

// ===========================================================================
// Tasks 3 and 4: merging two streams
// ===========================================================================

namespace {

// Left: 3 pages of 2, 100 ms each. Right: 2 pages of 2, 250 ms each.
const std::vector<api_config> left_and_right{pages_of("left", 3, 2, 100ms),
                                             pages_of("right", 2, 2, 250ms)};

// The merge of the reference's streams over the two APIs.
stream merged(merge_fn merge, asio::any_io_executor ex, world& w) {
  return merge(ex, reference::paginated(ex, w[0]),
               reference::paginated(ex, w[1]));
}

read_fn merge_collected(merge_fn merge, std::size_t limit) {
  return [merge, limit](asio::any_io_executor ex, world& w) {
    return reference::collect(merged(merge, ex, w), limit);
  };
}

const read_with<merge_fn> merges{merge_collected, yours::merge,
                                 reference::merge};

}  // namespace

TEST_CASE("merge gives each item as soon as it is there, from either "
          "stream",
          "[lesson13][task3]") {
  auto c = merges.reading(
      left_and_right, [](merge_fn merge, asio::any_io_executor ex, world& w) {
        return read_timed(merged(merge, ex, w));
      });
  auto what = "your merge of left (a page of 2 every 100 ms) and right (every "
              "250 ms), read to its end,";
  expect_same_ending(c, what);
  const auto& mine = c.actual.value->items;
  const auto& theirs = c.expected.value->items;
  auto shown = [](const std::vector<std::string>& items) {
    std::vector<std::string> out;
    for (const auto& item : items) {
      auto at = item.rfind(" at ");
      out.push_back(short_name(item.substr(0, at)) + item.substr(at));
    }
    return fmt::format("[{}]", fmt::join(out, ", "));
  };
  GRADE(mine == theirs,
        fmt::format("{} gave the items in this order: {}; expected: {}",
                    what, shown(mine), shown(theirs)),
        c.actual, c.expected);
}

TEST_CASE("merge ends once both streams have ended, with every item of "
          "each; an empty stream merges too",
          "[lesson13][task3]") {
  {
    auto c = merges(left_and_right, 100);
    auto what = "collect(your merge of left and right, 100)";
    expect_same_ending(c, what);
    auto mine = c.actual.value->items, theirs = c.expected.value->items;
    std::sort(mine.begin(), mine.end());
    std::sort(theirs.begin(), theirs.end());
    GRADE(mine == theirs,
          fmt::format("{} gave {}; expected the 10 items of both streams, "
                      "{}",
                      what, show(c.actual.value->items),
                      show(c.expected.value->items)),
          c.actual, c.expected);
  }
  {
    auto cfgs = left_and_right;
    cfgs[1].pages = 1;
    cfgs[1].per_page = 0;
    expect_same_read(merges(cfgs, 100),
                     "collect(your merge of left and an empty stream, 100)",
                     {same_items});
  }
}

TEST_CASE("merge pulls at most one item of each stream ahead of a slow "
          "consumer",
          "[lesson13][task3]") {
  std::vector<api_config> cfgs{pages_of("left", 10, 2, 100ms),
                               pages_of("right", 10, 2, 100ms)};
  auto c = merges.reading(
      cfgs, [](merge_fn merge, asio::any_io_executor ex, world& w) {
        return read_slowly(merged(merge, ex, w), 300ms, 1s);
      });
  expect_same_read(
      c, "a consumer taking 300 ms per item, for 1 s, over your merge",
      {same_requests("one item ahead on each stream needs")});
}

TEST_CASE("a consumer that breaks out of a merge cancels the fetch each "
          "stream has under way; nothing runs on",
          "[lesson13][task4]") {
  auto c = merges.reading(
      left_and_right, [](merge_fn merge, asio::any_io_executor ex, world& w) {
        return take_then_linger(reference::collect, merged(merge, ex, w), 3);
      });
  auto what = "collect(your merge, 3), then 1 s more,";
  // What ran on after the consumer left is the first thing to say, even
  // when the run then stalled (streams left waiting for a consumer).
  auto left_at = ended_at(c.actual.trace, "collect");
  auto late = ran_on(c.actual.trace, left_at);
  GRADE(late.empty(),
        fmt::format("the consumer took 3 items and closed your merge at {}; "
                    "then {}. Closing a stream cancels what it has under way",
                    secs(left_at), fmt::join(late, ", ")),
        c.actual, c.expected);
  expect_same_read(c, what, {same_items});
}

TEST_CASE("a merge cancelled while it waits ends with operation_aborted, and "
          "both streams' fetches are cancelled",
          "[lesson13][task4]") {
  merges.expect_cancelled("collect over your merge", left_and_right);
}

TEST_CASE("a stream that fails ends the merge with its error at once, and "
          "the other stream's fetch is cancelled",
          "[lesson13][task4]") {
  auto cfgs = left_and_right;
  cfgs[0].failing_page = 2;  // at 200 ms, while right fetches its page 1
  auto c = merges(cfgs, 100);
  auto what = "collect(your merge, 100), left's page 2 failing,";
  auto failed_at = ended_at(c.expected.trace, "consumer");
  auto late = ran_on(c.actual.trace, failed_at);
  GRADE(late.empty(),
        fmt::format("left's page 2 failed at {}, and then {}: the merge ends "
                    "with the error, and what the other stream has under "
                    "way is cancelled",
                    secs(failed_at), fmt::join(late, ", ")),
        c.actual, c.expected);
  expect_same_read(c, what, {same_items});
}

// ===========================================================================
// Tasks 5 and 6: a streaming response, on the server
// ===========================================================================

namespace {

using harness::ending;
using run_t = harness::server_run<upstream::feed_stats>;
using serve_fn = awaitable<void> (*)(upstream::feed_config,
                                     upstream::feed_stats&);

upstream::feed_config feed(api_config api) {
  upstream::feed_config cfg;
  cfg.server.idle_timeout = 2s;
  cfg.server.max_connections = 64;
  cfg.api = std::move(api);
  return cfg;
}

run_t::serve_fn serving(serve_fn serve, upstream::feed_config cfg) {
  return [serve, cfg](upstream::feed_stats& s) { return serve(cfg, s); };
}

// Starts `serve` and waits for it to listen; fails the test if it does not.
#define START(name, serve, cfg)                                           \
  run_t name(serving(serve, cfg));                                        \
  if (!name.listening())                                                  \
    FAIL("the server did not start listening within 3 s" +                \
         (name.error().empty() ? std::string()                            \
                               : ": serve() threw " + name.error()));

events::event_log refused() {
  events::event_log log;
  log.end = ending::refused;
  return log;
}

// One GET /items, read by an event client, until it ends, `leave` says to
// go, or `limit` passes.
grade::outcome<events::event_log> read_feed(
    unsigned short port, const upstream::api_counters& seen, duration limit,
    events::leave_after leave = {}) {
  return grade::run_real([&]() -> awaitable<events::event_log> {
    events::reader r(co_await asio::this_coro::executor, &seen);
    if (!co_await r.start(port, harness::get("/items")))
      co_return refused();
    co_return co_await tut::traced("GET /items", r.read(limit, leave));
  });
}

// "200 text/event-stream, chunked": the head as a client saw it.
std::string head_of(const events::event_log& log) {
  if (log.status == 0) return harness::to_string(log.end);
  return fmt::format(
      "{} {}{}{}", log.status,
      log.content_type.empty() ? "(no Content-Type)" : log.content_type,
      log.transfer_encoding.empty() ? "" : ", " + log.transfer_encoding,
      log.body.empty() ? "" : ": " + log.body.substr(0, 80));
}

// Fails unless `log` began as an event stream does.
void expect_event_stream(const events::event_log& log) {
  if (log.status != 200 || log.content_type != "text/event-stream" ||
      log.transfer_encoding != "chunked")
    FAIL(fmt::format("GET /items got {}; expected 200 text/event-stream, "
                     "chunked (ctx.send_head sends such a head)",
                     head_of(log)));
}

// What a client read of GET /items, and the timeline of the read.
struct feed_read {
  events::event_log log;
  tut::trace trace;
};

// GET /items from your server serving `cfg`, read for 3 s at most; fails
// unless the server started and the reply began as an event stream.
feed_read items_from(const upstream::feed_config& cfg) {
  START(server, yours::serve, cfg);
  auto out = read_feed(server.port(), server.stats().api, 3s);
  REQUIRE(out.value);
  expect_event_stream(*out.value);
  return {std::move(*out.value), std::move(out.trace)};
}

std::string counts(const upstream::api_counters& c) {
  return fmt::format("{} fetches begun, {} completed, {} cancelled, {} under "
                     "way",
                     c.started.load(), c.completed.load(), c.cancelled.load(),
                     c.in_flight.load());
}

}  // namespace

TEST_CASE("GET /items sends every item as an event, in order: "
          "text/event-stream, in chunks",
          "[lesson13][task5]") {
  auto cfg = feed(pages_of("api", 3, 2, 30ms));
  auto [log, trace] = items_from(cfg);
  auto want = upstream::all_items(cfg.api);
  if (log.items != want || log.end != ending::reply)
    FAIL(fmt::format("GET /items sent the events {}{}; expected {}, then the "
                     "end of the stream{}\n\n{}",
                     show(log.items),
                     log.end == ending::reply
                         ? ""
                         : fmt::format(", then {}",
                                       log.malformed.empty()
                                           ? harness::to_string(log.end)
                                           : log.malformed),
                     show(want),
                     log.end == ending::timed_out
                         ? " (the test waited 3 s for it)"
                         : "",
                     tut::render_timeline(trace)));
}

TEST_CASE("the first event goes out as soon as page 1 is there, before the "
          "last page is fetched",
          "[lesson13][task5]") {
  auto cfg = feed(pages_of("api", 4, 2, 100ms));
  auto [log, trace] = items_from(cfg);
  if (log.items.empty())
    FAIL(fmt::format("GET /items sent no event ({}); expected 8, the first "
                     "when page 1 had been fetched\n\n{}",
                     harness::to_string(log.end),
                     tut::render_timeline(trace)));
  if (log.pages_done.front() >= cfg.api.pages)
    FAIL(fmt::format(
        "your first event came when the API had served {} of its {} pages: "
        "every event waited for the last page. Each should go out as soon "
        "as its item is there (the reference's first came after page 1)\n\n{}",
        log.pages_done.front(), cfg.api.pages,
        tut::render_timeline(trace)));
}

namespace {

// A client that sends GET /items and then reads nothing, with a small
// receive buffer; once the stream's fetches have stopped (150 ms without
// one, 2 s at most), GET / from another client.
struct stalled_out {
  bool connected = false;
  int started = 0;       // fetches begun once the stream had stalled
  bool settled = false;  // they had stopped
  harness::exchange_result hello;
  double worst_lag_ms = 0;
};

// 64 pages of 256 KiB (16 MiB in all): a client's socket buffers take a
// few MiB before the server's writes to it have to wait.
upstream::feed_config big_pages() {
  auto api = pages_of("api", 64, 16, 1ms);
  api.item_bytes = 16 * 1024;
  api.traced = false;
  return feed(api);
}

stalled_out stalled_client(serve_fn serve) {
  stalled_out o;
  run_t server(serving(serve, big_pages()));
  if (!server.listening()) return o;
  const auto& seen = server.stats().api;
  auto port = server.port();
  auto out = grade::run_real([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::socket slow(ex);
    slow.open(asio::ip::tcp::v4());
    slow.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
    auto [ec] = co_await slow.async_connect(
        {asio::ip::make_address("127.0.0.1"), port},
        asio::experimental::as_tuple(use_awaitable));
    if (ec) co_return;
    o.connected = true;
    auto request = harness::get("/items");
    co_await asio::async_write(slow, asio::buffer(request), use_awaitable);
    int last = -1;
    auto quiet_since = tut::now();
    for (auto until = tut::now() + 2s; tut::now() < until;) {
      co_await tut::sleep(10ms);
      int now = seen.started;
      if (now != last) {
        last = now;
        quiet_since = tut::now();
      } else if (tut::now() - quiet_since >= 150ms) {
        // Settled: fetches began and stopped, or none began and a reply
        // is already there (a route that does not stream).
        asio::error_code ignored;
        if (now > 0 || slow.available(ignored) > 0) {
          o.settled = true;
          break;
        }
      }
    }
    o.started = seen.started;
    o.hello = co_await tut::traced(
        "GET / meanwhile", harness::exchange(port, harness::get("/"), 1s));
    asio::error_code ignored;
    slow.set_option(asio::socket_base::linger(true, 0), ignored);
    slow.close(ignored);
  });
  o.worst_lag_ms = harness::ms(server.worst_lag());
  return o;
}

}  // namespace

TEST_CASE("a client that reads nothing holds back only its own stream: its "
          "fetches stop, and GET / is answered meanwhile",
          "[lesson13][task5]") {
  auto mine = stalled_client(yours::serve);
  auto theirs = stalled_client(reference::serve);
  if (!theirs.connected || theirs.started >= 32)
    FAIL(fmt::format("the reference's stream fetched {} pages for a client "
                     "that read nothing: this machine's socket buffers are "
                     "too large for the test",
                     theirs.started));
  if (!mine.connected) FAIL("the test's client could not connect to your server");
  int pages = big_pages().api.pages;
  if (mine.started >= pages / 2)
    FAIL(fmt::format(
        "a client that read nothing had your stream fetch {} of the {} pages "
        "(256 KiB each){}: it went on producing while the client took "
        "nothing. The reference's fetched {}, what the socket buffers took "
        "before its writes had to wait",
        mine.started, pages, mine.settled ? "" : ", and still fetching 2 s on",
        theirs.started));
  if (mine.hello.end != ending::reply || mine.hello.answer.status != 200)
    FAIL(fmt::format("while a client read nothing of its stream, GET / got "
                     "{}; expected 200 at once (the server's loop was held "
                     "for {:.0f} ms at worst)",
                     harness::describe(mine.hello), mine.worst_lag_ms));
}

namespace {

// serve() on the test's loop, cancelled through a bound signal 300 ms in,
// while a client's stream waits for a fetch of 1 s.
struct cancel_outcome {
  grade::outcome<grade::cancelled_run<grade::nothing>> run;
  events::event_log client;
  int started = -1, completed = -1, cancelled = -1;
};

awaitable<void> reader_of(upstream::feed_stats& stats,
                          events::event_log& log) {
  co_await harness::eventually([&] { return stats.port != 0; }, 1s);
  events::reader r(co_await asio::this_coro::executor, &stats.api);
  if (co_await r.start(stats.port, harness::get("/items")))
    log = co_await r.read(3s);
}

cancel_outcome cancelled_server(serve_fn serve) {
  cancel_outcome o;
  upstream::feed_stats stats;
  auto cfg = feed(pages_of("api", 3, 2, 1s));
  o.run = grade::run_real(
      [&]() -> awaitable<grade::cancelled_run<grade::nothing>> {
        auto ex = co_await asio::this_coro::executor;
        co_spawn(ex, tut::traced("GET /items", reader_of(stats, o.client)),
                 detached);
        // A serve() that does not end is given up on after 2 s.
        auto r = co_await harness::cancel_serve(serve, cfg, stats, 300ms, 2s);
        o.started = stats.api.started;
        o.completed = stats.api.completed;
        o.cancelled = stats.api.cancelled;
        if (!r.ended()) harness::stop_loop(ex);
        co_return r;
      });
  return o;
}

}  // namespace

TEST_CASE("serve() cancelled while a stream waits for a fetch: the fetch is "
          "cancelled, and serve() ends with operation_aborted",
          "[lesson13][task5]") {
  auto [actual, expected] = BOTH_SIDES_ON_DEMAND(cancelled_server, serve);
  grade::expect_no_exception(actual, expected, "the scenario");
  const auto& a = *actual.run.value;
  GRADE(a.aborted,
        fmt::format("serve(), cancelled 300 ms in while a client's stream "
                    "waited for page 1 (a fetch of 1 s), {}; expected "
                    "operation_aborted once its connections had ended",
                    harness::ended_as(a)),
        actual.run, expected->run);
  GRADE(actual.completed == 0 && actual.cancelled == 1,
        fmt::format("when serve() ended, its API had seen {} fetch{} begun, "
                    "{} completed and {} cancelled; expected the one under "
                    "way cancelled",
                    actual.started, actual.started == 1 ? "" : "es",
                    actual.completed, actual.cancelled),
        actual.run, expected->run);
}

// ===========================================================================
// Task 6: a client that goes away
// ===========================================================================

namespace {

// A client reads one event of GET /items, then closes its connection (or
// resets it); a process each, so that the two waits overlap.
void client_leaves_mid_stream(bool reset) {
  auto cfg = feed(pages_of("api", 5, 2, 100ms));
  START(server, yours::serve, cfg);
  const auto& seen = server.stats().api;
  auto how = reset ? "reset its connection" : "closed its connection";
  int completed_at_close = -1;
  auto out = grade::run_real([&]() -> awaitable<events::event_log> {
    events::reader r(co_await asio::this_coro::executor, &seen);
    if (!co_await r.start(server.port(), harness::get("/items")))
      co_return refused();
    auto log = co_await tut::traced("GET /items, leaving after 1 event",
                                    r.read(2s, {1, reset}));
    completed_at_close = seen.completed;
    // Long enough for a fetch begun at the close (100 ms) to complete,
    // twice over.
    co_await tut::sleep(200ms);
    co_return log;
  });
  REQUIRE(out.value);
  const auto& log = *out.value;
  expect_event_stream(log);
  if (log.items.empty())
    FAIL(fmt::format("GET /items sent no event ({}) within 2 s",
                     harness::to_string(log.end)));
  if (seen.completed != completed_at_close || seen.in_flight != 0)
    FAIL(fmt::format(
        "the client {} after its first event, when {} page{} been "
        "fetched; 200 ms later the API had seen {}. A stream for a client "
        "that has gone should stop at once: the fetch it waits for, "
        "cancelled\n\n{}",
        how, completed_at_close, completed_at_close == 1 ? " had" : "s had",
        counts(seen), tut::render_timeline(out.trace)));
}

}  // namespace

TEST_CASE("a client that leaves mid-stream (closing its connection) stops it "
          "at once: the fetch under way is cancelled, and no other completes",
          "[lesson13][task6]") {
  client_leaves_mid_stream(false);
}

TEST_CASE("a client that leaves mid-stream (resetting its connection) stops "
          "it at once: the fetch under way is cancelled, and no other completes",
          "[lesson13][task6]") {
  client_leaves_mid_stream(true);
}
