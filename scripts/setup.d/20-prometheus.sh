#!/usr/bin/env bash
# Prometheus and promtool (Debian's package), for the monitoring test, which runs its own Prometheus
# process on a free port. The package's own service is kept from running: it would listen on 9090,
# NCS's management port. Installs what is missing when run as root; otherwise only reports.
set -euo pipefail

report() {
    echo "prometheus: $(/usr/bin/prometheus --version 2>&1 | head -n 1)"
}

# The package's daemon: /usr/bin/prometheus running as the package's user "prometheus".
package_daemon_pids() {
    local uid dir
    uid=$(id -u prometheus 2>/dev/null) || return 0
    for dir in /proc/[0-9]*; do
        if [ "$(stat -c %u "$dir" 2>/dev/null)" = "$uid" ] \
            && [ "$(readlink "$dir/exe" 2>/dev/null)" = /usr/bin/prometheus ]; then
            echo "${dir#/proc/}"
        fi
    done
}

stop_package_service() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        command -v update-rc.d >/dev/null 2>&1 && update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    local pid
    for pid in $(package_daemon_pids); do
        kill "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        [ -z "$(package_daemon_pids)" ] && return 0
        sleep 0.1
    done
    echo "prometheus: the package's service is still running (pid $(package_daemon_pids))" >&2
    return 1
}

if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
    [ "$(id -u)" = 0 ] && stop_package_service
    report
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus: prometheus/promtool are missing (install Debian's prometheus as root)" >&2
    exit 1
fi

echo "prometheus: installing Debian's prometheus"
# invoke-rc.d and deb-systemd-invoke ask policy-rc.d whether to start a service; 101 = "no".
# Only a policy this script created is removed again.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() {
    apt-get -o DPkg::Lock::Timeout=300 "$@"
}
apt_get install -y -qq --no-install-recommends prometheus >/dev/null \
    || { apt_get update -qq && apt_get install -y -qq --no-install-recommends prometheus >/dev/null; }
stop_package_service
if [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ]; then
    echo "prometheus: installed, but /usr/bin/prometheus or /usr/bin/promtool is missing" >&2
    exit 1
fi
report
