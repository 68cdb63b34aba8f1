#!/usr/bin/env bash
# The fuzz targets' short run, as the build runs it (native/pom.xml, test phase):
#   native/fuzz/ci.sh [BUILD_DIR]          (default native/target/build-fuzz)
# Builds the targets with clang (ASan + UBSan + libFuzzer), replays the committed seeds, then
# fuzzes each target for NCS_FUZZ_SECONDS (default 20). A crash, a broken invariant, a leak or a
# slow input (> 10 s) fails. Without clang's libFuzzer it skips with a message, unless
# NCS_REQUIRE_TOOLS=1 (CI after scripts/setup-tools), which makes it fail instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../target/build-fuzz}"
seconds="${NCS_FUZZ_SECONDS:-20}"

libfuzzer_works() {
    command -v clang >/dev/null 2>&1 || return 1
    local dir rc
    dir=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$dir/t.c"
    if clang -fsanitize=fuzzer,address,undefined -o "$dir/t" "$dir/t.c" >/dev/null 2>&1; then rc=0; else rc=1; fi
    rm -rf "$dir"
    return $rc
}

if ! libfuzzer_works; then
    if [ "${NCS_REQUIRE_TOOLS:-0}" = 1 ]; then
        echo "fuzz: clang with libFuzzer is missing and NCS_REQUIRE_TOOLS=1 (scripts/setup.d/40-clang.sh installs it)" >&2
        exit 1
    fi
    echo "fuzz: SKIPPED: clang with libFuzzer is missing (install clang and libclang-rt-14-dev, or run scripts/setup-tools as root)"
    exit 0
fi

cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER=clang -DNCS_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build "$build" -j2
ctest --test-dir "$build" -L fuzz --output-on-failure
for log in "$build"/Testing/Temporary/LastTest.log; do
    # One line per target: executions, speed and coverage of the timed runs.
    awk '/^[0-9]+\/[0-9]+ Test: fuzz_[a-z]+$/ { name = $3 }
         /stat::number_of_executed_units/ { runs = $2 }
         /stat::average_exec_per_sec/ { speed = $2 }
         /^#[0-9]+.*DONE/ { for (i = 1; i <= NF; i++) if ($i == "cov:") cov = $(i + 1) }
         /^Test (Passed|Failed)/ { if (name != "" && runs != "") printf "fuzz: %s: %s runs, %s exec/s, cov %s edges\n", name, runs, speed, cov; name = ""; runs = "" }' "$log"
done
