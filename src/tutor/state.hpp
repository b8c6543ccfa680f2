// The learner's progress, kept in .asynclings/state.toml (ignored by git).
// Written atomically; a missing or corrupt file starts afresh and is
// rebuilt from grading, never a crash.
#pragma once

#include "project.hpp"

#include <map>
#include <set>
#include <string>

namespace tutor {

struct progress {
  std::set<std::string> done;               // lesson dirs that passed
  std::string current;                      // lesson dir the learner is on
  std::map<std::string, int> hints_shown;   // per lesson dir
  bool fresh = false;  // no usable state file: rebuild it from grading

  // The first lesson not done, or the last one when all are.
  std::size_t first_unfinished(const manifest& m) const;
};

progress load_progress(const project& p, std::string* warning = nullptr);
void save_progress(const project& p, const progress& s);

}  // namespace tutor
