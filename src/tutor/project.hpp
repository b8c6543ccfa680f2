// Where things are: the repository, its build directory, and the files and
// targets of each lesson.
#pragma once

#include "manifest.hpp"

#include <filesystem>
#include <string>

namespace tutor {

namespace fs = std::filesystem;

struct project {
  fs::path root;   // the repository
  fs::path build;  // a configured CMake build directory
  manifest lessons;

  fs::path manifest_file() const { return root / "lessons" / "lessons.toml"; }
  fs::path exercise(const lesson& l) const { return root / "lessons" / l.dir / "exercise.cpp"; }
  fs::path solution(const lesson& l) const { return root / "solutions" / l.dir / "exercise.cpp"; }
  fs::path readme(const lesson& l) const { return root / "lessons" / l.dir / "README.md"; }
  fs::path state_dir() const { return root / ".asynclings"; }

  // side: "exercise", "solution" or "wrong_<name>"
  std::string test_target(const lesson& l, std::string_view side) const {
    return "test_" + l.number + "_" + std::string(side);
  }
  std::string demo_target(const lesson& l, std::string_view side) const {
    return "demo_" + l.number + "_" + std::string(side);
  }
  fs::path test_binary(const lesson& l, std::string_view side) const {
    return build / "tests" / test_target(l, side);
  }
  fs::path demo_binary(const lesson& l, std::string_view side) const {
    return build / "tests" / demo_target(l, side);
  }
};

// Finds the repository above `start` (the directory holding lessons/lessons.toml).
fs::path find_root(fs::path start);

}  // namespace tutor
