#include "state.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace tutor {

std::size_t progress::first_unfinished(const manifest& m) const {
  for (std::size_t i = 0; i < m.lessons.size(); ++i)
    if (!done.count(m.lessons[i].dir)) return i;
  return m.lessons.empty() ? 0 : m.lessons.size() - 1;
}

namespace {

// "task3" -> 3; 0 when it is not such a key.
int task_number(std::string_view key) {
  if (!key.starts_with("task")) return 0;
  int n = 0;
  auto [end, ec] = std::from_chars(key.data() + 4, key.data() + key.size(), n);
  return ec == std::errc{} && end == key.data() + key.size() ? n : 0;
}

}  // namespace

progress load_progress(const project& p, std::string* warning) {
  progress s;
  auto file = p.state_dir() / "state.toml";
  if (!fs::exists(file)) {
    s.fresh = true;
    return s;
  }
  try {
    auto t = toml::parse_file(file.string());
    if (auto* done = t["done"].as_array())
      for (auto& d : *done)
        if (auto v = d.value<std::string>(); v && p.lessons.find(*v)) s.done.insert(*v);
    s.current = t["current"].value_or(std::string{});
    if (!s.current.empty() && !p.lessons.find(s.current)) s.current.clear();
    // [hints."03_gather"] task1 = 2. (An older file kept one number per
    // lesson: it no longer says which task, so it is dropped.)
    if (auto* hints = t["hints"].as_table())
      for (auto& [lesson, per_task] : *hints)
        if (auto* tasks = per_task.as_table())
          for (auto& [key, n] : *tasks)
            if (int task = task_number(key.str()); task > 0)
              s.hints_shown[std::string(lesson.str())][task] =
                  static_cast<int>(n.value_or(0));
    if (auto* failing = t["failing"].as_table())
      for (auto& [lesson, list] : *failing)
        if (auto* tasks = list.as_array())
          for (auto& n : *tasks)
            if (auto v = n.value<int64_t>(); v && *v > 0)
              s.failing[std::string(lesson.str())].push_back(static_cast<int>(*v));
  } catch (const std::exception& e) {
    if (warning)
      *warning = fmt::format("{} was unreadable ({}); starting from what "
                             "grading shows", file.string(), e.what());
    progress fresh;
    fresh.fresh = true;
    return fresh;
  }
  return s;
}

void save_progress(const project& p, const progress& s) {
  toml::table t;
  toml::array done;
  for (const auto& d : s.done) done.push_back(d);
  t.insert("done", done);
  t.insert("current", s.current);
  toml::table hints;
  for (const auto& [lesson, per_task] : s.hints_shown) {
    toml::table tasks;
    for (const auto& [task, n] : per_task)
      if (n > 0) tasks.insert(fmt::format("task{}", task), n);
    if (!tasks.empty()) hints.insert(lesson, tasks);
  }
  t.insert("hints", hints);
  toml::table failing;
  for (const auto& [lesson, tasks] : s.failing) {
    toml::array list;
    for (int n : tasks) list.push_back(n);
    failing.insert(lesson, list);
  }
  t.insert("failing", failing);

  fs::create_directories(p.state_dir());
  auto file = p.state_dir() / "state.toml";
  auto tmp = p.state_dir() / fmt::format(".state.toml.{}", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# asynclings progress; safe to delete (it is rebuilt by grading)\n"
        << t << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, file);  // atomic: readers see the old or the new file
}

}  // namespace tutor
