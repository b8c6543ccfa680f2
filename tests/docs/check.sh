#!/usr/bin/env bash
# The docs check: builds the site from the sources with `mkdocs build
# --strict` (a broken link fails), using the demos of this build tree, then
# opens it in headless Chromium (tests/docs/browser.py). Leaves the site and
# screenshots in <build>/docs-check/ as artifacts.
#
#   tests/docs/check.sh <build dir> <source dir>
#
# Exit 77 (ctest: skipped) when Chromium or mkdocs is missing and cannot be
# installed here.
set -euo pipefail
build="$(cd "${1:?usage: check.sh <build dir> <source dir>}" && pwd)"
src="$(cd "${2:?usage: check.sh <build dir> <source dir>}" && pwd)"
out="$build/docs-check"
LIMIT=${LIMIT:-240}

if ! command -v chromium >/dev/null || ! command -v mkdocs >/dev/null; then
  "$src/scripts/setup" --quiet docs >/dev/null 2>&1 || true
fi
for tool in mkdocs chromium; do
  if ! command -v "$tool" >/dev/null; then
    echo "docs check: SKIPPED: $tool is not installed and could not be installed here" \
         "(scripts/setup docs, as root)"
    exit 77
  fi
done

rm -rf "$out"
mkdir -p "$out"
echo "docs check: generating and building the site into $out"
timeout "$LIMIT" "$src/scripts/docs" --no-build --build-dir "$build" --out "$out"
for page in index.html runtime.html benchmarks.html; do
  [ -f "$out/site/$page" ] || { echo "docs check: FAILED: no $page in the site" >&2; exit 1; }
done

echo "docs check: opening the site in headless Chromium"
timeout 120 /usr/bin/python3 "$src/tests/docs/browser.py" \
  "$out/site" "$out/docs/capture" "$out/screenshots"
echo "docs check: passed; screenshots in $out/screenshots"
