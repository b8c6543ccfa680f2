// Where things are: the repository, its build directory, and the files and
// targets of each lesson.
#pragma once

#include "manifest.hpp"

#include <filesystem>
#include <string>

namespace tutor {

namespace fs = std::filesystem;

// What a grading run builds and grades: the learner's exercise, the
// reference solution, or one of the lesson's kept wrong answers.
class side {
public:
  enum class kind { exercise, solution, wrong_answer };

  static side exercise() { return side(kind::exercise, {}); }
  static side solution() { return side(kind::solution, {}); }
  static side wrong_answer(std::string name) {
    return side(kind::wrong_answer, std::move(name));
  }

  kind what() const { return what_; }
  const std::string& wrong_name() const { return name_; }
  // The CMake target suffix: exercise, solution, wrong_<name>.
  std::string target_suffix() const;
  // For people: "your exercise", "the reference solution", "wrong answer x".
  std::string describe() const;

  bool operator==(const side&) const = default;

private:
  side(kind k, std::string name) : what_(k), name_(std::move(name)) {}
  kind what_;
  std::string name_;
};

struct project {
  fs::path root;   // the repository
  fs::path build;  // a configured CMake build directory
  manifest lessons;

  fs::path manifest_file() const { return root / "lessons" / "lessons.toml"; }
  fs::path lesson_dir(const lesson& l) const { return root / "lessons" / l.dir; }
  fs::path exercise(const lesson& l) const { return lesson_dir(l) / "exercise.cpp"; }
  fs::path solution(const lesson& l) const { return root / "solutions" / l.dir / "exercise.cpp"; }
  fs::path readme(const lesson& l) const { return lesson_dir(l) / "README.md"; }
  fs::path state_dir() const { return root / ".asynclings"; }
  // The source file a side's code is in (a wrong answer is made at build
  // time from its patch).
  fs::path source(const lesson& l, const side& s) const;

  std::string test_target(const lesson& l, const side& s) const {
    return "test_" + l.number + "_" + s.target_suffix();
  }
  std::string demo_target(const lesson& l, const side& s) const {
    return "demo_" + l.number + "_" + s.target_suffix();
  }
  fs::path test_binary(const lesson& l, const side& s) const {
    return build / "tests" / test_target(l, s);
  }
  fs::path demo_binary(const lesson& l, const side& s) const {
    return build / "tests" / demo_target(l, s);
  }
};

// Finds the repository above `start` (the directory holding lessons/lessons.toml).
fs::path find_root(fs::path start);

}  // namespace tutor
