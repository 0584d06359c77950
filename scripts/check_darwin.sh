#!/usr/bin/env bash
# Syntax-checks the macOS-only files on any system, against the minimal Apple declaration
# headers in src/runtime/darwin_decls/ and src/coreml/darwin_decls/ (used only here):
#   src/runtime/ane_darwin.c         the ANE seam (AppleNeuralEngine.framework)
#   src/coreml/compute_plan_darwin.c `check --on-device` (Core ML's MLComputePlan)
#   src/runtime/ane_host.c           its macOS branch (sysctl: OS version, chip name)
# The flags are the project's (C11, -Wall -Wextra -Werror, the POSIX level CMake defines).
set -euo pipefail
cd "$(dirname "$0")/.."
CC="${CC:-cc}"
FLAGS=(-fsyntax-only -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc)
"$CC" "${FLAGS[@]}" -Isrc/runtime/darwin_decls src/runtime/ane_darwin.c
echo "ane_darwin.c: syntax OK with $CC"
"$CC" "${FLAGS[@]}" -D__APPLE__ -Isrc/runtime/darwin_decls src/runtime/ane_host.c
echo "ane_host.c (macOS branch): syntax OK with $CC"
"$CC" "${FLAGS[@]}" -Isrc/runtime/darwin_decls -Isrc/coreml/darwin_decls src/coreml/compute_plan_darwin.c
echo "compute_plan_darwin.c: syntax OK with $CC"
