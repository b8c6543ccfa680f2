// Lesson 09, given: the dashboard and its parts. Plain data, the same types
// for your code (namespace lesson09) and the reference, which lesson.hpp
// names with using-declarations.
#pragma once

#include <optional>
#include <string>

namespace services {

// A part of the dashboard that may be missing: its text, or why not.
struct section {
  std::optional<std::string> text;
  std::string error;  // what() of the failure, when `text` is empty
  bool operator==(const section&) const = default;
};

struct dashboard {
  std::string user;
  section orders;
  section notifications;
  bool operator==(const dashboard&) const = default;
};

struct service_urls {
  std::string user;
  std::string orders;
  std::string notifications;
};

}  // namespace services
