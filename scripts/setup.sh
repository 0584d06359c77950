#!/usr/bin/env bash
# Installs what ane_trainer needs to build, test and train: Debian/Ubuntu (apt) or macOS (brew).
# Safe to run again: package managers skip what is already there.
set -euo pipefail
case "$(uname -s)" in
Linux)
    if ! command -v apt-get >/dev/null; then
        echo "setup.sh: no apt-get here; install by hand: cmake gcc pkg-config zlib openblas libcurl cjson openssl protobuf-c" >&2
        exit 1
    fi
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # Build: compiler, cmake, libraries. Data: Fashion-MNIST. Tests: clang (fuzzers,
    # sanitizer runtime), Python with numpy, pytest and torch (the oracle), chromium (renders
    # `ane_trainer report`'s page headless in tests/cli/report.sh: about 2 s).
    $SUDO apt-get install -y -qq --no-install-recommends \
        build-essential cmake pkg-config zlib1g-dev libopenblas-dev libcurl4-openssl-dev \
        libcjson-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler \
        dataset-fashion-mnist \
        clang libclang-rt-14-dev python3 python3-numpy python3-pytest python3-torch chromium >/dev/null
    ;;
Darwin)
    if ! command -v brew >/dev/null; then
        echo "setup.sh: Homebrew is needed (https://brew.sh); Accelerate comes with macOS" >&2
        exit 1
    fi
    brew install cmake pkg-config cjson protobuf-c curl
    ;;
*)
    echo "setup.sh: unsupported OS $(uname -s)" >&2
    exit 1
    ;;
esac
echo "setup.sh: dependencies installed"
