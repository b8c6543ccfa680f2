#include "manifest.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <charconv>
#include <stdexcept>

namespace tutor {
namespace {

std::vector<std::string> strings(const toml::table& t, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* arr = t[key].as_array())
    for (const auto& item : *arr)
      if (auto s = item.value<std::string>()) out.push_back(*s);
  return out;
}

}  // namespace

std::optional<std::size_t> manifest::find(std::string_view key) const {
  int wanted = -1;
  auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), wanted);
  bool numeric = ec == std::errc{} && end == key.data() + key.size();
  for (std::size_t i = 0; i < lessons.size(); ++i) {
    const auto& l = lessons[i];
    if (numeric && std::stoi(l.number) == wanted) return i;
    if (l.dir == key || l.dir.substr(3) == key) return i;
  }
  return std::nullopt;
}

manifest load_manifest(const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("{}:{}: {}", file.string(),
                                         e.source().begin.line,
                                         e.description()));
  }
  manifest m;
  const auto* list = root["lesson"].as_array();
  if (!list) throw std::runtime_error(file.string() + ": no [[lesson]] tables");
  for (const auto& node : *list) {
    const auto* t = node.as_table();
    if (!t) continue;
    lesson l;
    l.dir = (*t)["dir"].value_or(std::string{});
    if (l.dir.size() < 4 || !std::isdigit(l.dir[0]) || !std::isdigit(l.dir[1]) ||
        l.dir[2] != '_')
      throw std::runtime_error(fmt::format(
          "{}: lesson dir '{}' must look like NN_topic", file.string(), l.dir));
    l.number = l.dir.substr(0, 2);
    l.title = (*t)["title"].value_or(l.dir);
    l.python = (*t)["python"].value_or(std::string{});
    l.concepts = strings(*t, "concepts");
    if (const auto* tasks = (*t)["task"].as_array())
      for (const auto& tn : *tasks)
        if (const auto* tt = tn.as_table())
          l.tasks.push_back({(*tt)["title"].value_or(std::string{}), strings(*tt, "hints")});
    l.hints = strings(*t, "hints");
    l.wrong = strings(*t, "wrong");
    l.given = strings(*t, "given");
    m.lessons.push_back(std::move(l));
  }
  return m;
}

}  // namespace tutor
