// Lesson 08's precompiled header: the shared one (tut/pch.hpp), the thread
// pool and cpp-httplib's blocking client, which the lesson wraps.
#include "tut/pch.hpp"

#include <asio/thread_pool.hpp>
#include <httplib.h>
