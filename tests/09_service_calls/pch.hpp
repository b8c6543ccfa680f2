// Lesson 09's precompiled header: the shared one (tut/pch.hpp), the given
// HTTP/1.1 wire code and cpp-httplib, which the lesson's demo uses.
#include "tut/pch.hpp"

#include <httplib.h>

#include "wire.hpp"
