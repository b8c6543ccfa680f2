// What a fuzz target (tests/common/fuzz_*.cpp, tests/15_websockets/
// fuzz_frames.cpp) does when an invariant it checks is broken: it says
// which, and aborts, so that libFuzzer keeps the input that broke it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace fuzz
