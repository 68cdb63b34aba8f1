#!/usr/bin/env bash
# The native build's tools: a C compiler, make and cmake (Debian's gcc, make, cmake). Every build
# needs them, so scripts/run and scripts/test run this part first (scripts/setup-tools build).
# Installs what is missing when run as root on Debian; otherwise only reports.
set -euo pipefail

missing=""
for tool in gcc make cmake; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -z "$missing" ]; then
    echo "build: $(gcc --version | head -n 1); $(cmake --version | head -n 1)"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "build: missing:$missing (install Debian's gcc, make and cmake, or run scripts/setup-tools as root)" >&2
    exit 1
fi
echo "build: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends gcc libc6-dev make cmake >/dev/null \
    || { apt-get -o DPkg::Lock::Timeout=300 update -qq \
        && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends gcc libc6-dev make cmake >/dev/null; }
echo "build: $(gcc --version | head -n 1); $(cmake --version | head -n 1)"
