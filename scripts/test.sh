#!/bin/sh
# Builds btt three ways and runs every test:
#   1. Release build, whole CTest suite (unit + interop with real tools);
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, whole suite again;
#   3. libFuzzer build, each fuzz target for a short bounded time (FUZZ_SECONDS, default 10:
#      a smoke run that keeps CI under 45 minutes; fuzz longer by hand: bash tests/fuzz/run.sh 600).
# Dependencies come from scripts/install-deps.sh (run it first, as root).
set -eu
cd "$(dirname "$0")/.."
export BTT_DHT_BOOTSTRAP=none   # no test ever talks to the Internet
jobs=$(nproc)

echo "== release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

echo "== asan+ubsan build and tests"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$jobs"
ctest --preset asan-ubsan -j "$jobs"

echo "== fuzz targets"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-10}"

echo "== all test stages passed"
