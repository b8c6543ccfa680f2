#include "watch_input.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <stdexcept>

#include <sys/inotify.h>
#include <termios.h>
#include <unistd.h>

namespace tutor {

using asio::use_awaitable;
using asio::experimental::as_tuple;

struct raw_terminal::saved {
  termios attrs{};
};

raw_terminal::raw_terminal() : saved_(std::make_unique<saved>()) {
  saved_ok_ = tcgetattr(STDIN_FILENO, &saved_->attrs) == 0;
  instance_ = this;
  std::signal(SIGTERM, &raw_terminal::on_signal);
  std::signal(SIGHUP, &raw_terminal::on_signal);
  enter();
}

raw_terminal::~raw_terminal() {
  restore();
  instance_ = nullptr;
}

void raw_terminal::enter() {
  if (saved_ok_) {
    termios raw = saved_->attrs;
    raw.c_lflag &= ~(ICANON | ECHO | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  std::fputs("\x1b[?25l", stdout);  // hide the cursor
  std::fflush(stdout);
}

void raw_terminal::restore() {
  if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_->attrs);
  active_ = false;
  std::fputs("\x1b[?25h", stdout);
  std::fflush(stdout);
}

void raw_terminal::on_signal(int sig) {
  if (instance_) instance_->restore();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

key_reader::key_reader(asio::any_io_executor ex) : in_(ex, dup(STDIN_FILENO)) {}

asio::awaitable<std::optional<char>> key_reader::next() {
  while (pending_.empty()) {
    char buf[64];
    auto [ec, n] = co_await in_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec || n == 0) co_return std::nullopt;  // stdin closed
    std::string_view input(buf, n);
    // Arrow keys arrive as ESC [ A / ESC [ B (or ESC O A in some modes).
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (input[i] == '\x1b' && i + 2 < input.size() &&
          (input[i + 1] == '[' || input[i + 1] == 'O')) {
        char a = input[i + 2];
        pending_ += a == 'A' ? key::up : a == 'B' ? key::down : '\0';
        i += 2;
        continue;
      }
      pending_ += input[i] == '\r' ? key::enter : input[i];
    }
    std::erase(pending_, '\0');
  }
  char k = pending_.front();
  pending_.erase(0, 1);
  co_return k;
}

file_watcher::file_watcher(asio::any_io_executor ex) : quiet_(ex) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("inotify_init1 failed");
  in_.emplace(ex, fd_);
  // Reads that find nothing say so (would_block) instead of waiting.
  in_->non_blocking(true);
}

file_watcher::~file_watcher() { close(); }

void file_watcher::watch(const std::filesystem::path& dir, std::string name) {
  if (!in_) return;
  if (watch_ >= 0) inotify_rm_watch(fd_, watch_);
  name_ = std::move(name);
  // The directory, not the file: editors save by renaming a new file over
  // the old one, which a watch on the file would lose.
  watch_ = inotify_add_watch(fd_, dir.c_str(),
                             IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY);
}

void file_watcher::close() {
  quiet_.cancel();
  if (in_) {
    asio::error_code ignored;
    in_->close(ignored);
    in_.reset();
  }
}

// What a batch of events says of the file: nothing (none was about it),
// written (a write is still going on: it was created or modified), or
// saved (the last one about it closed a write or renamed a new file over
// it, so its contents are whole).
file_watcher::seen file_watcher::scan(const char* buf, std::size_t n) const {
  seen s = seen::nothing;
  for (std::size_t off = 0; off < n;) {
    auto* e = reinterpret_cast<const inotify_event*>(buf + off);
    if (e->len && std::string_view(e->name) == name_)
      s = e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO) ? seen::saved : seen::written;
    off += sizeof(inotify_event) + e->len;
  }
  return s;
}

asio::awaitable<bool> file_watcher::next_save(std::chrono::milliseconds settle,
                                             std::chrono::milliseconds quiet) {
  alignas(inotify_event) char buf[8192];
  for (;;) {
    if (!in_) co_return false;
    auto [ec, n] = co_await in_->async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec) co_return false;
    seen last = scan(buf, n);
    if (last == seen::nothing) continue;
    // Debounce: once the file is whole, wait `settle` for what an editor
    // does right after (a second save, a chmod); while it is being
    // written, wait until the writes have stopped for `quiet`.
    for (;;) {
      quiet_.expires_after(last == seen::saved ? settle : quiet);
      co_await quiet_.async_wait(as_tuple(use_awaitable));
      if (!in_) co_return false;
      // More events meanwhile? Drain them and wait again.
      asio::error_code rec;
      std::size_t more = in_->read_some(asio::buffer(buf), rec);
      if (rec || more == 0) break;
      if (auto s = scan(buf, more); s != seen::nothing) last = s;
    }
    co_return true;
  }
}

}  // namespace tutor
