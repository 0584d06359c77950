#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a bounded time.
# `scripts/fuzz.sh [SECONDS]` (default 30 per target).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANET_FUZZ=ON \
    -DANET_BUILD_TESTS=OFF -DANET_BUILD_BENCH=OFF -DANET_FUZZ_SECONDS="$secs" >/dev/null
cmake --build build-fuzz -j "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
ctest --test-dir build-fuzz -L fuzz --output-on-failure
