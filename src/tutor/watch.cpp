#include "watch.hpp"

#include "commands.hpp"
#include "grade.hpp"
#include "state.hpp"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace tutor {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using namespace std::chrono_literals;

// Keys arrive one at a time, without echo; restored on every way out.
class raw_terminal {
public:
  raw_terminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    if (active_) {
      instance_ = this;
      std::signal(SIGTERM, &raw_terminal::on_signal);
      std::signal(SIGHUP, &raw_terminal::on_signal);
    }
    std::fputs("\x1b[?25l", stdout);  // hide the cursor
  }
  ~raw_terminal() { restore(); }
  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

  void restore() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    active_ = false;
    std::fputs("\x1b[?25h", stdout);
    std::fflush(stdout);
  }

private:
  static void on_signal(int sig) {
    if (instance_) instance_->restore();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  static inline raw_terminal* instance_ = nullptr;
  termios saved_{};
  bool active_ = false;
};

int terminal_rows() {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row > 0) return w.ws_row;
  return 40;
}

std::string read_all(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::string first_lines(const std::string& s, std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n && pos != std::string::npos; ++i) {
    pos = s.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  return pos == std::string::npos ? s : s.substr(0, pos);
}

enum class mode { lesson, list, confirm_reset, confirm_solution, page };

class watch_app {
public:
  watch_app(context& c, asio::any_io_executor ex)
      : c_(c), ex_(ex), wake_grader_(ex), debounce_(ex), stdin_(ex, dup(STDIN_FILENO)) {
    auto s = load_progress(c_.proj, &note_);
    lesson_ = s.first_unfinished(c_.proj.lessons);
    if (!s.current.empty())
      if (auto i = c_.proj.lessons.find(s.current)) lesson_ = *i;
    done_ = s.done;
    // No usable progress file: grade from the first lesson on and move
    // forward past every lesson that passes.
    rebuilding_ = s.fresh;
    if (rebuilding_) lesson_ = 0;
    wake_grader_.expires_at(asio::steady_timer::time_point::max());
  }

  awaitable<int> run() {
    raw_terminal raw;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw std::runtime_error("inotify_init1 failed");
    inotify_.emplace(ex_, fd);
    inotify_fd_ = fd;
    select(lesson_);
    asio::co_spawn(ex_, files(), asio::detached);
    asio::co_spawn(ex_, grader(), asio::detached);
    co_await keys();
    quitting_ = true;
    kill_children();  // a build or test still running: stop it now
    inotify_->close();
    wake_grader_.cancel();
    debounce_.cancel();
    raw.restore();
    std::fputs("\x1b[2J\x1b[H", stdout);
    fmt::print("Bye! Your progress is saved; `scripts/tutor` picks up where you left off.\n");
    co_return 0;
  }

private:
  const lesson& current() const { return c_.proj.lessons.lessons[lesson_]; }

  // Moves to lesson i: watch its directory, grade it.
  void select(std::size_t i) {
    lesson_ = i;
    hints_ = 0;
    verdict_.reset();
    last_graded_.clear();
    auto s = load_progress(c_.proj);
    s.current = current().dir;
    save_progress(c_.proj, s);
    if (watch_ >= 0) inotify_rm_watch(inotify_fd_, watch_);
    // Watch the directory, not the file: editors save by renaming a new
    // file over the old one, which a watch on the file would lose.
    watch_ = inotify_add_watch(inotify_fd_, c_.proj.exercise(current()).parent_path().c_str(),
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY);
    request_grade();
  }

  void request_grade() {
    dirty_ = true;
    wake_grader_.cancel();
    draw();
  }

  awaitable<void> files() {
    alignas(inotify_event) char buf[8192];
    while (!quitting_) {
      auto [ec, n] = co_await inotify_->async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
      if (ec) co_return;
      bool ours = false;
      for (std::size_t off = 0; off < n;) {
        auto* e = reinterpret_cast<inotify_event*>(buf + off);
        if (e->len && std::string_view(e->name) == "exercise.cpp") ours = true;
        off += sizeof(inotify_event) + e->len;
      }
      if (!ours) continue;
      // Debounce: editors write in several steps (a temporary file, a
      // rename, a few writes), all within milliseconds; grade once they stop.
      debounce_.expires_after(80ms);
      debounce_.async_wait([this](asio::error_code e) {
        if (!e && !quitting_) {
          // Saving without a change (or a write in progress) changes nothing.
          if (read_all(c_.proj.exercise(current())) != last_graded_) request_grade();
        }
      });
    }
  }

  awaitable<void> grader() {
    while (!quitting_) {
      if (!dirty_) {
        co_await wake_grader_.async_wait(as_tuple(use_awaitable));
        wake_grader_.expires_at(asio::steady_timer::time_point::max());
        continue;
      }
      dirty_ = false;
      grading_ = true;
      draw();
      std::size_t graded = lesson_;
      auto source = read_all(c_.proj.exercise(current()));
      auto v = co_await grade_lesson(c_.proj, current());
      grading_ = false;
      if (quitting_) co_return;
      if (graded != lesson_) continue;  // moved on meanwhile: grade the new one
      last_graded_ = source;
      bool was_done = done_.count(current().dir);
      done_ = record_verdict(c_.proj, current(), v).done;
      just_passed_ = v.passed() && !was_done;
      solution_diff_.clear();
      if (v.passed()) solution_diff_ = co_await diff_with_reference(c_.proj, current());
      if (rebuilding_ && v.passed() && lesson_ + 1 < c_.proj.lessons.lessons.size()) {
        message_ = fmt::format("Lesson {} already passes; moving on.", current().number);
        select(lesson_ + 1);
        continue;
      }
      rebuilding_ = false;
      verdict_ = std::move(v);
      draw();
    }
  }

  awaitable<void> keys() {
    char buf[64];
    for (;;) {
      auto [ec, n] = co_await stdin_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
      if (ec || n == 0) co_return;  // stdin closed
      std::string_view input(buf, n);
      // Arrow keys arrive as ESC [ A / ESC [ B.
      if (input == "\x1b[A") input = "k";
      else if (input == "\x1b[B") input = "j";
      for (char k : input)
        if (!co_await on_key(k)) co_return;
    }
  }

  // Returns false to quit.
  awaitable<bool> on_key(char k) {
    switch (mode_) {
      case mode::page:
        mode_ = mode::lesson;
        draw();
        co_return true;
      case mode::confirm_reset:
        mode_ = mode::lesson;
        if (k == 'y' || k == 'Y') {
          auto r = co_await restore_exercise(c_.proj, current());
          message_ = r.error.empty()
                         ? "Reset to the original. Your previous version: " + display_path(r.backup)
                         : "Nothing changed: " + r.error + ".";
          done_ = load_progress(c_.proj).done;
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
        if (k == 'j' && cursor_ + 1 < c_.proj.lessons.lessons.size()) ++cursor_;
        else if (k == 'k' && cursor_ > 0) --cursor_;
        else if (k == '\n' || k == '\r' || k == ' ') {
          mode_ = mode::lesson;
          select(cursor_);
          co_return true;
        } else if (k == 'q' || k == '\x1b' || k == 'l') {
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
        co_return false;
      case 'n':
        if (lesson_ + 1 < c_.proj.lessons.lessons.size()) select(lesson_ + 1);
        else { message_ = "This is the last lesson."; draw(); }
        break;
      case 'p':
        if (lesson_ > 0) select(lesson_ - 1);
        else { message_ = "This is the first lesson."; draw(); }
        break;
      case 'h':
        if (hints_ < current().hints.size()) ++hints_;
        else message_ = "No more hints for this lesson.";
        {
          auto s = load_progress(c_.proj);
          s.hints_shown[current().dir] = std::max<int>(s.hints_shown[current().dir], hints_);
          save_progress(c_.proj, s);
        }
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
        if (done_.count(current().dir)) co_await show_solution();
        else { mode_ = mode::confirm_solution; draw(); }
        break;
      case 'r':
        co_await run_demo();
        break;
      case 'c':
        co_await check_all();
        break;
      default:
        break;
    }
    co_return true;
  }

  awaitable<void> show_solution() {
    auto diff = co_await diff_with_reference(c_.proj, current());
    page_ = diff.empty() ? "Your file is the same as the reference.\n" : colour_diff(diff);
    mode_ = mode::page;
    draw();
  }

  std::string colour_diff(const std::string& diff) const {
    std::istringstream in(diff);
    std::string line, out;
    while (std::getline(in, line)) {
      if (line.starts_with("+") && !line.starts_with("+++")) out += c_.out.green(line);
      else if (line.starts_with("-") && !line.starts_with("---")) out += c_.out.red(line);
      else if (line.starts_with("@@")) out += c_.out.cyan(line);
      else out += line;
      out += "\n";
    }
    return out;
  }

  awaitable<void> run_demo() {
    std::fputs("\x1b[2J\x1b[H", stdout);
    fmt::print("{}\n\n", c_.out.dim(fmt::format("building and running the lesson {} demo with your code (real time) ...",
                                               current().number)));
    std::fflush(stdout);
    std::vector<std::string> targets{c_.proj.demo_target(current(), "exercise")};
    auto built = co_await build_targets(c_.proj, std::move(targets), std::chrono::minutes(5));
    if (!built.ok()) {
      fmt::print("{} the demo does not build:\n\n{}", c_.out.fail_mark(),
                 trim_diagnostics(built.output, c_.proj.exercise(current())));
    } else {
      process_options o;
      o.passthrough = true;
      o.timeout = 60s;
      std::vector<std::string> argv{c_.proj.demo_binary(current(), "exercise").string()};
      auto r = co_await run_process(std::move(argv), o);
      if (r.timed_out) fmt::print("{}\n", c_.out.red("the demo was stopped after 60 s"));
      if (r.signal) fmt::print("{}\n", c_.out.red("the demo crashed: " + describe_signal(r.signal)));
    }
    fmt::print("\n{}\n", c_.out.dim("press any key to go back"));
    std::fflush(stdout);
    page_.clear();
    mode_ = mode::page;
  }

  awaitable<void> check_all() {
    std::fputs("\x1b[2J\x1b[H", stdout);
    fmt::print("{}\n\n", c_.out.bold("Checking every lesson"));
    std::fflush(stdout);
    std::size_t passed = 0;
    for (const auto& l : c_.proj.lessons.lessons) {
      auto v = co_await grade_lesson(c_.proj, l);
      passed += v.passed();
      fmt::print("  {} {:<18} {}\n", v.passed() ? c_.out.ok_mark() : c_.out.fail_mark(), l.dir,
                 v.passed() ? "passes" : fmt::format("{}/{} test cases", v.cases_passed(), v.cases.size()));
      std::fflush(stdout);
      done_ = record_verdict(c_.proj, l, v).done;
    }
    fmt::print("\n{}\n\n{}\n", progress_bar(passed, c_.proj.lessons.lessons.size()),
               c_.out.dim("press any key to go back"));
    std::fflush(stdout);
    page_.clear();
    mode_ = mode::page;
  }

  void draw() {
    if (quitting_) return;
    if (mode_ == mode::page && page_.empty()) return;  // a demo's output stays
    std::string out = "\x1b[2J\x1b[H";
    const auto& lessons = c_.proj.lessons.lessons;
    out += fmt::format("{}  {}\n", c_.out.bold("asynclings"), progress_bar(done_.size(), lessons.size()));
    if (mode_ == mode::page) {
      out += "\n" + page_ + "\n" + c_.out.dim("press any key to go back") + "\n";
      flush(out);
      return;
    }
    if (mode_ == mode::list) {
      out += "\n";
      for (std::size_t i = 0; i < lessons.size(); ++i) {
        bool d = done_.count(lessons[i].dir);
        std::string line = fmt::format("{} {} {}  {}", i == cursor_ ? ">" : " ",
                                       d ? c_.out.ok_mark() : c_.out.dim("\u00b7"),
                                       lessons[i].number, lessons[i].title);
        out += (i == cursor_ ? c_.out.bold(line) : line) + "\n";
      }
      out += "\n" + c_.out.dim("j/k or arrows move \u00b7 enter picks \u00b7 esc goes back") + "\n";
      flush(out);
      return;
    }
    const auto& l = current();
    out += fmt::format("\n{} {}\n", c_.out.bold(fmt::format("Lesson {} \u00b7 {}", l.number, l.title)),
                       done_.count(l.dir) ? c_.out.ok_mark() : "");
    out += fmt::format("Edit  {}\nRead  {}\n\n", c_.out.cyan(display_path(c_.proj.exercise(l))),
                       display_path(c_.proj.readme(l)));
    std::string body;
    if (grading_) body += c_.out.yellow("grading ...") + "\n\n";
    if (verdict_) {
      body += render_verdict(c_.out, l, *verdict_);
      if (verdict_->passed()) {
        body += "\n" + c_.out.green(just_passed_ ? "Lesson passed! " : "Passed. ") +
                "Press n for the next lesson.\n";
        body += solution_diff_.empty()
                    ? "Your file is the same as the reference.\n"
                    : "\nYour file next to the reference (s shows it whole):\n" +
                          colour_diff(solution_diff_);
      }
    } else if (!grading_) {
      body += c_.out.dim("waiting for the first grade ...") + "\n";
    }
    for (std::size_t h = 0; h < hints_; ++h)
      body += fmt::format("\n{} {}\n", c_.out.yellow(fmt::format("Hint {}/{}:", h + 1, l.hints.size())),
                          l.hints[h]);
    if (mode_ == mode::confirm_reset)
      body += "\n" + c_.out.bold("Reset exercise.cpp to the original? Your version is kept as a backup. [y/N]") + "\n";
    if (mode_ == mode::confirm_solution)
      body += "\n" + c_.out.bold("You have not passed this lesson yet. Show the reference anyway? [y/N]") + "\n";
    if (!message_.empty()) body += "\n" + message_ + "\n";
    // Keep the keys on screen: cut a long verdict to the terminal's height.
    std::size_t room = static_cast<std::size_t>(std::max(8, terminal_rows() - 8));
    if (count_lines(body) > room)
      body = first_lines(body, room - 1) +
             c_.out.dim(fmt::format("... (`scripts/tutor check {} --full` shows everything)", l.number)) + "\n";
    out += body;
    out += "\n" + c_.out.dim("n next \u00b7 p previous \u00b7 h hint \u00b7 l list \u00b7 r run demo \u00b7 "
                             "s solution \u00b7 c check all \u00b7 x reset \u00b7 q quit") + "\n";
    if (!note_.empty()) out += c_.out.dim(note_) + "\n";
    flush(out);
  }

  static void flush(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }

  context& c_;
  asio::any_io_executor ex_;
  std::size_t lesson_ = 0, cursor_ = 0, hints_ = 0;
  std::set<std::string> done_;
  std::optional<verdict> verdict_;
  std::string last_graded_, message_, page_, note_;
  std::string solution_diff_;
  bool dirty_ = false, grading_ = false, quitting_ = false, just_passed_ = false;
  bool rebuilding_ = false;
  mode mode_ = mode::lesson;
  asio::steady_timer wake_grader_, debounce_;
  asio::posix::stream_descriptor stdin_;
  std::optional<asio::posix::stream_descriptor> inotify_;
  int inotify_fd_ = -1, watch_ = -1;
};

}  // namespace

asio::awaitable<int> cmd_watch(context& c) {
  watch_app app(c, co_await asio::this_coro::executor);
  co_return co_await app.run();
}

}  // namespace tutor
