#!/bin/bash
# Installs what attnbench needs to build and test on Debian 12 (run as root). The CUDA backend is
# built when nvcc is found (PATH or /usr/local/cuda); without it attnbench runs on the CPU.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  cmake ninja-build g++ pkg-config
  libsqlite3-dev nlohmann-json3-dev libcli11-dev libeigen3-dev libgtest-dev libgmock-dev
  qt6-base-dev libqt6opengl6-dev qt6-charts-dev qt6-svg-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
