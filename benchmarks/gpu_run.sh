#!/bin/bash
# Everything the GPU host does in one call: build (no Qt), the test suite with the GPU tests, the
# sanitizers on a small case, the H100 targets against PyTorch, and the seed matrix as one --batch run.
# Logs and databases go to $OUT (or ./out). Needs .devdeps (scripts/collect-headers.sh) on hosts
# without the Debian -dev packages.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
stage() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }

stage build
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
cmake --preset gpu-host > "$OUT/configure.log" 2>&1 && cmake --build --preset gpu-host -j "$(nproc)" > "$OUT/build.log" 2>&1 \
  || { tail -50 "$OUT/configure.log" "$OUT/build.log"; exit 1; }
EXE=build/gpu/app/attnbench
$EXE devices | tee "$OUT/devices.txt"

stage tests
ctest --preset gpu-host -j 4 > "$OUT/ctest.log" 2>&1; echo "ctest exit $?"; tail -5 "$OUT/ctest.log"

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  stage sanitizers
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 9 build/gpu/tests/kernels/cuda/cuda_kernel_tests \
      --gtest_filter='*Sanitizer*' > "$OUT/sanitizer_$tool.log" 2>&1
    echo "$tool exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$OUT/sanitizer_$tool.log") clean summaries)"
  done
fi

stage targets
python3 benchmarks/h100_targets.py $EXE --out "$OUT" --reps "${REPS:-10}" | tee "$OUT/targets.txt"

if [ "${SKIP_SEED:-0}" != 1 ]; then
  stage "seed matrix"
  $EXE --batch --preset seed-matrix --db "$OUT/seed.db" --no-progress > "$OUT/seed_matrix.txt" 2>&1
  echo "seed matrix exit $?"; cat "$OUT/seed_matrix.txt"
fi
