#include "grading.hpp"

#include <asio/error.hpp>
#include <asio/multiple_exceptions.hpp>
#include <asio/system_error.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace grade {

std::string type_name(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const tut::deadlock_error&) {
    return "tut::deadlock_error";
  } catch (const tut::time_limit_error&) {
    return "tut::time_limit_error";
  } catch (const asio::multiple_exceptions&) {
    return "asio::multiple_exceptions";
  } catch (const asio::system_error&) {
    return "asio::system_error";
  } catch (const std::exception& ex) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name{
        abi::__cxa_demangle(typeid(ex).name(), nullptr, nullptr, &status),
        std::free};
    return status == 0 ? std::string(name.get()) : typeid(ex).name();
  } catch (...) {
    return "a non-std exception";
  }
}

std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const asio::multiple_exceptions& ex) {
    // `a && b` throws this when more than one operand failed (a failure,
    // then the others cancelled and letting that out too); a chain
    // `a && b && c` nests them. The first, in the order written, is named.
    auto first = ex.first_exception();
    bool cancelled = false;
    for (;;) {
      try {
        std::rethrow_exception(first);
      } catch (const asio::multiple_exceptions& inner) {
        first = inner.first_exception();
        continue;
      } catch (const asio::system_error& se) {
        cancelled = se.code() == asio::error::operation_aborted;
      } catch (...) {
      }
      break;
    }
    // Only the first is kept. When that one was cancelled, say so, and
    // that `&&` cancels the rest when one fails: the failure that counts
    // may be another operand's.
    if (cancelled) {
      auto what = describe_exception(first);
      if (what.ends_with('.')) what.pop_back();
      return fmt::format("several operands of && failed; the first in the "
                         "order written was cancelled ({}), as `&&` cancels "
                         "the other operands when one fails, and Asio keeps "
                         "only the first",
                         what);
    }
    return fmt::format("several operands of && failed; the first in the "
                       "order written threw {}: {}",
                       type_name(first), describe_exception(first));
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

std::vector<std::string> unfinished_now() {
  auto trace = tut::current_trace();  // unfinished() points into it
  std::vector<std::string> names;
  for (const auto* task : trace.unfinished()) names.push_back(task->name);
  return names;
}

std::string secs(double s) {
  if (std::abs(s) < 1 && s != 0) return fmt::format("{:g} ms", std::round(s * 1e4) / 10);
  return fmt::format("{:g} s", std::round(s * 1000) / 1000);
}

std::string timelines(const tut::trace& yours, const tut::trace& reference) {
  tut::timeline_options o;
  double span = std::max(yours.elapsed.count(), reference.elapsed.count());
  for (const auto* t : {&yours, &reference})
    for (const auto& task : t->tasks)
      span = std::max(span, (task.end ? *task.end : task.start).count());
  o.span = tut::seconds{span};
  for (const auto* t : {&yours, &reference}) {
    if (!t->blocks.empty()) o.name_width = std::max<std::size_t>(o.name_width, 12);
    for (const auto& task : t->tasks)
      o.name_width = std::max(o.name_width, std::min<std::size_t>(task.name.size(), 24));
  }
  // As wide as the learner's terminal allows ($TUT_COLUMNS, from the
  // tutor): the verdict indents a message by 4, and a row ends in a label
  // such as "ended 6s · ran 3s".
  if (const char* cols = std::getenv("TUT_COLUMNS"))
    if (int n = std::atoi(cols); n > 0)
      o.width = std::clamp(n - 4 - static_cast<int>(std::max<std::size_t>(o.name_width, 4)) -
                               2 - 18,
                           20, 48);
  o.title = "your code:";
  std::string out = tut::render_timeline(yours, o);
  o.title = "reference:";
  out += "\n" + tut::render_timeline(reference, o);
  return out;
}

std::string explain(std::string_view what, const tut::trace& yours,
                    const tut::trace& reference) {
  if (yours.tasks.empty() && reference.tasks.empty())
    return fmt::format("{}\n(your code ran for {} of loop time; the reference for {})",
                       what, secs(yours.elapsed.count()), secs(reference.elapsed.count()));
  return fmt::format("{}\n\n{}", what, timelines(yours, reference));
}

}  // namespace grade
