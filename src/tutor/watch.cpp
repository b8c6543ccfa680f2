#include "watch.hpp"

#include "build.hpp"
#include "commands.hpp"
#include "pager.hpp"
#include "process.hpp"
#include "watch_input.hpp"
#include "watch_screen.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tutor {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace std::chrono_literals;

std::string read_all(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && std::string_view(v) == "0";
}

void flush(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// Lesson 15's browser check starts headless Chromium, a second or more on
// these machines. In watch mode one Chromium is kept for every grading
// (tests/docs/browser.py, Browser.kept): its folder, and its end when the
// tutor quits. Left running (the tutor killed), it ends by itself once
// unused for ten minutes.
fs::path kept_browser(const project& p) { return p.build / "kept-browser"; }

void stop_kept_browser(const project& p) {
  auto pid_file = kept_browser(p) / "pid";
  std::ifstream in(pid_file);
  long pid = 0;
  if (in >> pid && pid > 1) ::kill(static_cast<pid_t>(pid), SIGTERM);
  std::error_code ignored;
  fs::remove(pid_file, ignored);
}

enum class mode {
  lesson,            // the lesson and its verdict
  list,              // picking a lesson
  confirm_reset,     // "Reset exercise.cpp ...? [y/N]"
  confirm_solution,  // "Show the reference anyway? [y/N]"
  demo,              // the demo runs; its output is on the screen
  after_demo,        // it ended; a key goes back (or to the pager)
  page,              // a page of text (check all); a key goes back
};

class watch_app {
public:
  watch_app(course& c, term t, asio::any_io_executor ex)
      : c_(c), t_(t), ex_(ex), wake_grader_(ex, asio::steady_timer::time_point::max()),
        all_ended_(ex, asio::steady_timer::time_point::max()), keys_(ex), files_(ex) {
    lesson_ = c_.current();
    // No usable progress file: grade from the first lesson on and move
    // forward past every lesson that passes.
    rebuilding_ = c_.fresh();
    if (rebuilding_) lesson_ = 0;
  }

  awaitable<int> run() {
    raw_terminal raw;
    raw_ = &raw;
    flush("\x1b[2J");
    select(lesson_);
    spawn(saves());
    spawn(grader());
    spawn(resizes());
    co_await keys();
    quitting_ = true;
    stop_background_builds();
    kill_children();  // a build or test still running: stop it now
    if (demo_control_) demo_control_->stop(0ms);
    stop_kept_browser(c_.proj());
    files_.close();
    wake_grader_.cancel();
    if (resize_) resize_->cancel();
    // Every task of the app has ended before the app goes away.
    while (running_ > 0) co_await all_ended_.async_wait(as_tuple(use_awaitable));
    raw.restore();
    raw_ = nullptr;
    flush("\x1b[2J\x1b[H");
    fmt::print("Bye! Your progress is saved; `scripts/tutor` picks up where you left off.\n");
    co_return 0;
  }

private:
  const lesson& current() const { return c_.at(lesson_); }

  // Starts a task of the app; run() waits for all of them before it ends.
  void spawn(awaitable<void> task) {
    ++running_;
    asio::co_spawn(ex_, std::move(task), [this](std::exception_ptr) {
      if (--running_ == 0) all_ended_.cancel();
    });
  }

  // ---- What changes the screen --------------------------------------------------

  // Moves to lesson i: watch its directory, grade it.
  void select(std::size_t i) {
    lesson_ = i;
    verdict_.reset();
    hints_.clear();
    last_graded_.clear();
    sanitizer_note_.clear();
    c_.select(i);
    files_.watch(c_.proj().lesson_dir(current()), "exercise.cpp");
    request_grade();
  }

  void request_grade() {
    dirty_ = true;
    wake_grader_.cancel();
    draw();
  }

  // ---- The concurrent parts ---------------------------------------------------------

  awaitable<void> saves() {
    // (No co_await inside a loop's condition: g++ 12 miscompiles it.)
    for (;;) {
      bool saved = co_await files_.next_save(10ms, 80ms);
      if (!saved || quitting_) co_return;
      // Saving without a change (or a write in progress) changes nothing.
      if (read_all(c_.proj().exercise(current())) != last_graded_) request_grade();
    }
  }

  awaitable<void> resizes() {
    resize_.emplace(ex_, SIGWINCH);
    for (;;) {
      auto [ec, sig] = co_await resize_->async_wait(as_tuple(use_awaitable));
      if (ec || quitting_) co_return;
      update_size(t_);
      draw();
    }
  }

  awaitable<void> grader() {
    while (!quitting_) {
      if (!dirty_) {
        co_await wake_grader_.async_wait(as_tuple(use_awaitable));
        continue;
      }
      dirty_ = false;
      grading_ = true;
      ++generation_;  // a sanitizer pass still running is about older code
      sanitizing_ = false;
      draw();
      std::size_t graded = lesson_;
      auto source = read_all(c_.proj().exercise(current()));
      grade_options o;
      o.columns = t_.columns;
      if (!env_off("ASYNCLINGS_KEEP_BROWSER"))
        o.env["ASYNCLINGS_KEPT_BROWSER"] = kept_browser(c_.proj()).string();
      auto v = co_await grade_and_record(c_, graded, o);
      grading_ = false;
      if (quitting_) co_return;
      if (graded != lesson_) continue;  // moved on meanwhile: grade the new one
      last_graded_ = source;
      bool was_passed = verdict_ && verdict_->passed();
      just_passed_ = v.passed() && !was_passed;
      solution_diff_.clear();
      hints_.clear();  // a new verdict: the hints make room for it
      sanitizer_note_.clear();
      if (v.passed()) solution_diff_ = co_await c_.solution_diff(graded);
      if (rebuilding_ && v.passed() && lesson_ + 1 < c_.lessons().size()) {
        message_ = fmt::format("Lesson {} already passes; moving on.", current().number);
        select(lesson_ + 1);
        continue;
      }
      rebuilding_ = false;
      verdict_ = std::move(v);
      draw();
      start_background_build();
      // Beside the grader, not in its way: the next save is graded at once,
      // and this pass's result is dropped if it comes after that.
      if (verdict_->passed() && sanitizer_pass_on() && !dirty_)
        spawn(sanitize(graded, std::move(source), generation_));
    }
  }

  // After a pass: the same tests under AddressSanitizer and UBSan.
  awaitable<void> sanitize(std::size_t graded, std::string source, std::size_t generation) {
    sanitizing_ = true;
    draw();
    grade_options o;
    o.columns = t_.columns;
    auto v = co_await sanitize_lesson(c_.proj(), c_.at(graded), o);
    if (generation != generation_) co_return;  // graded again since
    sanitizing_ = false;
    if (quitting_ || graded != lesson_ || dirty_ ||
        read_all(c_.proj().exercise(current())) != source) {
      draw();
      co_return;
    }
    if (v.kind == verdict_kind::memory_error) {
      c_.record(graded, v);
      verdict_ = std::move(v);
      just_passed_ = false;
    } else if (v.kind == verdict_kind::passed) {
      sanitizer_note_ = fmt::format(
          "No memory errors: AddressSanitizer and UBSan ran the tests too ({:.1f} s).",
          v.sanitizer_time.count() / 1000.0);
    } else {
      sanitizer_note_ = "The sanitizer pass could not run: " + v.detail;
    }
    draw();
  }

  // Once the first verdict is on the screen, the other lessons are built
  // at the lowest priority, so that moving on is quick.
  void start_background_build() {
    if (background_started_ || env_off("ASYNCLINGS_BACKGROUND_BUILD")) return;
    background_started_ = true;
    spawn(
        [this]() -> awaitable<void> {
          background_running_ = true;
          bool built = co_await build_in_background(
              c_.proj(), every_lesson_target(c_), [this](int done, int total) {
                background_done_ = done;
                background_total_ = total;
                if (mode_ == mode::lesson || mode_ == mode::list) draw_status();
              });
          background_running_ = false;
          if (quitting_) co_return;
          if (built) message_ = "Every lesson is built: moving on is quick now.";
          draw();
        }());
  }

  awaitable<void> keys() {
    for (;;) {
      auto k = co_await keys_.next();
      if (!k) co_return;  // stdin closed
      if (!co_await on_key(*k)) co_return;
    }
  }

  // ---- Keys -------------------------------------------------------------------------

  // Returns false to quit.
  awaitable<bool> on_key(char k) {
    switch (mode_) {
      case mode::demo:
        if (k == 'q' || k == key::ctrl_c || k == key::escape) demo_control_->stop(2s);
        co_return true;
      case mode::after_demo:
        mode_ = mode::lesson;
        if (demo_long_ && k != 'q' && k != key::escape) co_await page(demo_output_);
        draw();
        co_return true;
      case mode::page:
        mode_ = mode::lesson;
        draw();
        co_return true;
      case mode::confirm_reset:
        mode_ = mode::lesson;
        if (k == 'y' || k == 'Y') {
          auto r = co_await c_.reset(lesson_);
          message_ = r.error.empty()
                         ? "Reset to the original. Your previous version: " +
                               display_path(r.backup)
                         : "Nothing changed: " + r.error + ".";
          request_grade();
        } else {
          message_ = "Nothing changed.";
          draw();
        }
        co_return true;
      case mode::confirm_solution:
        mode_ = mode::lesson;
        if (k == 'y' || k == 'Y') co_await show_solution();
        else draw();
        co_return true;
      case mode::list:
        if (k == key::down && cursor_ + 1 < c_.lessons().size()) ++cursor_;
        else if (k == key::up && cursor_ > 0) --cursor_;
        else if (k == key::enter || k == ' ') {
          mode_ = mode::lesson;
          select(cursor_);
          co_return true;
        } else if (k == 'q' || k == key::escape || k == 'l') {
          mode_ = mode::lesson;
        }
        draw();
        co_return true;
      case mode::lesson:
        break;
    }
    message_.clear();
    switch (k) {
      case 'q':
      case key::ctrl_c:
        co_return false;
      case 'n':
        if (lesson_ + 1 < c_.lessons().size()) select(lesson_ + 1);
        else { message_ = "This is the last lesson."; draw(); }
        break;
      case 'p':
        if (lesson_ > 0) select(lesson_ - 1);
        else { message_ = "This is the first lesson."; draw(); }
        break;
      case 'h':
        reveal_hint();
        draw();
        break;
      case 'l':
        mode_ = mode::list;
        cursor_ = lesson_;
        draw();
        break;
      case 'x':
        mode_ = mode::confirm_reset;
        draw();
        break;
      case 's':
        if (c_.done(lesson_)) co_await show_solution();
        else { mode_ = mode::confirm_solution; draw(); }
        break;
      case 'r':
        spawn(run_demo());
        break;
      case 'c':
        co_await check_all();
        break;
      default:
        break;
    }
    co_return true;
  }

  void reveal_hint() {
    auto h = c_.next_hint(lesson_, std::nullopt);
    if (!h) {
      message_ = "This lesson has no hints for that task.";
      return;
    }
    hint_task_ = h->task;
    hints_ = c_.shown_hints(lesson_, h->task);
    if (h->repeated)
      message_ = fmt::format("That was the last hint for task {}. `scripts/tutor solution {} "
                             "--force` shows the reference.",
                             h->task, current().number);
  }

  // Runs in the terminal's cooked mode, then comes back.
  awaitable<void> page(const std::string& text) {
    mode_ = mode::page;
    if (raw_) raw_->restore();
    co_await show_in_pager(text);
    if (raw_) raw_->enter();
    mode_ = mode::lesson;
  }

  awaitable<void> show_solution() {
    auto diff = co_await c_.solution_diff(lesson_);
    // A named string: g++ 12 destroys a temporary in a co_await twice.
    std::string text = diff.empty() ? "Your file is the same as the reference.\n"
                                    : colour_diff(diff);
    co_await page(text);
    draw();
  }

  std::string colour_diff(const std::string& diff) const {
    std::istringstream in(diff);
    std::string line, out;
    while (std::getline(in, line)) {
      if (line.starts_with("+") && !line.starts_with("+++")) out += t_.green(line);
      else if (line.starts_with("-") && !line.starts_with("---")) out += t_.red(line);
      else if (line.starts_with("@@")) out += t_.cyan(line);
      else out += line;
      out += "\n";
    }
    return out;
  }

  awaitable<void> run_demo() {
    if (mode_ != mode::lesson) co_return;
    mode_ = mode::demo;
    demo_output_.clear();
    demo_long_ = false;
    flush("\x1b[2J\x1b[H");
    flush(t_.dim(fmt::format("building the lesson {} demo with your code ...",
                             current().number)) + "\r\n");
    std::size_t shown = lesson_;
    if (auto errors = co_await build_demo(c_, shown, side::exercise())) {
      flush(t_.fail_mark() + " the demo does not build:\r\n\r\n");
      auto text = wrap_text(*errors, t_.columns);
      for (auto& line : wrap_lines(text, t_.columns)) flush(line + "\r\n");
      demo_output_ = *errors;
    } else {
      flush(t_.dim("running it in real time (q or Ctrl-C stops it) ...") + "\r\n\r\n");
      demo_control_ = std::make_shared<process_control>();
      process_options o;
      o.timeout = 60s;
      o.max_output = 1 << 20;
      o.control = demo_control_;
      o.on_output = [](std::string_view chunk) { flush(std::string(chunk)); };
      std::vector<std::string> argv{c_.proj().demo_binary(c_.at(shown), side::exercise()).string()};
      auto r = co_await run_process(std::move(argv), o);
      demo_output_ = r.output;
      std::string how = r.timed_out ? "was stopped after 60 s"
                        : r.signal == SIGTERM || r.signal == SIGKILL ? "was stopped"
                        : r.signal ? "crashed: " + describe_signal(r.signal)
                        : r.exit_code == 0 ? "ended"
                                           : fmt::format("ended with exit code {}", r.exit_code);
      flush("\r\n" + (r.ok() ? t_.green("The demo " + how + ".") : t_.red("The demo " + how + ".")));
    }
    std::size_t lines = static_cast<std::size_t>(std::count(demo_output_.begin(), demo_output_.end(), '\n'));
    demo_long_ = lines + 4 > static_cast<std::size_t>(t_.rows);
    flush("\r\n" + t_.dim(demo_long_ ? "Any key shows its output in the pager, to scroll "
                                       "through; q goes back to the lesson."
                                     : "Any key goes back to the lesson.") + "\r\n");
    mode_ = mode::after_demo;
  }

  awaitable<void> check_all() {
    mode_ = mode::page;
    flush("\x1b[2J\x1b[H" + t_.bold("Checking every lesson") + "\r\n\r\n");
    auto passed = co_await check_every_lesson(c_, t_.columns, [&](std::size_t i, const verdict& v) {
      flush(fmt::format("  {} {:<18} {}\r\n", v.passed() ? t_.ok_mark() : t_.fail_mark(),
                        c_.at(i).dir, verdict_summary(v)));
    });
    flush(fmt::format("\r\n{}\r\n\r\n{}\r\n", progress_bar(passed, c_.lessons().size()),
                      t_.dim("Any key goes back to the lesson.")));
    if (lesson_ < c_.lessons().size()) {
      // The current lesson was graded too: show that verdict when back.
      dirty_ = true;
      wake_grader_.cancel();
    }
  }

  // ---- Drawing ------------------------------------------------------------------------

  std::string status_line() const {
    if (grading_) return t_.yellow("grading ...");
    if (sanitizing_) return t_.yellow("checking for memory errors (AddressSanitizer, UBSan) ...");
    if (background_running_ && background_total_ > 0)
      return t_.dim(fmt::format("building the other lessons in the background: {}/{}",
                                background_done_, background_total_));
    return {};
  }

  screen_model model() const {
    screen_model m;
    const auto& lessons = c_.lessons();
    m.title = fmt::format("{}  {}", t_.bold("asynclings"),
                          progress_bar(c_.done_count(), lessons.size(), 20));
    // A key and its word never part at the end of a line (no-break spaces).
    m.keys = t_.dim("n\u00a0next \u00b7 p\u00a0previous \u00b7 h\u00a0hint \u00b7 "
                    "l\u00a0list \u00b7 r\u00a0run \u00b7 s\u00a0solution \u00b7 "
                    "c\u00a0check\u00a0all \u00b7 x\u00a0reset \u00b7 q\u00a0quit");
    m.status = status_line();
    m.message = message_;
    if (!c_.warning().empty() && message_.empty()) m.message = t_.dim(c_.warning());
    if (mode_ == mode::list) {
      m.listing = true;
      m.cursor = cursor_;
      for (std::size_t i = 0; i < lessons.size(); ++i) {
        std::string line = fmt::format("{} {} {}  {}", i == cursor_ ? ">" : " ",
                                       c_.done(i) ? t_.ok_mark() : t_.dim("\u00b7"),
                                       lessons[i].number, lessons[i].title);
        m.list.push_back(i == cursor_ ? t_.bold(line) : line);
      }
      m.keys = t_.dim("j/k or arrows move \u00b7 enter picks \u00b7 esc\u00a0goes\u00a0back");
      return m;
    }
    const auto& l = current();
    m.head.push_back(lesson_header(t_, c_, lesson_) + (c_.done(lesson_) ? " " + t_.ok_mark() : ""));
    std::istringstream files(lesson_files(t_, c_, lesson_));
    for (std::string line; std::getline(files, line);) m.head.push_back(line);
    if (mode_ == mode::confirm_reset)
      m.prompt = t_.bold("Reset exercise.cpp to the original? Your version is kept as a "
                         "backup. [y/N]");
    if (mode_ == mode::confirm_solution)
      m.prompt = t_.bold("You have not passed this lesson yet. Show the reference anyway? [y/N]");
    if (!verdict_) {
      m.headline = grading_ ? "" : t_.dim("waiting for the first grade ...");
      return m;
    }
    auto text = describe_verdict(t_, l, *verdict_);
    m.headline = text.headline;
    m.tasks = text.tasks;
    if (!hints_.empty()) {
      // The hint just revealed first, then the earlier ones of its task:
      // what does not fit is the oldest.
      for (auto it = hints_.rbegin(); it != hints_.rend(); ++it) {
        if (it == std::next(hints_.rbegin())) m.panel += t_.dim("Shown before:") + "\n";
        m.panel += render_hint(t_, l, *it) + "\n";
      }
      m.panel_cut = t_.dim(fmt::format("(earlier hints: `scripts/tutor hint {} {} --all`)",
                                       l.number, hint_task_));
    } else if (verdict_->passed()) {
      m.panel = t_.green(just_passed_ ? "Lesson passed! " : "Passed. ") +
                "Press n for the next lesson.\n";
      if (!sanitizer_note_.empty()) m.panel += t_.dim(sanitizer_note_) + "\n";
      m.panel += solution_diff_.empty()
                     ? "Your file is the same as the reference.\n"
                     : "\nYour file next to the reference (s shows it whole):\n" +
                           colour_diff(solution_diff_);
      m.panel_cut = t_.dim("... (s shows the whole diff)");
    } else {
      m.panel = text.detail;
      if (!sanitizer_note_.empty()) m.panel = sanitizer_note_ + "\n" + m.panel;
      m.panel_cut = t_.dim(fmt::format(
          "... (`scripts/tutor check {} --full` shows all of it)", l.number));
    }
    return m;
  }

  void draw() {
    if (quitting_ || mode_ == mode::demo || mode_ == mode::after_demo || mode_ == mode::page)
      return;
    flush(draw_screen(model(), t_));
  }

  // Only the status changed (a background build's progress): redraw all,
  // at most every 200 ms.
  void draw_status() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_status_draw_ < 200ms) return;
    last_status_draw_ = now;
    draw();
  }

  course& c_;
  term t_;
  asio::any_io_executor ex_;
  std::size_t lesson_ = 0, cursor_ = 0;
  std::optional<verdict> verdict_;
  std::vector<hint> hints_;
  int hint_task_ = 0;
  std::string last_graded_, message_, solution_diff_, sanitizer_note_;
  std::string demo_output_;
  bool demo_long_ = false;
  std::shared_ptr<process_control> demo_control_;
  bool dirty_ = false, grading_ = false, sanitizing_ = false, quitting_ = false;
  std::size_t generation_ = 0;  // gradings started
  bool just_passed_ = false, rebuilding_ = false;
  bool background_started_ = false, background_running_ = false;
  int background_done_ = 0, background_total_ = 0;
  std::chrono::steady_clock::time_point last_status_draw_{};
  mode mode_ = mode::lesson;
  asio::steady_timer wake_grader_;
  std::size_t running_ = 0;  // tasks started with spawn() and not ended
  asio::steady_timer all_ended_;
  key_reader keys_;
  file_watcher files_;
  std::optional<asio::signal_set> resize_;
  raw_terminal* raw_ = nullptr;
};

}  // namespace

asio::awaitable<int> cmd_watch(course& c, term t) {
  watch_app app(c, t, co_await asio::this_coro::executor);
  co_return co_await app.run();
}

}  // namespace tutor
