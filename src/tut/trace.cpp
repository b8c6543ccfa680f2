#include "tut/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

namespace tut {
namespace {

struct recorder {
  std::mutex mutex;
  clock::time_point origin = clock::now();
  trace current;
  std::size_t running = 0;
  bool in_run = false;
  int runs = 0;  // tut::run calls that have ended, in this process
};

recorder& rec() {
  static recorder r;
  return r;
}

// Where each run's trace goes as JSON, if anywhere ($TUT_TRACE_DIR).
const char* trace_dir() {
  const char* dir = std::getenv("TUT_TRACE_DIR");
  return dir && *dir ? dir : nullptr;
}

seconds since_origin(const recorder& r) {
  return std::chrono::duration_cast<seconds>(clock::now() - r.origin);
}

}  // namespace

const char* to_string(outcome o) noexcept {
  switch (o) {
    case outcome::running: return "running";
    case outcome::done: return "done";
    case outcome::failed: return "failed";
    case outcome::cancelled: return "cancelled";
  }
  return "?";
}

const task_record* trace::find(std::string_view name) const& {
  for (const auto& t : tasks)
    if (t.name == name) return &t;
  return nullptr;
}

std::size_t trace::peak_of(std::string_view prefix) const {
  // Sweep over starts and ends; at equal times ends come first, which is
  // also the order the loop ran them in (a slot is freed, then reused).
  std::vector<std::pair<double, int>> edges;
  for (const auto& t : tasks) {
    if (!t.name.starts_with(prefix)) continue;
    edges.emplace_back(t.start.count(), +1);
    edges.emplace_back(t.end ? t.end->count() : elapsed.count() + 1, -1);
  }
  std::sort(edges.begin(), edges.end());
  std::size_t now = 0, best = 0;
  for (auto [at, step] : edges) {
    now += step;
    best = std::max(best, now);
  }
  return best;
}

std::vector<const task_record*> trace::unfinished() const& {
  std::vector<const task_record*> out;
  for (const auto& t : tasks)
    if (!t.end) out.push_back(&t);
  return out;
}

std::size_t trace::unfinished_count() const {
  return static_cast<std::size_t>(
      std::count_if(tasks.begin(), tasks.end(), [](const auto& t) { return !t.end; }));
}

seconds trace::longest_block() const {
  seconds best{0};
  for (const auto& b : blocks) best = std::max(best, b.duration);
  return best;
}

trace current_trace() {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  trace copy = r.current;
  if (r.in_run) copy.elapsed = since_origin(r);
  return copy;
}

void note(std::string_view task, std::string what) {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  auto at = since_origin(r);
  // The latest task of that name gets the event.
  for (auto it = r.current.tasks.rbegin(); it != r.current.tasks.rend(); ++it) {
    if (it->name == task) {
      it->events.push_back({at, std::move(what)});
      return;
    }
  }
  r.current.tasks.push_back({std::string(task), at, at, outcome::done, {},
                             {{at, std::move(what)}}});
}

namespace detail {

std::size_t task_begin(std::string name) {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  r.current.tasks.push_back({std::move(name), since_origin(r), {}, 
                             outcome::running, {}, {}});
  r.running++;
  r.current.peak = std::max(r.current.peak, r.running);
  return r.current.tasks.size() - 1;
}

void task_end(std::size_t id, outcome o, std::string error) {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  // A task from a run that has since been replaced: nothing to update.
  if (id >= r.current.tasks.size() || r.current.tasks[id].end) return;
  auto& t = r.current.tasks[id];
  t.end = since_origin(r);
  t.result = o;
  t.error = std::move(error);
  r.running--;
}

void note_polled() {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  ++r.current.polls;
}

void note_blocked(clock::duration d) {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  auto dur = std::chrono::duration_cast<seconds>(d);
  r.current.blocks.push_back({since_origin(r) - dur, dur});
}

void begin_run() {
  auto& r = rec();
  std::lock_guard lock(r.mutex);
  r.current = trace{};
  r.running = 0;
  r.origin = clock::now();
  r.in_run = true;
}

void end_run() {
  auto& r = rec();
  std::string json;
  int run_number = 0;
  {
    std::lock_guard lock(r.mutex);
    r.current.elapsed = since_origin(r);
    r.in_run = false;
    run_number = ++r.runs;
    if (trace_dir()) json = to_json(r.current);
  }
  // For the docs: with TUT_TRACE_DIR set, each run of the process leaves
  // its trace in $TUT_TRACE_DIR/run-<k>.json (k = 1, 2, ... in order).
  if (const char* dir = trace_dir()) {
    auto path = fmt::format("{}/run-{}.json", dir, run_number);
    if (std::FILE* f = std::fopen(path.c_str(), "w")) {
      std::fputs(json.c_str(), f);
      std::fputs("\n", f);
      std::fclose(f);
    }
  }
}

}  // namespace detail

namespace {

// A "nice" step (1, 2 or 5 times a power of ten) giving at most ~6 ticks.
double tick_step(double span) {
  double raw = span / 6;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string format_seconds(double s) {
  if (s == 0) return "0s";
  if (s < 1) return fmt::format("{:g}ms", std::round(s * 1e4) / 10);
  return fmt::format("{:g}s", std::round(s * 1e3) / 1e3);
}

// When the task ended, and (when it did not start at 0) how long it ran:
// "ended 6s · ran 3s" for a wait of 3 s that started at 3 s.
std::string describe_end(const task_record& t) {
  if (t.result == outcome::running || !t.end) return "still running";
  double end = t.end->count();
  double ran = (*t.end - t.start).count();
  std::string when = format_seconds(end);
  // A row that started at (about) 0 ran as long as it took to end.
  if (t.start.count() > 0.02 * end) when += " \u00b7 ran " + format_seconds(ran);
  switch (t.result) {
    case outcome::done: return "ended " + when;
    case outcome::failed: return fmt::format("failed {}: {}", when, t.error);
    case outcome::cancelled: return "cancelled " + when;
    case outcome::running: break;
  }
  return {};
}

// The most tasks running at one moment, and which they were (the first
// such moment), so that the count can be checked against the rows.
std::pair<std::size_t, std::vector<std::string>> peak_tasks(const trace& t) {
  struct edge {
    double at;
    int step;
    std::size_t task;
  };
  std::vector<edge> edges;
  for (std::size_t i = 0; i < t.tasks.size(); ++i) {
    const auto& task = t.tasks[i];
    if (task.end && *task.end == task.start) continue;  // a mark, not a run
    edges.push_back({task.start.count(), +1, i});
    edges.push_back({task.end ? task.end->count() : t.elapsed.count() + 1, -1, i});
  }
  // At equal times ends come first: a slot freed, then reused.
  std::sort(edges.begin(), edges.end(), [](const edge& a, const edge& b) {
    return a.at != b.at ? a.at < b.at : a.step < b.step;
  });
  std::vector<bool> running(t.tasks.size(), false);
  std::size_t now = 0, best = 0;
  std::vector<std::string> names;
  for (const auto& e : edges) {
    running[e.task] = e.step > 0;
    now += e.step;
    if (now > best) {
      best = now;
      names.clear();
      for (std::size_t i = 0; i < running.size(); ++i)
        if (running[i]) names.push_back(t.tasks[i].name);
    }
  }
  return {best, names};
}

// UTF-8 cells: each column is one glyph.
constexpr const char* glyph_done = "\u2588";       // █
constexpr const char* glyph_failed = "\u2593";     // ▓
constexpr const char* glyph_cancelled = "\u2591";  // ░
constexpr const char* glyph_running = "\u2592";    // ▒
constexpr const char* glyph_event = "\u25c6";      // ◆

}  // namespace

std::string render_timeline(const trace& t, const timeline_options& o) {
  const int width = std::max(o.width, 10);
  double span = o.span ? o.span->count() : t.elapsed.count();
  for (const auto& task : t.tasks)
    span = std::max(span, (task.end ? *task.end : task.start).count());
  if (span <= 0) span = 1e-3;
  auto col = [&](double at) {
    return std::clamp(static_cast<int>(std::lround(at / span * width)), 0,
                      width);
  };

  std::size_t name_width = std::max<std::size_t>(4, o.name_width);
  if (!t.blocks.empty()) name_width = std::max<std::size_t>(name_width, 12);
  for (const auto& task : t.tasks)
    name_width = std::max(name_width, std::min<std::size_t>(task.name.size(), 24));

  std::string out;
  if (!o.title.empty()) out += o.title + "\n";

  // Axis labels and ruler.
  double step = tick_step(span);
  std::string labels(name_width + 1, ' ');
  std::string ruler(name_width + 1, ' ');
  std::vector<std::string> ruler_cells(width + 1, "\u2500");  // ─
  std::size_t label_col = 0;
  for (double at = 0; at <= span * 1.0001; at += step) {
    int c = col(at);
    ruler_cells[c] = "\u253c";  // ┼
    auto text = format_seconds(at);
    if (c >= static_cast<int>(label_col)) {
      labels.append(c - label_col, ' ');
      labels += text;
      label_col = c + text.size();
    }
  }
  for (auto& cell : ruler_cells) ruler += cell;
  out += labels + "\n" + ruler + "\n";

  for (const auto& task : t.tasks) {
    std::string name = task.name.substr(0, 24);
    std::string row = name + std::string(name_width - name.size() + 1, ' ');
    int from = col(task.start.count());
    double end_at = task.end ? task.end->count() : span;
    int to = std::max(col(end_at), from + 1);
    const char* fill = task.result == outcome::done        ? glyph_done
                       : task.result == outcome::failed    ? glyph_failed
                       : task.result == outcome::cancelled ? glyph_cancelled
                                                           : glyph_running;
    std::vector<std::string> cells(width + 1, " ");
    for (int c = from; c < to && c <= width; ++c) cells[c] = fill;
    for (const auto& e : task.events) cells[std::min(col(e.at.count()), width)] = glyph_event;
    // Trim trailing blanks so the description sits right after the bar.
    int last = width;
    while (last > 0 && cells[last] == " ") --last;
    for (int c = 0; c <= last; ++c) row += cells[c];
    row += std::string(width - last + 1, ' ');
    row += describe_end(task);
    for (const auto& e : task.events)
      row += fmt::format(" \u25c6 {} at {}", e.what, format_seconds(e.at.count()));
    out += row + "\n";
  }
  if (!t.blocks.empty()) {
    // Where the loop's thread was held and nothing else could run.
    std::string label = "loop blocked";
    std::string row = label.substr(0, name_width) +
                      std::string(name_width - std::min(name_width, label.size()) + 1, ' ');
    std::vector<std::string> cells(width + 1, " ");
    for (const auto& b : t.blocks) {
      int from = col(b.at.count());
      int to = std::max(col((b.at + b.duration).count()), from + 1);
      for (int c = from; c < to && c <= width; ++c) cells[c] = "!";
    }
    int last = width;
    while (last > 0 && cells[last] == " ") --last;
    for (int c = 0; c <= last; ++c) row += cells[c];
    out += row + "\n";
  }
  auto [peak, at_peak] = peak_tasks(t);
  out += fmt::format("{:>{}}  total {}", "", name_width - 1, format_seconds(t.elapsed.count()));
  if (peak > 1) {
    std::string names;
    for (std::size_t i = 0; i < at_peak.size() && i < 4; ++i)
      names += (i ? ", " : "") + at_peak[i];
    if (at_peak.size() > 4) names += ", ...";
    out += fmt::format(" \u00b7 at most {} rows at once ({})", peak, names);
  }
  if (t.polls)
    out += fmt::format(" \u00b7 polled: the clock moved on {} time{} while tasks only "
                       "yielded", t.polls, t.polls == 1 ? "" : "s");
  if (!t.blocks.empty())
    out += fmt::format(" \u00b7 loop blocked {} time{} (longest {})", t.blocks.size(),
                       t.blocks.size() == 1 ? "" : "s",
                       format_seconds(t.longest_block().count()));
  out += "\n";
  return out;
}

namespace {
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20) out += fmt::format("\\u{:04x}", ch);
        else out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}
}  // namespace

std::string to_json(const trace& t) {
  std::string out = "{\"elapsed\":" + fmt::format("{}", t.elapsed.count());
  out += fmt::format(",\"peak\":{},\"tasks\":[", t.peak);
  for (std::size_t i = 0; i < t.tasks.size(); ++i) {
    const auto& task = t.tasks[i];
    if (i) out += ",";
    out += "{\"name\":" + json_string(task.name);
    out += fmt::format(",\"start\":{}", task.start.count());
    out += task.end ? fmt::format(",\"end\":{}", task.end->count()) : ",\"end\":null";
    out += ",\"outcome\":" + json_string(to_string(task.result));
    if (!task.error.empty()) out += ",\"error\":" + json_string(task.error);
    out += ",\"events\":[";
    for (std::size_t j = 0; j < task.events.size(); ++j) {
      if (j) out += ",";
      out += fmt::format("{{\"at\":{},\"what\":{}}}", task.events[j].at.count(),
                         json_string(task.events[j].what));
    }
    out += "]}";
  }
  out += "],\"blocks\":[";
  for (std::size_t i = 0; i < t.blocks.size(); ++i) {
    if (i) out += ",";
    out += fmt::format("{{\"at\":{},\"duration\":{}}}", t.blocks[i].at.count(),
                       t.blocks[i].duration.count());
  }
  return out + "]}";
}

}  // namespace tut
