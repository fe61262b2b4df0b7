#!/usr/bin/env bash
# Fails when a C++ source differs from .clang-format's layout (clang-format 14, Debian 12's): run
# `bash tools/check-format.sh --fix` to apply it. CTest runs the check as `format`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (tools/install-deps.sh installs it)"; exit 1; }
mapfile -t files < <(find framework experiments tools tests -name '*.cpp' -o -name '*.h' | sort)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror --style=file "${files[@]}" 2>&1 | head -40
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && echo "check-format: ${#files[@]} files formatted as .clang-format says"
[ "$status" -eq 0 ] || echo "check-format: run 'bash tools/check-format.sh --fix'"
exit "$status"
