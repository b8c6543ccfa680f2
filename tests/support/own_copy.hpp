// Work that runs after the call that started it has returned (lesson 01's
// reminder task, lesson 02's posted callback) must keep its own copy of the
// message it was handed: the check, written once.
#pragma once

#include "dangling.hpp"
#include "grading.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace grade {

// Who logged the lines, in the words of the failure messages.
struct late_logger {
  std::string_view who;       // "the reminder"
  std::string_view function;  // "remind_later": whose `message` it was
  std::string_view reader;    // "Your task"
  std::string_view rule;      // "a task that runs on after the call must ..."
  std::string_view log_was;   // "at 150 ms the log held"
};

// Fails when your run threw; when a line of its log is what this test wrote
// into the freed memory of the `message` (dangling.hpp), instead of
// `message`; then unless your log is the reference's.
template <typename Yours, typename Reference>
void expect_own_copy(const std::vector<std::string>& your_log,
                     const std::vector<std::string>& reference_log,
                     const std::string& message, const late_logger& logger,
                     const Yours& yours, const Reference& reference) {
  expect_no_exception(yours, reference, logger.function);
  for (const auto& line : your_log)
    GRADE(!read_freed(line, message),
          fmt::format("{} logged {} instead of \"{}\": that is what this test "
                      "wrote into the memory of {}'s `message` once the call "
                      "had returned and the string was destroyed. {} read "
                      "`message` after its owner was gone: {}",
                      logger.who, show_freed(line), message, logger.function,
                      logger.reader, logger.rule),
          yours, reference);
  GRADE(your_log == reference_log,
        fmt::format("{} {}; expected {}", logger.log_was, list(your_log),
                    list(reference_log)),
        yours, reference);
}

}  // namespace grade
