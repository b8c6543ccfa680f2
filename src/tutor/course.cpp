#include "course.hpp"

#include "process.hpp"
#include "term.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <fstream>

namespace tutor {

course::course(project p) : proj_(std::move(p)) {
  state_ = load_progress(proj_, &warning_);
}

void course::save() {
  state_.fresh = false;
  save_progress(proj_, state_);
}

std::size_t course::current() const {
  if (!state_.current.empty())
    if (auto i = proj_.lessons.find(state_.current)) return *i;
  return state_.first_unfinished(proj_.lessons);
}

void course::select(std::size_t i) {
  if (state_.current == at(i).dir && !state_.fresh) return;
  state_.current = at(i).dir;
  save();
}

std::optional<std::size_t> course::find(const std::optional<std::string>& key,
                                        std::string* error) const {
  if (!key || key->empty()) return current();
  auto i = proj_.lessons.find(*key);
  if (!i && error) {
    std::string names;
    for (const auto& l : lessons()) names += " " + l.number;
    *error = fmt::format("no lesson '{}'. Lessons:{}", *key, names);
  }
  return i;
}

void course::record(std::size_t i, const verdict& v) {
  const auto& dir = at(i).dir;
  if (v.passed())
    state_.done.insert(dir);
  else if (v.kind == verdict_kind::failed || v.kind == verdict_kind::compile_error ||
           v.kind == verdict_kind::memory_error)
    state_.done.erase(dir);
  auto failing = v.failing_tasks();
  std::erase(failing, 0);
  if (v.kind == verdict_kind::compile_error)
    state_.failing.erase(dir);  // says nothing about which task
  else
    state_.failing[dir] = failing;
  save();
}

int course::hint_task(std::size_t i, std::optional<int> task) const {
  const auto& l = at(i);
  int tasks = static_cast<int>(l.tasks.size());
  if (tasks == 0) return 0;
  if (task) return std::clamp(*task, 1, tasks);
  auto shown = [&](int t) {
    auto it = state_.hints_shown.find(l.dir);
    if (it == state_.hints_shown.end()) return 0;
    auto jt = it->second.find(t);
    return jt == it->second.end() ? 0 : jt->second;
  };
  if (auto it = state_.failing.find(l.dir); it != state_.failing.end())
    for (int t : it->second)
      if (t >= 1 && t <= tasks) return t;
  for (int t = 1; t <= tasks; ++t)
    if (shown(t) < static_cast<int>(l.tasks[t - 1].hints.size())) return t;
  return tasks;
}

std::optional<hint> course::next_hint(std::size_t i, std::optional<int> task) {
  const auto& l = at(i);
  int t = hint_task(i, task);
  if (t == 0) return std::nullopt;
  const auto& hints = l.tasks[t - 1].hints;
  if (hints.empty()) return std::nullopt;
  int& shown = state_.hints_shown[l.dir][t];
  hint h;
  h.task = t;
  h.of = static_cast<int>(hints.size());
  if (shown >= h.of) {
    h.repeated = true;
    h.number = h.of;
  } else {
    h.number = ++shown;
    save();
  }
  h.text = hints[h.number - 1];
  return h;
}

std::vector<hint> course::shown_hints(std::size_t i, int task) const {
  std::vector<hint> out;
  const auto& l = at(i);
  if (task < 1 || task > static_cast<int>(l.tasks.size())) return out;
  const auto& hints = l.tasks[task - 1].hints;
  int shown = 0;
  if (auto it = state_.hints_shown.find(l.dir); it != state_.hints_shown.end())
    if (auto jt = it->second.find(task); jt != it->second.end()) shown = jt->second;
  for (int n = 1; n <= std::min<int>(shown, hints.size()); ++n)
    out.push_back({task, n, static_cast<int>(hints.size()), hints[n - 1], false});
  return out;
}

namespace {

fs::path backup_exercise(const project& p, const lesson& l) {
  auto stamp = fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)));
  auto dir = p.state_dir() / "backups" / l.dir;
  fs::create_directories(dir);
  auto dest = dir / ("exercise-" + stamp + ".cpp");
  for (int n = 2; fs::exists(dest); ++n)
    dest = dir / fmt::format("exercise-{}-{}.cpp", stamp, n);
  fs::copy_file(p.exercise(l), dest);
  return dest;
}

// The commit that holds the course as shipped: the upstream's, when the
// learner has committed work of their own on top of it, else HEAD.
asio::awaitable<std::string> shipped_commit(const project& p) {
  for (const char* ref : {"origin/HEAD", "@{upstream}"}) {
    process_options o;
    o.cwd = p.root;
    o.stdout_only = true;
    std::vector<std::string> git{"git", "rev-parse", "--verify", "-q", ref};
    auto r = co_await run_process(std::move(git), o);
    if (r.ok() && !r.output.empty()) co_return std::string(ref);
  }
  co_return std::string("HEAD");
}

}  // namespace

asio::awaitable<course::restored> course::reset(std::size_t i) {
  const auto& l = at(i);
  auto rel = fs::relative(proj_.exercise(l), proj_.root).string();
  auto commit = co_await shipped_commit(proj_);
  process_options o;
  o.cwd = proj_.root;
  o.stdout_only = true;
  o.max_output = 16 << 20;
  std::vector<std::string> git{"git", "show", commit + ":" + rel};
  auto original = co_await run_process(std::move(git), o);
  if (!original.ok() || original.dropped || original.output.empty())
    co_return restored{{}, fmt::format("cannot read the original {} from git", rel)};
  restored r;
  try {
    r.backup = backup_exercise(proj_, l);
    // Written beside it, then renamed over it: never half a file.
    auto tmp = proj_.exercise(l);
    tmp += ".reset-tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << original.output;
      if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, proj_.exercise(l));
  } catch (const std::exception& e) {
    co_return restored{{}, e.what()};
  }
  state_.done.erase(l.dir);
  state_.failing.erase(l.dir);
  save();
  co_return r;
}

asio::awaitable<std::string> course::solution_diff(std::size_t i) const {
  const auto& l = at(i);
  std::vector<std::string> argv{"diff", "-u", "--label",
                                "your " + display_path(proj_.exercise(l)), "--label",
                                "reference " + display_path(proj_.solution(l)),
                                proj_.exercise(l).string(), proj_.solution(l).string()};
  auto diff = co_await run_process(std::move(argv));
  co_return diff.output;
}

}  // namespace tutor
