// Headers nearly every lesson source parses; precompiled once.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <fmt/format.h>
#include "tut/tut.hpp"
