#!/bin/bash
# Fetches what the optional cuDNN SDPA kernel needs to build into .deps/cudnn/ (ignored by git):
# the cudnn-frontend C++ headers (PyPI wheel `nvidia-cudnn-frontend`) and cuDNN's own headers
# (PyPI wheel `nvidia-cudnn-cu13`). attnbench loads libcudnn.so.9 at run time, so the build needs
# headers only; --with-library also unpacks the wheel's libraries (about 500 MB) into
# .deps/cudnn/lib for a GPU machine that has no libcudnn of its own.
#
#   scripts/fetch-cudnn.sh [--with-library]
#
# Versions: CUDNN_FRONTEND_VERSION (default 1.32.0) and CUDNN_VERSION (a pip version spec, default
# 9.19.*). Does nothing for the parts already in .deps/cudnn. Needs python3 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
frontend_version=${CUDNN_FRONTEND_VERSION:-1.32.0}
cudnn_version=${CUDNN_VERSION:-9.19.*}
with_library=0
case "${1:-}" in
  --with-library) with_library=1 ;;
  "") ;;
  *) echo "usage: $0 [--with-library]" >&2; exit 2 ;;
esac

prefix=$PWD/.deps/cudnn
mkdir -p "$prefix/include"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT

source scripts/unpack-wheel.sh  # the working directory is the repository root

if [ ! -f "$prefix/include/cudnn_frontend.h" ]; then
  echo "fetch-cudnn: cudnn-frontend $frontend_version headers"
  unpack_wheel "nvidia-cudnn-frontend==$frontend_version" "include/=$prefix/include"
fi
if [ $with_library = 1 ] && [ ! -f "$prefix/lib/libcudnn.so.9" ]; then
  echo "fetch-cudnn: cuDNN $cudnn_version headers and libraries"
  unpack_wheel "nvidia-cudnn-cu13==$cudnn_version" "nvidia/cudnn/include/=$prefix/include" "nvidia/cudnn/lib/=$prefix/lib"
elif [ ! -f "$prefix/include/cudnn_version.h" ]; then
  echo "fetch-cudnn: cuDNN $cudnn_version headers"
  unpack_wheel "nvidia-cudnn-cu13==$cudnn_version" "nvidia/cudnn/include/=$prefix/include"
fi
echo "fetch-cudnn: headers in .deps/cudnn/include$([ -d "$prefix/lib" ] && echo ', libraries in .deps/cudnn/lib' || true)"
