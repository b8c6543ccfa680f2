// A Catch2 listener that writes one line per test case (and one per failure
// message) to the file named by $TUT_REPORT, for the tutor to read:
//   start<TAB>tags<TAB>name             (as a test case begins)
//   case<TAB>pass|fail<TAB>tags<TAB>name  (as it ends)
//   msg<TAB>text, with \n \t and \\ escaped
// Lines are flushed as they happen, so a crash still leaves what ran.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

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
    if (file_) {
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
    if (r.getResultType() == Catch::ResultWas::FatalErrorCondition) flush_case(false);
    return true;
  }

  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    flush_case(stats.totals.assertions.failed == 0);
  }

  ~tutor_report() override {
    if (file_) std::fclose(file_);
  }

private:
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
  std::string current_, tags_;
  std::vector<std::string> messages_;
};

}  // namespace

CATCH_REGISTER_LISTENER(tutor_report)
