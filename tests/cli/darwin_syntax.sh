#!/usr/bin/env bash
# The macOS seam must at least compile here: gcc and, when present, clang.
set -euo pipefail
src="${ANET_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
bash "$src/scripts/check_darwin.sh"
if command -v clang >/dev/null 2>&1; then CC=clang bash "$src/scripts/check_darwin.sh"; fi
