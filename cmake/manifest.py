#!/usr/bin/env python3
"""Reads lessons/lessons.toml with a real TOML parser (tomllib) and writes
what CMake needs of it as a CMake script: one add_lesson() call per
[[lesson]], in order.

  cmake/manifest.py <lessons.toml> <out.cmake>

Only the keys the build uses are read (dir, wrong, libs, given); the tutor
and the docs read the rest. A malformed manifest stops the configure step
with the file, the lesson and the reason.
"""

import re
import sys
import tomllib

NAME = re.compile(r"[A-Za-z0-9_.:/+-]+")


def fail(message):
    print(f"lessons.toml: {message}", file=sys.stderr)
    sys.exit(1)


def names(lesson, key):
    value = lesson.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"lesson {lesson.get('dir', '?')}: '{key}' must be a list of strings")
    for v in value:
        if not NAME.fullmatch(v):
            fail(f"lesson {lesson['dir']}: '{key}' holds '{v}', which is not a plain name")
    return value


def main():
    if len(sys.argv) != 3:
        fail("usage: manifest.py <lessons.toml> <out.cmake>")
    source, out = sys.argv[1], sys.argv[2]
    try:
        with open(source, "rb") as f:
            manifest = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        fail(f"{source}: {e}")
    lessons = manifest.get("lesson")
    if not isinstance(lessons, list) or not lessons:
        fail(f"{source} has no [[lesson]] tables")
    lines = [f"# Generated from {source} by cmake/manifest.py; do not edit."]
    for lesson in lessons:
        d = lesson.get("dir", "")
        if not re.fullmatch(r"[0-9]{2}_[a-z0-9_]+", d):
            fail(f"lesson dir '{d}' must look like NN_topic")
        args = [d]
        for key, word in (("wrong", "WRONG"), ("libs", "LIBS"), ("given", "GIVEN")):
            values = names(lesson, key)
            if values:
                args += [word] + values
        lines.append(f"add_lesson({' '.join(args)})")
    text = "\n".join(lines) + "\n"
    try:
        with open(out, encoding="utf-8") as f:
            if f.read() == text:
                return  # unchanged: keep its timestamp
    except FileNotFoundError:
        pass
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
