#!/bin/bash
# Everything the GPU host does in one call: build (no Qt), the test suite with the GPU tests, the
# sanitizers on a small case, the H100 targets against PyTorch, and the seed matrix as one --batch run.
# Logs and databases go to $OUT/logs (OUT defaults to ./out); PACK=1 packs them into $OUT/logs-NAME.tgz.
# Needs .devdeps (scripts/collect-headers.sh) on hosts without the Debian -dev packages.
# SKIP_BUILD=1, SKIP_TESTS=1, SKIP_SANITIZERS=1, SKIP_TARGETS=1, SKIP_SEED=1, SKIP_PEERS=1 leave stages out;
# GPU_TESTS_ONLY=1 runs only the test executables that use the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT_OUT=${OUT:-$PWD/out}
OUT=$ROOT_OUT/logs
mkdir -p "$OUT"
finish() {
  if [ "${PACK:-0}" = 1 ]; then tar -czf "$ROOT_OUT/logs-${PACK_NAME:-gpu}.tgz" -C "$ROOT_OUT" logs && rm -rf "$OUT"; fi
}
trap finish EXIT
stage() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }

EXE=build/gpu/app/attnbench
# libcudnn for the cudnn kernel: PyTorch's copy where there is one (else the cudnn points are skipped).
CUDNN_LIB=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cudnn", "lib"))' 2>/dev/null)
[ -n "$CUDNN_LIB" ] && [ -d "$CUDNN_LIB" ] && export LD_LIBRARY_PATH="$CUDNN_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
stage build
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
cmake --preset gpu-host > "$OUT/configure.log" 2>&1 && cmake --build --preset gpu-host -j "$(nproc)" > "$OUT/build.log" 2>&1 \
  || { tail -n 50 "$OUT/configure.log" "$OUT/build.log"; exit 1; }
$EXE devices | tee "$OUT/devices.txt"
fi

if [ "${SKIP_TESTS:-0}" != 1 ]; then
  stage tests
  if [ "${GPU_TESTS_ONLY:-0}" = 1 ]; then
    for t in tests/kernels/cuda/cuda_kernel_tests tests/kernels/cuda/cuda_hopper_tests tests/kernels/cuda/cuda_model_layer_tests \
             tests/core/cuda_backend_tests tests/core/engine_tests; do
      build/gpu/$t --gtest_brief=1 > "$OUT/$(basename $t).log" 2>&1
      echo "$(basename $t) exit $?: $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/$(basename $t).log" | tr '\n' ' ')"
    done
  else
    ctest --preset gpu-host -j 4 > "$OUT/ctest.log" 2>&1; echo "ctest exit $?"; grep -E "tests passed|tests failed|\*\*\*Failed|Not Run" "$OUT/ctest.log" | head -20
  fi
fi

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  stage sanitizers
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 9 build/gpu/tests/kernels/cuda/cuda_kernel_tests \
      --gtest_filter='TileSweep/*d128*q127_k127*:StandardAttention.Fp32*' > "$OUT/sanitizer_$tool.log" 2>&1
    echo "$tool exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$OUT/sanitizer_$tool.log") clean summaries)"
  done
fi

if [ "${SKIP_TARGETS:-0}" != 1 ]; then
  stage targets
  python3 benchmarks/h100_targets.py $EXE --out "$OUT" --reps "${REPS:-10}" | tee "$OUT/targets.txt"
fi

if [ "${SKIP_PEERS:-0}" != 1 ]; then
  stage "peers (flash, cudnn, standard vs PyTorch's FA2 and cuDNN)"
  python3 benchmarks/peer_comparison.py $EXE --out "${PEERS_DIR:-$OUT/peers}" --deadline "${PEERS_DEADLINE:-inf}" | tee "$OUT/peers.md"
fi

if [ "${SKIP_SEED:-0}" != 1 ]; then
  stage "seed matrix"
  $EXE --batch --preset seed-matrix --db "$OUT/seed.db" --no-progress > "$OUT/seed_matrix.txt" 2>&1
  echo "seed matrix exit $?"; cat "$OUT/seed_matrix.txt"
fi
