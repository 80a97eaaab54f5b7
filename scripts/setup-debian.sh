#!/bin/bash
# Installs what attnbench needs to build and test on Debian 12 (run as root). The CUDA backend is
# built when nvcc is found (PATH or /usr/local/cuda); without it attnbench runs on the CPU. With nvcc,
# the cuDNN SDPA kernel's headers are fetched into .deps/cudnn (scripts/fetch-cudnn.sh) and NCCL's, for
# tensor parallel inference, into .deps/nccl (scripts/fetch-nccl.sh); both optional: the build leaves
# the part out, with the reason, where a fetch fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  cmake ninja-build g++ pkg-config python3-pip libsentencepiece-dev
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

if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  bash "$(dirname "$0")/fetch-cudnn.sh" || echo "setup-debian: cuDNN headers not fetched; attnbench builds without its cudnn kernel"
  bash "$(dirname "$0")/fetch-nccl.sh" || echo "setup-debian: NCCL headers not fetched; attnbench builds without tensor parallelism over GPUs"
fi
