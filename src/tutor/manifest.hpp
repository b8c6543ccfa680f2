// lessons/lessons.toml: the ordered list of lessons.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tutor {

struct lesson {
  std::string dir;       // "03_gather"
  std::string number;    // "03"
  std::string title;
  std::vector<std::string> concepts;
  std::string python;
  std::vector<std::string> tasks;  // titles of [task1], [task2], ...
  std::vector<std::string> hints;
  std::vector<std::string> wrong;  // fixture names under tests/<dir>/wrong
  std::vector<std::string> given;  // given sources under tests/<dir>
};

struct manifest {
  std::vector<lesson> lessons;

  // "3", "03", "03_gather" or "gather"; nullopt when nothing matches.
  std::optional<std::size_t> find(std::string_view key) const;
};

// Throws std::runtime_error with the file and the reason.
manifest load_manifest(const std::filesystem::path& file);

}  // namespace tutor
