// A run that stalled (tut::deadlock_error: nothing could run and no timer
// was pending), explained in what the trace shows: when every task but the
// waiter had ended, nothing was left to wake the waiter.
#pragma once

#include "grading.hpp"

#include <algorithm>
#include <string>
#include <string_view>

namespace grade {

// Fails when `yours` stalled. `waiter` is the traced name of what waits for
// the others ("gather"; it may be untraced), `who` names it in the message.
template <typename A, typename B>
void expect_no_stall(const outcome<A>& yours, const outcome<B>& reference,
                     std::string_view waiter, std::string_view who) {
  if (!yours.template threw<tut::deadlock_error>()) return;
  const auto& tasks = yours.trace.tasks;
  auto is_waiter = [&](const auto& t) { return t.name == waiter; };
  auto ended_or_waiter = [&](const auto& t) { return t.end || is_waiter(t); };
  std::string note;
  if (std::all_of(tasks.begin(), tasks.end(), is_waiter))
    note = fmt::format("No other task had run at all, and {} still "
                       "waited: nothing could wake it",
                       who);
  else if (std::all_of(tasks.begin(), tasks.end(), ended_or_waiter))
    note = fmt::format("Every other task had ended by then, and {} still "
                       "waited: nothing was left to wake it",
                       who);
  FAIL(explain(stalled(yours) + note, yours.trace, reference.trace));
}

}  // namespace grade
