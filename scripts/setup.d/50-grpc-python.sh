#!/usr/bin/env bash
# Python's gRPC and protobuf with Debian's protoc and gRPC Python plugin, for the test that calls NCS's gRPC
# API with Triton's own client (third_party/tritonclient: tritonclient.grpc needs stubs generated from
# Triton's grpc_service.proto; the test generates them). Installs what is missing when run as root;
# otherwise only reports. Debian's own python3 (/usr/bin/python3), which these packages are for.
set -euo pipefail

PACKAGES=(python3-grpcio python3-protobuf python3-packaging python3-numpy python3-rapidjson
    protobuf-compiler protobuf-compiler-grpc)

present() {
    command -v protoc >/dev/null 2>&1 && command -v grpc_python_plugin >/dev/null 2>&1 \
        && /usr/bin/python3 -c 'import grpc, google.protobuf, packaging, numpy, rapidjson' >/dev/null 2>&1
}

if present; then
    echo "grpc-python: grpcio $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'), $(protoc --version)"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "grpc-python: missing; install as root: ${PACKAGES[*]}" >&2
    exit 1
fi
echo "grpc-python: installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; }
present || { echo "grpc-python: installed, but the tools or modules are still missing" >&2; exit 1; }
echo "grpc-python: grpcio $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'), $(protoc --version)"
