#!/usr/bin/env bash
# An editor with clangd (VS Code's clangd extension, Neovim, Emacs) opened on
# any exercise or solution reports no error, with no setup by the learner:
# the repository's .clangd points clangd at the tutor preset's build.
# Runs `clangd --check` on every lessons/*/exercise.cpp and
# solutions/*/exercise.cpp, as shipped, two at a time.
#
#   tests/tutor/clangd.sh <repository> <build dir>
#
# Exit 77 (ctest: skipped) without clangd-14.
set -euo pipefail
src="$(cd "${1:?usage: clangd.sh <repository> <build dir>}" && pwd)"
build="$(cd "${2:?usage: clangd.sh <repository> <build dir>}" && pwd)"
clangd="$(command -v clangd-14 || command -v clangd || true)"
if [ -z "$clangd" ]; then
  echo "clangd check: SKIPPED: clangd is not installed (scripts/setup tutor)"
  exit 77
fi
cd "$src"
extra=""
if [ "$build" != "$src/build/tutor" ]; then
  # Not the build .clangd names: point clangd at this one.
  extra="--compile-commands-dir=$build"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
files=(lessons/[0-9][0-9]_*/exercise.cpp solutions/[0-9][0-9]_*/exercise.cpp)
printf '%s\n' "${files[@]}" | xargs -P 2 -I{} sh -c \
  '"$0" --check="$1" --check-lines=1 ${2:+"$2"} > "$3/$(echo "$1" | tr / _).log" 2>&1 || true' \
  "$clangd" {} "$extra" "$out"
failed=0
for f in "${files[@]}"; do
  log="$out/$(echo "$f" | tr / _).log"
  line="$(grep -o 'All checks completed, [0-9]* errors' "$log" || true)"
  errors="${line//[!0-9]/}"
  if [ "$errors" = "0" ]; then
    echo "clangd: $f: 0 errors"
  else
    failed=1
    echo "clangd: $f: ${errors:-no result} errors" >&2
    grep -E '^E\[' "$log" | head -n 10 >&2 || tail -n 20 "$log" >&2
  fi
done
[ "$failed" = 0 ] && echo "clangd check: passed (${#files[@]} files)"
exit "$failed"
