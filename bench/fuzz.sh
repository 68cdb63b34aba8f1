#!/usr/bin/env bash
# The long fuzzing campaign: each libFuzzer target of native/fuzz (ASan + UBSan) for MINUTES
# minutes, with a corpus that persists between campaigns, then a line-coverage report of
# native/src reached by the corpora.
#
#   bench/fuzz.sh [MINUTES] [TARGET ...]     (default: 10 minutes each; buffers kernels catalog)
#
# Corpus:  bench/target/fuzz/corpus/<target> (git-ignored; starts from native/fuzz/corpus)
# Crashes: bench/target/fuzz/crashes/<target>-*   (replay: <build>/fuzz_<target> FILE;
#          NCS_FUZZ_TRACE=1 makes fuzz_kernels say what the input does)
# Logs:    bench/target/fuzz/<target>.log
# Needs clang and libclang-rt-14-dev (scripts/setup.d/40-clang.sh); the coverage report also
# llvm-profdata and llvm-cov (Debian's llvm package) and is skipped without them.
# After a campaign, fold new coverage into the committed seeds with
#   <build>/fuzz_<target> -merge=1 native/fuzz/corpus/<target> bench/target/fuzz/corpus/<target>
# (adds only inputs that bring new coverage; keep the seeds small).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(buffers kernels catalog)

out=bench/target/fuzz
build=native/target/build-fuzz
mkdir -p "$out/crashes"
cmake -S native/fuzz -B "$build" -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$build" -j2 >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=0
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t"
    dict=()
    [ -f "native/fuzz/$t.dict" ] && dict=(-dict="native/fuzz/$t.dict")
    echo "fuzz_$t: $minutes min, corpus $out/corpus/$t"
    if ! "$build/fuzz_$t" -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" "${dict[@]}" \
            "$out/corpus/$t" "native/fuzz/corpus/$t" >"$out/$t.log" 2>&1; then
        echo "fuzz_$t: FAILED (crash, invariant, leak or slow input): see $out/$t.log and $out/crashes/" >&2
        grep -E "invariant failed|ERROR:|SUMMARY:" "$out/$t.log" | head -5 >&2 || true
        failed=1
    fi
    awk -v t="fuzz_$t" '
        /^#[0-9]+.*DONE/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") cov = $(i + 1); if ($i == "corp:") corp = $(i + 1) } }
        /stat::number_of_executed_units/ { runs = $2 }
        /stat::average_exec_per_sec/ { speed = $2 }
        /stat::peak_rss_mb/ { rss = $2 }
        END { printf "%s: %s runs, %s exec/s, %s edges covered, corpus %s inputs, peak RSS %s MB\n", t, runs, speed, cov, corp, rss }' "$out/$t.log"
done

# Line coverage of native/src by the corpora (an uninstrumented-by-sanitizers build).
if command -v llvm-profdata >/dev/null && command -v llvm-cov >/dev/null; then
    cov="$out/build-coverage"
    cmake -S native/fuzz -B "$cov" -DCMAKE_C_COMPILER=clang -DNCS_FUZZ_COVERAGE=ON >/dev/null
    cmake --build "$cov" -j2 >/dev/null
    objects=()
    for t in "${targets[@]}"; do
        LLVM_PROFILE_FILE="$out/coverage-$t.profraw" "$cov/fuzz_$t" -runs=0 \
            "$out/corpus/$t" "native/fuzz/corpus/$t" >/dev/null 2>&1 || true
        objects+=(-object "$cov/fuzz_$t")
    done
    llvm-profdata merge -sparse "$out"/coverage-*.profraw -o "$out/coverage.profdata"
    echo "Line coverage of native/src by the corpora (llvm-cov report):"
    llvm-cov report "${objects[@]:1}" -instr-profile="$out/coverage.profdata" \
        "$PWD/native/src" | sed "s|$PWD/native/||"
else
    echo "coverage report skipped: llvm-profdata / llvm-cov missing (apt-get install llvm)"
fi
exit $failed
