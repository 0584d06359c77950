#!/usr/bin/env bash
# Syntax-checks the macOS-only ANE seam (src/runtime/ane_darwin.c) on any system, against the
# minimal Apple declaration headers in src/runtime/darwin_decls/ (used only here). The flags
# are the project's (C11, -Wall -Wextra -Werror, the POSIX level CMake defines).
set -euo pipefail
cd "$(dirname "$0")/.."
CC="${CC:-cc}"
"$CC" -fsyntax-only -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
    -Isrc/runtime/darwin_decls -Iinclude -Isrc src/runtime/ane_darwin.c
echo "ane_darwin.c: syntax OK with $CC"
