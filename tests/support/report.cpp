// A Catch2 listener that writes one line per test case (and one per failure
// message) to the file named by $TUT_REPORT, for the tutor to read:
//   start<TAB>tags<TAB>name             (as a test case begins)
//   case<TAB>pass|fail<TAB>tags<TAB>name  (as it ends)
//   msg<TAB>text, with \n \t and \\ escaped
//   time<TAB>seconds                    (how long the case ran, as it ends)
//   frames<TAB>0x1a2b lib.so@0x3c4d ...   (a crash: the stack at the signal,
//                                         as offsets into the test program
//                                         or a library of the project's, for
//                                         the tutor to name file and line)
// Lines are flushed as they happen, so a crash still leaves what ran.
//
// With $TUT_REPORT set, each case also begins with a line of its own on the
// program's output, "\x1etut-case\t<name>", after what came before has
// been flushed: a run of every case in one process tells the tutor which
// case printed what.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The stack as it is now, inside Catch2's signal handler: its own frames,
// the signal trampoline, then the code that crashed. Frames in the program
// are offsets into it (it is position-independent: an address minus where
// it is loaded is what addr2line reads in the file); frames in a library of
// the project's own (the learner's exercise, when the tutor's build links
// it as a shared library) are "path@offset". Frames in the system's
// libraries (libc, libstdc++, under /lib or /usr) are left out.
std::string program_frames() {
  void* frames[64];
  int n = backtrace(frames, 64);
  Dl_info self{};
  dladdr(reinterpret_cast<void*>(&program_frames), &self);
  std::string out;
  for (int i = 0; i < n; ++i) {
    Dl_info info{};
    if (!dladdr(frames[i], &info)) continue;
    std::string module;
    if (info.dli_fbase != self.dli_fbase) {
      std::string_view file = info.dli_fname ? info.dli_fname : "";
      if (file.empty() || file.starts_with("/lib") || file.starts_with("/usr/")) continue;
      module = std::string(file) + "@";
    }
    // A return address points after the call; one byte back is inside it.
    auto at = reinterpret_cast<std::uintptr_t>(frames[i]) -
              reinterpret_cast<std::uintptr_t>(info.dli_fbase) - (i > 0 ? 1 : 0);
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(at));
    if (!out.empty()) out += ' ';
    out += module + hex;
  }
  return out;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out;
}

class tutor_report : public Catch::TestEventListenerBase {
public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    messages_.clear();
    if (const char* path = std::getenv("TUT_REPORT"); path && !file_)
      file_ = std::fopen(path, "w");
    current_ = info.name;
    tags_ = info.tagsAsString();
    started_ = std::chrono::steady_clock::now();
    if (file_) {
      flush_output();
      std::string mark = "\x1etut-case\t" + escape(current_) + "\n";
      for (std::size_t at = 0; at < mark.size();) {
        auto n = ::write(1, mark.data() + at, mark.size() - at);
        if (n <= 0) break;
        at += static_cast<std::size_t>(n);
      }
      // A hang or crash in this case leaves this line as the last one.
      std::fprintf(file_, "start\t%s\t%s\n", escape(tags_).c_str(),
                   escape(current_).c_str());
      std::fflush(file_);
    }
  }

  bool assertionEnded(Catch::AssertionStats const& stats) override {
    const auto& r = stats.assertionResult;
    if (r.isOk()) return true;
    std::string text;
    for (const auto& info : stats.infoMessages)
      if (info.type == Catch::ResultWas::Info) text += info.message + "\n";
    if (r.getResultType() == Catch::ResultWas::ThrewException)
      text += "unexpected exception: " + r.getMessage();
    else if (r.getResultType() == Catch::ResultWas::FatalErrorCondition)
      text += "crashed: " + r.getMessage();
    else if (r.hasMessage())
      text += r.getMessage();
    else
      text += r.getExpressionInMacro() + " with " + r.getExpandedExpression();
    messages_.push_back(text);
    // Write failures straight away: a crash right after must not lose them.
    if (r.getResultType() == Catch::ResultWas::FatalErrorCondition) {
      if (file_) {
        std::fprintf(file_, "frames\t%s\n", program_frames().c_str());
        std::fflush(file_);
      }
      flush_case(false);
    }
    return true;
  }

  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    flush_output();  // what the case printed goes before the next mark
    flush_case(stats.totals.assertions.failed == 0);
    if (file_) {
      std::chrono::duration<double> ran = std::chrono::steady_clock::now() - started_;
      std::fprintf(file_, "time\t%.6f\n", ran.count());
      std::fflush(file_);
    }
  }

  ~tutor_report() override {
    if (file_) std::fclose(file_);
  }

private:
  // What the code under test printed so far, out of every buffer.
  static void flush_output() {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(stdout);
    std::fflush(stderr);
  }

  void flush_case(bool passed) {
    if (!file_) return;
    std::fprintf(file_, "case\t%s\t%s\t%s\n", passed ? "pass" : "fail",
                 escape(tags_).c_str(), escape(current_).c_str());
    for (const auto& m : messages_)
      std::fprintf(file_, "msg\t%s\n", escape(m).c_str());
    messages_.clear();
    std::fflush(file_);
  }

  std::FILE* file_ = nullptr;
  std::chrono::steady_clock::time_point started_;
  std::string current_, tags_;
  std::vector<std::string> messages_;
};

}  // namespace

CATCH_REGISTER_LISTENER(tutor_report)
