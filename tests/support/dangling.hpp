// Making a dangling reference to a by-value string parameter observable.
//
// A callback or a task that keeps a reference to a std::string parameter
// passed by value (a lambda capturing [&], a coroutine taking
// `const std::string&`) reads it after the call has returned and the string
// is gone. What it reads then is whatever that memory holds: often the old
// text, so the test passes; sometimes garbage or a crash. A scenario makes
// it certain by calling the learner's function like this:
//
//   (yours::log_later(ex, log, std::string(text)),
//    co_await asio::this_coro::executor);
//   auto reused = grade::reuse_freed(text);
//
// The co_await in the statement (it does not suspend) makes the argument a
// temporary of the scenario's own coroutine frame, so the string object is
// still there, untouched, after it is destroyed at the end of the
// statement; the buffer it owned is freed then, and the next string of the
// same length gets it: reuse_freed asks for one at once and fills it with
// '#'. A late read through the dangling reference then sees "####...", which
// read_freed tells apart from anything a correct answer logs. (Under
// AddressSanitizer the read is reported as a heap-use-after-free instead.)
//
// The text must be longer than 15 bytes: a shorter one lives inside the
// string object itself (the small-string optimisation), with no buffer to
// free, and a dangling read would see it intact.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace grade {

// A string of '#' as long as `text`; made right after `text`'s buffer was
// freed, it is given that buffer.
inline std::string reuse_freed(const std::string& text) {
  return std::string(text.size(), '#');
}

// Whether `seen` is what a dangling reference to `text` read: the '#' of
// reuse_freed.
inline bool read_freed(std::string_view seen, const std::string& text) {
  return text.size() > 15 && seen == std::string(text.size(), '#');
}

// "\"####...\" (34 '#')": such a read, shortened for a message.
inline std::string show_freed(std::string_view seen) {
  return fmt::format("\"{}...\" ({} '#')", seen.substr(0, 8), seen.size());
}

}  // namespace grade
