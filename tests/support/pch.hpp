// Headers every test source parses; precompiled once.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include "tut/tut.hpp"
