#!/bin/bash
# For GPU hosts that have CUDA, CMake and a compiler but no Debian packages or package registry:
# run this on a Debian machine in the checkout to unpack the header-only and -dev packages attnbench
# needs into .devdeps/, copy the checkout (with .devdeps) to the GPU host, and configure there with
# `cmake --preset gpu-host` (it adds .devdeps/usr to CMAKE_PREFIX_PATH and leaves the GUI out).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libsqlite3-dev nlohmann-json3-dev libcli11-dev libeigen3-dev "$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -1)" ] || apt-get update -qq
(cd "$work" && apt-get download -qq "${packages[@]}")
rm -rf .devdeps && mkdir -p .devdeps
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" .devdeps; done
# The -dev package's libsqlite3.so points at a runtime file it does not ship: use the host's.
ln -sfn /usr/lib/x86_64-linux-gnu/libsqlite3.so.0 .devdeps/usr/lib/x86_64-linux-gnu/libsqlite3.so
du -sh .devdeps
