#!/bin/bash
# Fetches NCCL for tensor parallel inference into .deps/nccl/ (ignored by git): the headers of the
# PyPI wheel `nvidia-nccl-cu13` (Debian 12 packages no NCCL). attnbench loads libnccl.so.2 at run
# time, so the build needs the headers only; --with-library also unpacks the wheel's library (about
# 350 MB) into .deps/nccl/lib for a GPU machine that has no libnccl of its own.
#
#   scripts/fetch-nccl.sh [--with-library]
#
# Version: NCCL_VERSION (a pip version spec, default 2.*). Does nothing for the parts already in
# .deps/nccl. Needs python3 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
nccl_version=${NCCL_VERSION:-2.*}
with_library=0
case "${1:-}" in
  --with-library) with_library=1 ;;
  "") ;;
  *) echo "usage: $0 [--with-library]" >&2; exit 2 ;;
esac

prefix=$PWD/.deps/nccl
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
source scripts/unpack-wheel.sh  # the working directory is the repository root

if [ $with_library = 1 ] && [ ! -f "$prefix/lib/libnccl.so.2" ]; then
  echo "fetch-nccl: NCCL $nccl_version headers and library"
  unpack_wheel "nvidia-nccl-cu13==$nccl_version" "nvidia/nccl/include/=$prefix/include" \
    "nvidia/nccl/lib/=$prefix/lib"
elif [ ! -f "$prefix/include/nccl.h" ]; then
  echo "fetch-nccl: NCCL $nccl_version headers"
  unpack_wheel "nvidia-nccl-cu13==$nccl_version" "nvidia/nccl/include/=$prefix/include"
fi
echo "fetch-nccl: headers in .deps/nccl/include$([ -d "$prefix/lib" ] && echo ', library in .deps/nccl/lib' || true)"
