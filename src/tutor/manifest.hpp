// lessons/lessons.toml: the ordered list of lessons.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tutor {

// One [[lesson.task]]: what the task asks for, and its hints (a nudge,
// then the API and where it goes, then the shape of the code).
struct task {
  std::string title;
  std::vector<std::string> hints;
};

struct lesson {
  std::string dir;       // "03_gather"
  std::string number;    // "03"
  std::string title;
  std::vector<std::string> concepts;
  std::string python;
  std::vector<task> tasks;         // [task1], [task2], ... in the tests
  std::vector<std::string> hints;  // lesson-wide hints (older lessons)
  std::vector<std::string> wrong;  // fixture names under tests/<dir>/wrong
  std::vector<std::string> given;  // given sources under lessons/<dir>
};

struct manifest {
  std::vector<lesson> lessons;

  // "3", "03", "03_gather" or "gather"; nullopt when nothing matches.
  std::optional<std::size_t> find(std::string_view key) const;
};

// Throws std::runtime_error with the file and the reason.
manifest load_manifest(const std::filesystem::path& file);

}  // namespace tutor
