#include "state.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include <unistd.h>

namespace tutor {

std::size_t progress::first_unfinished(const manifest& m) const {
  for (std::size_t i = 0; i < m.lessons.size(); ++i)
    if (!done.count(m.lessons[i].dir)) return i;
  return m.lessons.empty() ? 0 : m.lessons.size() - 1;
}

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
    if (auto* hints = t["hints"].as_table())
      for (auto& [k, v] : *hints)
        s.hints_shown[std::string(k.str())] = static_cast<int>(v.value_or(0));
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
  for (const auto& [k, v] : s.hints_shown) hints.insert(k, v);
  t.insert("hints", hints);

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
