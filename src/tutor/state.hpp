// The learner's progress as it is kept in .asynclings/state.toml (ignored by
// git). Written atomically; a missing or corrupt file starts afresh and is
// rebuilt from grading, never a crash. Only `course` reads and writes it.
#pragma once

#include "project.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace tutor {

struct progress {
  std::set<std::string> done;  // lesson dirs that passed
  std::string current;         // lesson dir the learner is on
  // Hints shown so far: lesson dir -> task number (1-based) -> how many.
  std::map<std::string, std::map<int, int>> hints_shown;
  // The tasks that failed at the lesson's last verdict (1-based), so that
  // `hint` knows which task to help with without grading again.
  std::map<std::string, std::vector<int>> failing;
  bool fresh = false;  // no usable state file: rebuild it from grading

  // The first lesson not done, or the last one when all are.
  std::size_t first_unfinished(const manifest& m) const;
};

progress load_progress(const project& p, std::string* warning = nullptr);
void save_progress(const project& p, const progress& s);

}  // namespace tutor
