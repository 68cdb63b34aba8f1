#!/usr/bin/env bash
# A Docker engine and the two local base images the image test builds on, for machines that cannot
# pull images (no registry reachable). As root on Debian it installs docker.io, docker-compose and
# debootstrap when missing, starts dockerd in the background when no engine answers, and makes:
#   ncs-local/build-base:bookworm    Debian 12 minbase + this machine's JDK 25 at /opt/java/openjdk
#   ncs-local/runtime-base:bookworm  Debian 12 minbase + a jlink'd JDK 25 runtime at /opt/java/openjdk
# They stand in for maven:3.9-eclipse-temurin-25 and eclipse-temurin:25-jre (the Dockerfile's
# defaults) as BUILD_IMAGE and RUNTIME_IMAGE. Otherwise (not root) it only reports what is missing.
set -euo pipefail

BUILD_BASE=ncs-local/build-base:bookworm
RUNTIME_BASE=ncs-local/runtime-base:bookworm
JDK=${NCS_BASE_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
DOCKERD_LOG=/var/log/ncs-dockerd.log
# Bumped when the recipe below changes, so that images made by an older recipe are made again.
RECIPE=2
# The modules of a Temurin JRE that a Spring Boot service can use: Java SE plus the jdk.* runtime
# modules (charsets, locales, crypto, JFR, management, jcmd, zipfs, DNS naming, Unsafe).
JRE_MODULES="java.se jdk.charsets jdk.crypto.cryptoki jdk.crypto.ec jdk.jcmd jdk.jfr jdk.localedata
jdk.management jdk.management.agent jdk.management.jfr jdk.naming.dns jdk.net jdk.nio.mapmode
jdk.security.auth jdk.security.jgss jdk.unsupported jdk.zipfs jdk.httpserver"

engine_answers() {
    timeout 20 docker info >/dev/null 2>&1
}

has_image() {
    [ "$(docker image inspect --format '{{index .Config.Labels "dev.ncs.base-recipe"}}' "$1" 2>/dev/null)" = "$RECIPE" ]
}

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    missing=""
    engine_answers || missing="$missing a running Docker engine"
    if [ -z "$missing" ]; then
        has_image "$BUILD_BASE" || missing="$missing $BUILD_BASE"
        has_image "$RUNTIME_BASE" || missing="$missing $RUNTIME_BASE"
    fi
    if [ -n "$missing" ]; then
        echo "docker: missing:$missing (run scripts/setup-tools as root on Debian)" >&2
        exit 1
    fi
    echo "docker: engine and local base images present"
    exit 0
fi

packages=""
command -v dockerd >/dev/null 2>&1 || packages="$packages docker.io"
command -v docker-compose >/dev/null 2>&1 || packages="$packages docker-compose"
command -v debootstrap >/dev/null 2>&1 || packages="$packages debootstrap"
if [ -n "$packages" ]; then
    echo "docker: installing$packages"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
    }
    # shellcheck disable=SC2086
    apt_install $packages || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt_install $packages; }
fi

if ! engine_answers; then
    echo "docker: starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        engine_answers && break
        sleep 1
    done
    if ! engine_answers; then
        echo "docker: dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:" >&2
        tail -n 20 "$DOCKERD_LOG" >&2
        exit 1
    fi
fi
echo "docker: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

if has_image "$BUILD_BASE" && has_image "$RUNTIME_BASE"; then
    echo "docker: $BUILD_BASE and $RUNTIME_BASE present"
    exit 0
fi
if ! "$JDK/bin/java" -version 2>&1 | grep -q 'version "25'; then
    echo "docker: no JDK 25 at $JDK (set NCS_BASE_JDK) to put into the base images" >&2
    exit 1
fi

work=$(mktemp -d /var/tmp/ncs-base-images.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "docker: debootstrap --variant=minbase bookworm (about a minute)"
debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
mkdir -p "$rootfs/opt/java"

import_with_java() {
    local name=$1
    tar --numeric-owner -C "$rootfs" -c . | docker import \
        --change 'ENV JAVA_HOME=/opt/java/openjdk' \
        --change 'ENV PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        --change "LABEL dev.ncs.base-recipe=$RECIPE" \
        - "$name" >/dev/null
    echo "docker: made $name ($(docker image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

if ! has_image "$BUILD_BASE"; then
    cp -a "$JDK" "$rootfs/opt/java/openjdk"
    # Debian's JDK packages link the CA certificates to /etc/ssl; the image needs the file itself.
    cp --remove-destination -L "$JDK/lib/security/cacerts" "$rootfs/opt/java/openjdk/lib/security/cacerts"
    import_with_java "$BUILD_BASE"
    rm -rf "$rootfs/opt/java/openjdk"
fi
if ! has_image "$RUNTIME_BASE"; then
    available=$("$JDK/bin/java" --list-modules | sed 's/@.*//')
    modules=$(for m in $JRE_MODULES; do grep -qx "$m" <<<"$available" && echo "$m"; done | paste -sd, -)
    "$JDK/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
        --generate-cds-archive --output "$rootfs/opt/java/openjdk" >/dev/null
    import_with_java "$RUNTIME_BASE"
fi
