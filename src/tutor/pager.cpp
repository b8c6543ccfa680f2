#include "pager.hpp"

#include "process.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace tutor {
namespace {

bool on_path(const char* program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string_view dirs(path);
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    auto dir = dirs.substr(0, colon);
    if (access((std::string(dir) + "/" + program).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

}  // namespace

asio::awaitable<void> show_in_pager(const std::string& text) {
  auto file = std::filesystem::temp_directory_path() /
              fmt::format("asynclings-page-{}.txt", getpid());
  {
    std::ofstream out(file, std::ios::trunc);
    out << text;
  }
  std::string pager;
  if (const char* p = std::getenv("PAGER"); p && *p)
    pager = p;
  else if (on_path("less"))
    pager = "less -R";  // -R: keep the colours
  else
    pager = "more";
  process_options o;
  o.foreground = true;  // it reads the keyboard: our process group, our terminal
  o.timeout = std::chrono::hours(24);
  // Ctrl-C in the pager is for the pager.
  auto previous = std::signal(SIGINT, SIG_IGN);
  std::vector<std::string> argv{"sh", "-c", pager + " \"$1\"", "sh", file.string()};
  co_await run_process(std::move(argv), o);
  std::signal(SIGINT, previous);
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
}

}  // namespace tutor
