// Watch mode's inputs: the keyboard, one key at a time (raw mode, restored on
// every way out), and the lesson's directory, watched for saves.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace tutor {

// The terminal in raw mode while it lives: keys arrive one at a time,
// without echo, and Ctrl-C arrives as a key (so that it can stop a demo).
class raw_terminal {
public:
  raw_terminal();
  ~raw_terminal();
  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

  void restore();  // back to how it was (to run a pager, to quit)
  void enter();    // raw again

private:
  static void on_signal(int sig);
  static inline raw_terminal* instance_ = nullptr;
  bool saved_ok_ = false;
  bool active_ = false;
  struct saved;
  std::unique_ptr<saved> saved_;
};

// Keys as the app sees them: printable characters, and these.
namespace key {
constexpr char up = 'k', down = 'j', enter = '\n', escape = '\x1b', ctrl_c = '\x03';
}

// Reads keys from standard input.
class key_reader {
public:
  explicit key_reader(asio::any_io_executor ex);
  // The next key; nullopt when standard input is closed.
  asio::awaitable<std::optional<char>> next();

private:
  asio::posix::stream_descriptor in_;
  std::string pending_;
};

// Watches a directory for saves of one file name. Editors save in several
// ways (write in place; write a new file and rename it over; delete and
// create): all of them end in an event on the directory.
class file_watcher {
public:
  explicit file_watcher(asio::any_io_executor ex);
  ~file_watcher();
  void watch(const std::filesystem::path& dir, std::string name);
  // Returns after the next save of the file: `settle` after a write was
  // closed or a new file renamed over it, or once writes have stopped for
  // `quiet` (editors write in several steps); false when closed.
  asio::awaitable<bool> next_save(std::chrono::milliseconds settle,
                                  std::chrono::milliseconds quiet);
  void close();

private:
  enum class seen { nothing, written, saved };
  seen scan(const char* buf, std::size_t n) const;

  int fd_ = -1;
  int watch_ = -1;
  std::string name_;
  std::optional<asio::posix::stream_descriptor> in_;
  asio::steady_timer quiet_;
};

}  // namespace tutor
