# add_lesson(03_gather [WRONG name...] [LIBS target...] [GIVEN file...])
# makes one lesson's targets:
#   lesson03_exercise   the learner's lessons/03_gather/exercise.cpp
#   lesson03_solution   solutions/03_gather/exercise.cpp, same namespace
#   lesson03_reference  the solution again, its namespace renamed
#                       (lesson03 -> lesson03_reference) so a test binary can
#                       run the reference beside the code it grades
#   test_03_exercise / test_03_solution / test_03_wrong_<name>
#   demo_03_exercise / demo_03_solution   lessons/03_gather/main.cpp
# and the ctest entries, labelled with the lesson's directory name.
#
# The learner's side, lessons/03_gather/: the interface (lesson.hpp), the
# exercise, the demo, and given code (GIVEN: sources such as
# given/server.cpp that call the learner's code or are called by it,
# compiled once for each namespace, so a save recompiles only exercise.cpp).
# Code later lessons share is in lessons/common/ (asynclings_common, and
# asynclings_web for the HTTP stack and the server core).
#
# The grading side, tests/03_gather/: test.cpp (which includes the
# generated sides.hpp, tests/support/sides.hpp.in), fakes and harnesses,
# and the wrong answers (typical mistakes kept as fixtures),
# tests/03_gather/wrong/<name>.patch: a diff against the reference
# solution, applied at build time, so the fixture shows exactly the mistake
# and nothing else. A lesson whose code uses more than the shared
# precompiled header holds (tut/pch.hpp) may have its own,
# tests/03_gather/pch.hpp, which may also instantiate what the lesson
# awaits (cmake/Pch.cmake); the lesson's sources then use that one.
# LIBS: extra libraries the lesson's code uses, e.g. httplib::httplib, or
# asynclings_web (lessons/common's HTTP stack and server core).

find_program(ASYNCLINGS_PATCH patch REQUIRED)
find_package(Python3 3.11 REQUIRED COMPONENTS Interpreter)  # tomllib

# Code that later lessons reuse of earlier ones, written once: what lessons
# 03-08 taught (asynclings_common, linked by every lesson), and the HTTP
# stack and the server core of lessons 09-11 (asynclings_web, linked by the
# lessons that list it under `libs`), so that the first start, which builds
# lesson 01, does not compile the web lessons' code.
add_library(asynclings_common STATIC
  ${PROJECT_SOURCE_DIR}/lessons/common/gather.cpp
  ${PROJECT_SOURCE_DIR}/lessons/common/semaphore.cpp)
target_include_directories(asynclings_common PUBLIC ${PROJECT_SOURCE_DIR}/lessons)
target_link_libraries(asynclings_common PUBLIC tut PRIVATE asynclings_options)

add_library(asynclings_web STATIC
  ${PROJECT_SOURCE_DIR}/lessons/common/http.cpp
  ${PROJECT_SOURCE_DIR}/lessons/common/http_client.cpp
  ${PROJECT_SOURCE_DIR}/lessons/common/serve.cpp
  ${PROJECT_SOURCE_DIR}/lessons/common/server.cpp)
target_link_libraries(asynclings_web PUBLIC asynclings_common PRIVATE asynclings_options)

# With ASYNCLINGS_EXERCISE_DSO (the tutor preset), the learner's exercise
# is a shared library of its own (tests/liblessonNN_exercise.so), and the
# test program and the demo that run it are not relinked when it changes
# (LINK_DEPENDS_NO_SHARED): a save compiles exercise.cpp and links that one
# object, not the whole test program. So that any later version of the file
# finds what it calls, once, such a program holds the whole of the
# project's libraries it links (`libs`) and exports every symbol
# (ENABLE_EXPORTS): the library's references to Asio's statics (service
# ids, error categories), to tut's clock and to the precompiled headers'
# code all bind to the program's one copy. So nothing is dropped
# (--gc-sections would keep every exported symbol anyway), and the
# precompiled headers' code keeps inline functions no program calls that
# reach into a library's internals (libstdc++'s std::filesystem::path has a
# private constructor that calls an unexported function): the link lets
# such references from objects stand. Bound at load (-z now), a function
# the file no longer defines stops the program before any test, with the
# loader's "undefined symbol", which the tutor reads.
function(asynclings_run_exercise_dso exe)
  set_target_properties(${exe} PROPERTIES ENABLE_EXPORTS ON LINK_DEPENDS_NO_SHARED ON)
  set(whole "")
  foreach(lib IN LISTS ARGN)
    if(TARGET ${lib})
      get_target_property(type ${lib} TYPE)
      get_target_property(imported ${lib} IMPORTED)
      if(type STREQUAL "STATIC_LIBRARY" AND NOT imported)
        string(APPEND whole " $<TARGET_FILE:${lib}>")
      endif()
    endif()
  endforeach()
  target_link_options(${exe} PRIVATE LINKER:-z,now
    LINKER:--unresolved-symbols=ignore-in-object-files
    "SHELL:-Wl,--whole-archive${whole} -Wl,--no-whole-archive")
endfunction()

function(add_lesson dir)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "WRONG;LIBS;GIVEN")
  string(REGEX MATCH "^[0-9][0-9]" num "${dir}")
  if(NOT num)
    message(FATAL_ERROR "lesson directory '${dir}' must start with two digits")
  endif()
  set(ns lesson${num})
  set(lesson_dir ${PROJECT_SOURCE_DIR}/lessons/${dir})
  set(solution_dir ${PROJECT_SOURCE_DIR}/solutions/${dir})
  set(test_dir ${PROJECT_SOURCE_DIR}/tests/${dir})
  foreach(required ${lesson_dir}/exercise.cpp ${lesson_dir}/main.cpp
                   ${lesson_dir}/README.md ${lesson_dir}/lesson.hpp
                   ${solution_dir}/exercise.cpp ${test_dir}/test.cpp)
    if(NOT EXISTS ${required})
      message(FATAL_ERROR "lesson ${dir}: missing ${required}")
    endif()
  endforeach()

  # The tests' prologue for this lesson's namespace.
  set(sides_dir ${CMAKE_CURRENT_BINARY_DIR}/sides/${dir})
  set(LESSON_NS ${ns})
  configure_file(${PROJECT_SOURCE_DIR}/tests/support/sides.hpp.in
                 ${sides_dir}/sides.hpp @ONLY)

  set(pch tut_pch)
  if(EXISTS ${test_dir}/pch.hpp)
    set(pch ${ns}_pch)
    asynclings_add_pch(${pch} ${test_dir}/pch.hpp)
    target_include_directories(${pch} PRIVATE ${lesson_dir})
    target_link_libraries(${pch} PRIVATE asynclings_common ${arg_LIBS})
  endif()

  # One object library per piece of code; each is compiled once. The
  # learner's side sees its lesson directory and lessons/common, never
  # tests/.
  macro(lesson_object name source)
    add_library(${name} OBJECT ${source})
    target_include_directories(${name} PRIVATE ${lesson_dir})
    target_link_libraries(${name} PRIVATE tut asynclings_common asynclings_options
                          asynclings_line_tables ${arg_LIBS})
    asynclings_use_pch(${name} ${pch})
  endmacro()
  lesson_object(${ns}_exercise ${lesson_dir}/exercise.cpp)
  lesson_object(${ns}_solution ${solution_dir}/exercise.cpp)
  lesson_object(${ns}_reference ${solution_dir}/exercise.cpp)
  target_compile_definitions(${ns}_reference PRIVATE ${ns}=${ns}_reference)
  lesson_object(${ns}_demo_main ${lesson_dir}/main.cpp)
  # The lesson's given code, once for the learner's side and once, renamed,
  # for the reference: saving exercise.cpp recompiles neither.
  set(given "")
  set(given_reference "")
  if(arg_GIVEN)
    list(TRANSFORM arg_GIVEN PREPEND ${lesson_dir}/ OUTPUT_VARIABLE given_sources)
    foreach(source IN LISTS given_sources)
      if(NOT EXISTS ${source})
        message(FATAL_ERROR "lesson ${dir}: given source ${source} is missing")
      endif()
    endforeach()
    lesson_object(${ns}_given "${given_sources}")
    lesson_object(${ns}_given_reference "${given_sources}")
    target_compile_definitions(${ns}_given_reference PRIVATE ${ns}=${ns}_reference)
    set(given ${ns}_given)
    set(given_reference ${ns}_given_reference)
  endif()

  add_library(${ns}_tests OBJECT ${test_dir}/test.cpp)
  target_include_directories(${ns}_tests PRIVATE ${sides_dir} ${test_dir} ${lesson_dir})
  target_link_libraries(${ns}_tests PRIVATE tut tut_grading asynclings_common
                        asynclings_options ${arg_LIBS})
  if(ASYNCLINGS_PCH)
    target_precompile_headers(${ns}_tests REUSE_FROM tut_grading)
  endif()

  set(sides exercise solution)
  foreach(wrong IN LISTS arg_WRONG)
    set(patch_file ${test_dir}/wrong/${wrong}.patch)
    set(source ${CMAKE_CURRENT_BINARY_DIR}/wrong/${dir}/${wrong}.cpp)
    if(NOT EXISTS ${patch_file})
      if(EXISTS ${test_dir}/wrong/${wrong}.cpp)
        # A whole file instead of a patch (being written; convert it with
        # `diff -u solutions/<dir>/exercise.cpp it > <name>.patch`).
        lesson_object(${ns}_wrong_${wrong} ${test_dir}/wrong/${wrong}.cpp)
        list(APPEND sides wrong_${wrong})
        continue()
      endif()
      message(FATAL_ERROR "lesson ${dir}: wrong answer '${wrong}' has no ${patch_file}")
    endif()
    add_custom_command(
      OUTPUT ${source}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/wrong/${dir}
      COMMAND ${ASYNCLINGS_PATCH} --quiet --force --output=${source}
              ${solution_dir}/exercise.cpp ${patch_file}
      DEPENDS ${solution_dir}/exercise.cpp ${patch_file}
      COMMENT "Applying wrong answer ${dir}/${wrong}.patch to the reference"
      VERBATIM)
    lesson_object(${ns}_wrong_${wrong} ${source})
    list(APPEND sides wrong_${wrong})
  endforeach()

  # The learner's code, as the programs that run it link it: its object,
  # or (ASYNCLINGS_EXERCISE_DSO) a shared library of its own.
  if(ASYNCLINGS_EXERCISE_DSO)
    add_library(${ns}_exercise_dso SHARED $<TARGET_OBJECTS:${ns}_exercise>)
    set_target_properties(${ns}_exercise_dso PROPERTIES
      OUTPUT_NAME ${ns}_exercise LINKER_LANGUAGE CXX)
    target_link_libraries(${ns}_exercise_dso PRIVATE asynclings_options)
    target_link_options(${ns}_exercise_dso PRIVATE LINKER:-z,now)
  endif()
  macro(link_side_code exe side)
    if("${side}" STREQUAL "exercise" AND ASYNCLINGS_EXERCISE_DSO)
      asynclings_run_exercise_dso(${exe} tut asynclings_common ${arg_LIBS})
      target_link_libraries(${exe} PRIVATE ${ns}_exercise_dso)
    else()
      target_link_libraries(${exe} PRIVATE ${ns}_${side})
    endif()
  endmacro()

  foreach(side IN LISTS sides)
    add_executable(test_${num}_${side})
    link_side_code(test_${num}_${side} ${side})
    target_link_libraries(test_${num}_${side} PRIVATE
      ${ns}_tests ${given} ${ns}_reference ${given_reference}
      asynclings_common tut tut_grading Catch2::Catch2WithMain asynclings_options
      ${arg_LIBS})
    asynclings_link_pch_code(test_${num}_${side} ${pch})
  endforeach()
  foreach(side exercise solution)
    add_executable(demo_${num}_${side})
    link_side_code(demo_${num}_${side} ${side})
    target_link_libraries(demo_${num}_${side} PRIVATE
      ${ns}_demo_main ${given} asynclings_common tut
      asynclings_options ${arg_LIBS})
    asynclings_link_pch_code(demo_${num}_${side} ${pch})
  endforeach()
  add_custom_target(lesson${num} DEPENDS test_${num}_exercise demo_${num}_exercise)

  # The reference passes every test; the shipped exercise and each wrong
  # answer fail at least one (and fail cleanly: no crash, no hang).
  # Catch2's console reporter wraps at 80 columns and splits timelines;
  # the compact one prints messages as they are.
  add_test(NAME ${dir}.solution COMMAND test_${num}_solution --reporter compact)
  set(names ${dir}.solution)
  foreach(side IN LISTS sides)
    if(side STREQUAL "solution")
      continue()
    endif()
    add_test(NAME ${dir}.${side}_fails
             COMMAND asynclings --root ${PROJECT_SOURCE_DIR} dev expect-fail
                     $<TARGET_FILE:test_${num}_${side}>)
    list(APPEND names ${dir}.${side}_fails)
  endforeach()
  set_tests_properties(${names} PROPERTIES LABELS "${dir}" TIMEOUT 60)
endfunction()

# The manifest is the one list of lessons: CMake, the tutor and the docs
# generator all read it, each with a real TOML parser. cmake/manifest.py
# (python3's tomllib) turns it into one add_lesson() call per [[lesson]].
function(add_lessons_from_manifest manifest)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${manifest} ${PROJECT_SOURCE_DIR}/cmake/manifest.py)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/lessons.cmake)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/cmake/manifest.py
            ${manifest} ${script}
    RESULT_VARIABLE status
    ERROR_VARIABLE error)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${error}")
  endif()
  include(${script})
  add_common_tests()
endfunction()

# lessons/common's own tests (tests/common/): the code the lessons share,
# tested on its own, beside the fuzz targets of its parsers (scripts/fuzz).
function(add_common_tests)
  set(dir ${PROJECT_SOURCE_DIR}/tests/common)
  add_executable(test_common ${dir}/http_test.cpp ${dir}/server_test.cpp)
  target_link_libraries(test_common PRIVATE
    asynclings_web tut tut_grading Catch2::Catch2WithMain asynclings_options)
  if(ASYNCLINGS_PCH)
    target_precompile_headers(test_common REUSE_FROM tut_grading)
  endif()
  add_test(NAME common COMMAND test_common --reporter compact)
  set_tests_properties(common PROPERTIES LABELS common TIMEOUT 60)
endfunction()
