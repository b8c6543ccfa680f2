# Warnings and sanitizers are INTERFACE targets linked privately, never
# global flags.

add_library(asynclings_warnings INTERFACE)
target_compile_options(asynclings_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wnull-dereference -Wno-unused-parameter
  # g++ 12 warns on a designated initializer that leaves members to their
  # defaults (`route{.path = "/a", .delay = 10ms}`), the way the tests
  # write their data; clang does not.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-missing-field-initializers>)

add_library(asynclings_sanitizers INTERFACE)
if(ASYNCLINGS_SANITIZE)
  list(JOIN ASYNCLINGS_SANITIZE "," _sanitizers)
  target_compile_options(asynclings_sanitizers INTERFACE
    -fsanitize=${_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(asynclings_sanitizers INTERFACE -fsanitize=${_sanitizers})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND ASYNCLINGS_SANITIZE MATCHES "undefined")
    # clang 14 cannot emit UBSan's function-type check in a coroutine's
    # parts ("Cannot represent a difference across sections"): without it.
    target_compile_options(asynclings_sanitizers INTERFACE -fno-sanitize=function)
  endif()
endif()

# Everything the project compiles links this one.
add_library(asynclings_options INTERFACE)
target_compile_features(asynclings_options INTERFACE cxx_std_20)
target_link_libraries(asynclings_options INTERFACE
  asynclings_warnings asynclings_sanitizers)

# A fast linker when there is one: it matters for the save -> verdict loop.
find_program(ASYNCLINGS_MOLD mold)
if(ASYNCLINGS_MOLD)
  target_link_options(asynclings_options INTERFACE -fuse-ld=mold)
endif()

# Line tables (file and line, no variables) for the lessons' code in every
# build, so that the tutor can say in which line of the learner's file a
# test crashed. Debug builds have full debug information already.
add_library(asynclings_line_tables INTERFACE)
target_compile_options(asynclings_line_tables INTERFACE
  $<$<NOT:$<CONFIG:Debug>>:$<$<CXX_COMPILER_ID:Clang>:-gline-tables-only>$<$<CXX_COMPILER_ID:GNU>:-g1>>)

# The learner's exercise as a shared library (ASYNCLINGS_EXERCISE_DSO) is
# linked on every save: through g++'s driver, which starts in a few
# milliseconds where clang's takes about 80 (it loads LLVM first). The
# objects are clang's, the C++ library the same (libstdc++). Not with
# sanitizers, whose runtime clang's driver chooses.
if(ASYNCLINGS_EXERCISE_DSO AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND NOT ASYNCLINGS_SANITIZE)
  find_program(ASYNCLINGS_GXX g++)
  if(ASYNCLINGS_GXX)
    string(REPLACE "<CMAKE_CXX_COMPILER>" "${ASYNCLINGS_GXX}"
           CMAKE_CXX_CREATE_SHARED_LIBRARY "${CMAKE_CXX_CREATE_SHARED_LIBRARY}")
  endif()
endif()
