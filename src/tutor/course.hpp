// The course: the manifest and the learner's progress, held in memory and
// written to .asynclings/state.toml whenever they change. Watch mode and
// every subcommand go through these operations, so each thing a learner can
// do (pick a lesson, record a verdict, take a hint, reset a file, look at
// the reference) is written once.
#pragma once

#include "grade.hpp"
#include "project.hpp"
#include "state.hpp"

#include <asio/awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tutor {

// One hint as it is handed out.
struct hint {
  int task = 0;      // 1-based
  int number = 0;    // 1-based, of `of`
  int of = 0;
  std::string text;
  bool repeated = false;  // every hint of the task was shown already
};

class course {
public:
  // Loads the progress of `p`'s repository; `warning` says why it started
  // afresh when the state file was unreadable.
  explicit course(project p);

  const project& proj() const { return proj_; }
  const std::vector<lesson>& lessons() const { return proj_.lessons.lessons; }
  const lesson& at(std::size_t i) const { return lessons().at(i); }
  const progress& state() const { return state_; }
  const std::string& warning() const { return warning_; }
  bool fresh() const { return state_.fresh; }
  bool done(std::size_t i) const { return state_.done.count(at(i).dir) > 0; }
  std::size_t done_count() const { return state_.done.size(); }

  // The lesson the learner is on: the one they picked last, else the first
  // not done.
  std::size_t current() const;
  void select(std::size_t i);

  // "3", "03", "03_gather" or "gather"; the current lesson when empty.
  // Nullopt (and `error` says why) when it names none.
  std::optional<std::size_t> find(const std::optional<std::string>& key,
                                  std::string* error = nullptr) const;

  // Keeps what a verdict says: a pass marks the lesson done; a failure or a
  // compile error unmarks it (a crash or a hang says nothing about it); the
  // failing tasks are kept for `next_hint`.
  void record(std::size_t i, const verdict& v);

  // The task a hint should help with: `task` when given, else the first
  // task that failed last time, else the first whose hints are not all
  // shown, else the last task.
  int hint_task(std::size_t i, std::optional<int> task) const;
  // Shows (and counts) the next hint for that task. Nullopt when the
  // lesson or the task has no hints.
  std::optional<hint> next_hint(std::size_t i, std::optional<int> task);
  // The hints of a task shown so far, in order.
  std::vector<hint> shown_hints(std::size_t i, int task) const;

  // Puts a lesson's exercise back as shipped, once the learner's file is
  // kept as a backup; the only place that writes a learner's file. Either
  // `backup` is set, or `error` says why nothing changed.
  struct restored {
    fs::path backup;
    std::string error;
  };
  asio::awaitable<restored> reset(std::size_t i);

  // The learner's file against the reference, as a unified diff ("" when
  // they are the same).
  asio::awaitable<std::string> solution_diff(std::size_t i) const;

private:
  void save();

  project proj_;
  progress state_;
  std::string warning_;
};

}  // namespace tutor
