#!/bin/sh
# check_layers.sh -- the runtime's modules call each other without cycles, and the built-in
# kernels call nothing of the runtime but the CPU checks (they reach the host through ctx->api,
# like any plugin). Also checks that the quoted #includes of native/src form no cycle.
#
#   check_layers.sh SRC_DIR 'a.c.o|b.c.o|...'     (ctest test_layers passes the runtime's objects)
#
# Prints each module's calls into other modules ("buffer -> budget"), found with nm: a symbol a
# module's object leaves undefined that another module's object defines. tsort rejects a cycle.
set -eu
export LC_ALL=C # sort and join must agree on the order
src=$1
objects=$(printf '%s' "$2" | tr '|' ' ')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One nm over all objects, each line prefixed with its file; a module is its source's name
# (kernels/fft for src/kernels/fft.c).
modules='{ m = $1; sub(/:.*/, "", m); k = (m ~ /\/kernels\//); sub(/.*\//, "", m); sub(/\.c\.o$/, "", m);
           if (k) m = "kernels/" m }'
# shellcheck disable=SC2086
nm -A --defined-only $objects | awk "$modules"' $2 ~ /^[TDBR]$/ {print $3, m}' | sort > "$tmp/defined"
# shellcheck disable=SC2086
nm -A -u $objects | awk "$modules"' {print $NF, m}' | sort > "$tmp/undefined"
join "$tmp/undefined" "$tmp/defined" | awk '$2 != $3 {print $2, $3}' | sort -u > "$tmp/calls"

echo "module -> modules whose functions it calls:"
awk '{a[$1] = a[$1] " " $2} END {for (m in a) print "  " m " ->" a[m]}' "$tmp/calls" | sort

status=0
if ! tsort "$tmp/calls" > /dev/null 2> "$tmp/loop"; then
    echo "FAIL: the calls between modules form a cycle:" >&2
    cat "$tmp/loop" >&2
    status=1
fi
if awk '$1 ~ /^kernels\// && $2 !~ /^kernels\// && $2 != "cpu"' "$tmp/calls" | grep . >&2; then
    echo "FAIL: built-in kernels call the runtime (above) other than cpu.c; use ctx->api" >&2
    status=1
fi

# Includes: "x.h" of native/src, file -> header, no cycle.
awk 'FNR == 1 {f = FILENAME; sub(/.*\//, "", f)}
     /^#include "/ {h = $2; gsub(/"/, "", h); sub(/.*\//, "", h); print f, h}' \
    "$src"/*.c "$src"/*.h "$src"/kernels/*.c "$src"/kernels/*.h > "$tmp/includes"
if ! tsort "$tmp/includes" > /dev/null 2> "$tmp/loop"; then
    echo "FAIL: the includes of native/src form a cycle:" >&2
    cat "$tmp/loop" >&2
    status=1
fi
[ $status -eq 0 ] && echo "no cycle among $(wc -l < "$tmp/calls") module calls and $(wc -l < "$tmp/includes") includes"
exit $status
