#!/usr/bin/env bash
# clang with libFuzzer (Debian's clang 14 and its compiler-rt runtimes), for the native fuzz
# targets (native/fuzz). Installs what is missing when run as root; otherwise only reports.
set -euo pipefail

has_libfuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    local dir
    dir=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$dir/t.c"
    clang -fsanitize=fuzzer,address,undefined -o "$dir/t" "$dir/t.c" >/dev/null 2>&1
    local rc=$?
    rm -rf "$dir"
    return $rc
}

if has_libfuzzer; then
    echo "clang: $(clang --version | head -n 1), libFuzzer present"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "clang: clang with libFuzzer is missing (install clang and libclang-rt-14-dev as root)" >&2
    exit 1
fi
echo "clang: installing clang and libclang-rt-14-dev"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
if ! has_libfuzzer; then
    echo "clang: installed, but clang -fsanitize=fuzzer still fails to link" >&2
    exit 1
fi
echo "clang: $(clang --version | head -n 1), libFuzzer present"
