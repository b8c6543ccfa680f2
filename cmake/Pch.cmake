# Precompiled headers, the main lever of the save -> verdict loop.
#
#   asynclings_add_pch(<target> <header>)   an OBJECT library whose only job
#                                           is to precompile <header>
#   asynclings_use_pch(<target> <pch>)      <target>'s sources use it
#   asynclings_link_pch_code(<exe> <pch>)   <exe> links the PCH's code
#
# With clang (ASYNCLINGS_PCH_CODEGEN), the precompiled header also keeps the
# code of what it instantiates (-fmodules-codegen, the cc1 side of
# -fpch-codegen), and that code is compiled once into an object of its own:
# a source that uses the header then compiles only its own functions, not
# Asio's templates again. Lesson 10's exercise: 5.3 s -> 1.9 s. Every
# executable whose sources use such a header must link its code
# (asynclings_link_pch_code).

if(ASYNCLINGS_PCH AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(_pch_codegen_default ON)
else()
  set(_pch_codegen_default OFF)
endif()
option(ASYNCLINGS_PCH_CODEGEN
  "clang: compile what the precompiled headers instantiate once, into an object of its own"
  ${_pch_codegen_default})
if(ASYNCLINGS_PCH_CODEGEN AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "ASYNCLINGS_PCH_CODEGEN needs clang")
endif()

function(asynclings_add_pch target header)
  add_library(${target} OBJECT ${PROJECT_SOURCE_DIR}/src/tut/pch.cpp)
  target_link_libraries(${target} PUBLIC tut PRIVATE asynclings_options)
  if(NOT ASYNCLINGS_PCH)
    return()
  endif()
  target_precompile_headers(${target} PRIVATE ${header})
  if(NOT ASYNCLINGS_PCH_CODEGEN)
    return()
  endif()
  target_compile_options(${target} PRIVATE -Xclang -fmodules-codegen)
  set(pch ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${target}.dir/cmake_pch.hxx.pch)
  set(code ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${target}.dir/pch_code.o)
  add_custom_command(
    OUTPUT ${code}
    COMMAND ${CMAKE_CXX_COMPILER} -std=gnu++20 -ffunction-sections
            $<$<BOOL:${CMAKE_POSITION_INDEPENDENT_CODE}>:-fPIC>
            "$<TARGET_PROPERTY:asynclings_sanitizers,INTERFACE_COMPILE_OPTIONS>"
            -c ${pch} -o ${code}
    DEPENDS ${target} ${pch}
    COMMENT "Compiling the code of ${target}'s precompiled header"
    COMMAND_EXPAND_LISTS
    VERBATIM)
  add_library(${target}_code STATIC ${code})
  set_source_files_properties(${code} PROPERTIES EXTERNAL_OBJECT ON GENERATED ON)
  set_target_properties(${target}_code PROPERTIES LINKER_LANGUAGE CXX)
endfunction()

function(asynclings_use_pch target pch)
  if(ASYNCLINGS_PCH)
    target_precompile_headers(${target} REUSE_FROM ${pch})
  endif()
endfunction()

# The header's code holds every inline function of the headers, also ones
# no program calls and that call into a library's internals (libstdc++'s
# std::filesystem::path has such a private constructor): each function in a
# section of its own, and the linker drops the sections nothing uses; not
# in a program that exports its symbols to the exercise's shared library
# (ENABLE_EXPORTS), which may need any of them.
function(asynclings_link_pch_code exe pch)
  if(ASYNCLINGS_PCH_CODEGEN)
    target_link_libraries(${exe} PRIVATE ${pch}_code)
    get_target_property(exports ${exe} ENABLE_EXPORTS)
    if(NOT exports)
      target_link_options(${exe} PRIVATE -Wl,--gc-sections)
    endif()
  endif()
endfunction()
