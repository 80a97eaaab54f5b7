#!/usr/bin/env bash
# On a GPU host: builds the CUDA kernel tests and the kernel harness, runs the Hopper and mma.sync
# test suites, compute-sanitizer (memcheck, racecheck) on small Hopper cases, the harness at the
# acceptance shapes (Hopper family, mma.sync family) and PyTorch's SDPA backends at the same shapes in
# the same run, and Nsight Compute counters for one Hopper launch. Logs go to $1 (default ./hopper-check).
#
#   kernels/cuda/bench/hopper_check.sh OUT_DIR [extra cmake args...]
set -u
out=${1:-hopper-check}
shift || true
mkdir -p "$out"
root=$(cd "$(dirname "$0")/../../.." && pwd)
build="$root/build/gpu-hopper"
step() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$out/steps.log"; }

step configure
cmake -S "$root" -B "$build" -G Ninja -DATTNBENCH_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DATTNBENCH_CUDA_RESOURCE_USAGE=ON "$@" >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
step build
cmake --build "$build" --target cuda_hopper_tests cuda_kernel_tests attnbench_kernel_bench -j16 \
  >"$out/build.log" 2>&1 || { grep -B2 -A20 "error" "$out/build.log" | head -80; exit 1; }
tests="$build/tests/kernels/cuda"
bench="$build/kernels/cuda/attnbench_kernel_bench"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv >"$out/gpu.txt" 2>&1

step "smoke: one small Hopper case (a hang here is a pipeline deadlock)"
timeout 60 "$tests/cuda_hopper_tests" --gtest_filter='TileSweep/*hopper_fp16_d128_128x128_full_q129_k129*' \
  >"$out/smoke.log" 2>&1
smoke=$?
echo "rc=$smoke" >>"$out/smoke.log"
tail -5 "$out/smoke.log"
if [ "$smoke" -eq 124 ]; then echo "the smoke case hung: stopping"; exit 1; fi

step "Hopper tests"
timeout 150 "$tests/cuda_hopper_tests" >"$out/hopper_tests.log" 2>&1; echo "rc=$?" >>"$out/hopper_tests.log"
grep -E "^\[  (PASSED|FAILED) |tests ran|rc=" "$out/hopper_tests.log" | head -40

step "mma.sync + auto tests"
timeout 150 "$tests/cuda_kernel_tests" >"$out/sm80_tests.log" 2>&1; echo "rc=$?" >>"$out/sm80_tests.log"
grep -E "^\[  (PASSED|FAILED) |tests ran|rc=" "$out/sm80_tests.log" | head -20

small='TileSweep/*hopper_fp16_d128_128x128_causal_q129_k129*:TileSweep/*hopper_bf16_d256_128x80_full_q129_k129*:Shapes/*hopper_fp16_d128_auto_causal_q1000_k100*'
for tool in memcheck racecheck; do
  step "compute-sanitizer $tool"
  timeout 90 compute-sanitizer --tool "$tool" "$tests/cuda_hopper_tests" --gtest_filter="$small" \
    >"$out/sanitizer_$tool.log" 2>&1; echo "rc=$?" >>"$out/sanitizer_$tool.log"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Error|hazard|rc=" "$out/sanitizer_$tool.log" | head -8
done

run_bench() {  # name, then harness arguments
  local name=$1
  shift
  step "bench $name"
  timeout 60 "$bench" --no-standard --warmup 2 --reps 10 --budget-ms 400 "$@" >"$out/bench_$name.log" 2>&1
  cat "$out/bench_$name.log"
}
run_peer() {  # name, then peer arguments
  local name=$1
  shift
  step "torch $name"
  timeout 60 python3 "$root/benchmarks/torch_sdpa_peers.py" --backends torch-cudnn torch-flash --reps 10 "$@" \
    >"$out/torch_$name.jsonl" 2>&1
  python3 - "$out/torch_$name.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        print(line.rstrip())
        continue
    if r.get("event") == "peer":
        t = r.get("tflops")
        print(f"{r['dtype']} causal={r['causal']!s:5} N={r['seq_len']:6} {r['backend']:12} "
              f"{'%.1f' % t if t else r.get('status')} TFLOP/s")
    else:
        print(r)
PY
}

run_bench hd128_fp16 --dim 128 --heads 32 --seq 1024 2048 4096 8192 16384 32768 --dtype fp16 \
  --family hopper sm80 --tiles auto,128x176
run_peer hd128_fp16 --dim 128 --heads 32 --seq 1024 2048 4096 8192 16384 32768 --dtype fp16
run_bench hd128_bf16_gqa --dim 128 --heads 32 --kv-heads 8 --seq 4096 8192 16384 32768 --dtype bf16 \
  --family hopper sm80 --tiles auto
run_peer hd128_bf16_gqa --dim 128 --heads 32 --kv-heads 8 --seq 4096 8192 16384 32768 --dtype bf16
run_bench hd64 --dim 64 --heads 16 --seq 4096 8192 16384 --dtype fp16 --family hopper sm80 --tiles auto,128x176
run_peer hd64 --dim 64 --heads 16 --seq 4096 8192 16384 --dtype fp16
run_bench hd256 --dim 256 --heads 8 --seq 2048 4096 8192 16384 --dtype fp16 --family hopper sm80 --tiles auto,128x64
run_peer hd256 --dim 256 --heads 8 --seq 2048 4096 8192 16384 --dtype fp16
for d in 64 128 256; do
  step "bench standard vs Hopper, head dim $d"
  timeout 60 "$bench" --warmup 2 --reps 10 --budget-ms 400 --dim "$d" --heads 16 --seq 4096 --dtype fp16 \
    --family hopper --tiles auto >"$out/bench_standard_d$d.log" 2>&1
  cat "$out/bench_standard_d$d.log"
done

step "ncu: one Hopper launch, hd128 N=8192 fp16 non-causal"
timeout 90 ncu --clock-control none -k regex:hopperFlash -c 1 \
  --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
  --print-details all \
  "$bench" --no-standard --warmup 0 --reps 3 --dim 128 --heads 32 --seq 8192 --dtype fp16 --causal no \
  --family hopper >"$out/ncu.log" 2>&1
sed -n '/Section: GPU Speed/,$p' "$out/ncu.log" | grep -vE "^\s*$|^\s+-+" | head -80
grep -A3 "Compiling entry function.*hopperFlash" "$out/build.log" >"$out/ptxas_hopper.txt"
step done
