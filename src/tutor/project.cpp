#include "project.hpp"

#include <stdexcept>

namespace tutor {

std::string side::target_suffix() const {
  switch (what_) {
    case kind::exercise: return "exercise";
    case kind::solution: return "solution";
    case kind::wrong_answer: return "wrong_" + name_;
  }
  return "exercise";
}

std::string side::describe() const {
  switch (what_) {
    case kind::exercise: return "your exercise";
    case kind::solution: return "the reference solution";
    case kind::wrong_answer: return "wrong answer " + name_;
  }
  return {};
}

fs::path project::source(const lesson& l, const side& s) const {
  switch (s.what()) {
    case side::kind::exercise: return exercise(l);
    case side::kind::solution: return solution(l);
    case side::kind::wrong_answer:
      return build / "tests" / "wrong" / l.dir / (s.wrong_name() + ".cpp");
  }
  return exercise(l);
}

fs::path find_root(fs::path start) {
  for (auto dir = fs::absolute(start); ; dir = dir.parent_path()) {
    if (fs::exists(dir / "lessons" / "lessons.toml")) return dir;
    if (dir == dir.root_path()) break;
  }
  throw std::runtime_error(
      "no lessons/lessons.toml here or above: run this from the asynclings repository");
}

}  // namespace tutor
