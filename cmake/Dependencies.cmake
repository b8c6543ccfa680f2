# Every dependency is a Debian 12 package (scripts/setup installs them);
# nothing is vendored or downloaded.

find_package(Threads REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(tomlplusplus 3 REQUIRED)
find_package(CLI11 2 REQUIRED)
find_package(PkgConfig REQUIRED)

# cpp-httplib ships no CMake config. Its pkg-config module carries compile
# definitions (OpenSSL, zlib, brotli) that must match how the library was
# built: without them the class layouts differ and programs crash.
pkg_check_modules(httplib REQUIRED IMPORTED_TARGET cpp-httplib>=0.11)
add_library(httplib::httplib ALIAS PkgConfig::httplib)

# SQLite (libsqlite3-dev), for lesson 14: SQLite::SQLite3.
find_package(SQLite3 3.35 REQUIRED)  # 3.35: INSERT ... RETURNING

# OpenSSL's libcrypto (libssl-dev): SHA-1 for lesson 15's WebSocket
# handshake (OpenSSL::Crypto, in the lesson's libs).
find_package(OpenSSL 3 REQUIRED COMPONENTS Crypto)

# Standalone Asio (libasio-dev 1.22.1) is header-only.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
if(NOT EXISTS "${ASIO_INCLUDE_DIR}/asio/experimental/awaitable_operators.hpp")
  message(FATAL_ERROR "Asio at ${ASIO_INCLUDE_DIR} is too old: need 1.22 or newer")
endif()
add_library(asynclings_asio INTERFACE)
add_library(asio::asio ALIAS asynclings_asio)
target_include_directories(asynclings_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(asynclings_asio INTERFACE
  ASIO_NO_DEPRECATED
  # Each thread keeps this many freed coroutine frames and operations of a
  # kind for reuse (Asio's default: 2). A request to lesson 10's server
  # nests five frames, three of them alive while it waits: with 2, most
  # went back to malloc; with 16, a request costs 2 mallocs instead of 7.
  ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16
  # Asio 1.22 only detects coroutine support by itself with g++.
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT ASIO_HAS_STD_COROUTINE>)
target_link_libraries(asynclings_asio INTERFACE Threads::Threads)
target_compile_features(asynclings_asio INTERFACE cxx_std_20)

if(ASYNCLINGS_TESTS)
  find_package(Catch2 2.13 REQUIRED)
endif()
