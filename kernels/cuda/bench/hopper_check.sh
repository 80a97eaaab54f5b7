#!/usr/bin/env bash
# On a GPU host, the Hopper flash kernel's whole study in one run: builds the Hopper kernel tests and the
# kernel harness, runs the Hopper test suite and compute-sanitizer (memcheck, racecheck)
# on small Hopper cases; then, shape group by shape group at the acceptance shapes, the harness
# (Hopper family, mma.sync family, attnbench's cudnn kernel), PyTorch SDPA's cuDNN and FlashAttention-2
# backends and CUTLASS example 88, so every peer is measured in the same run; prints the Hopper
# kernel's ratio to the best peer per point (hopper_peers_table.py); last, Nsight Compute counters of
# the Hopper kernel at N = 8192 and 16384 (and of CUTLASS at 8192). Logs go to OUT_DIR.
#
# Card state: a burst of 20 launches lasts 1-150 ms, short against the card's power management, so it
# runs at the clock the previous work left (at causal hd128 points one binary moved 8-11 % with what ran
# before it). So every program starts every timed burst from the same state, an idle device for IDLE_MS
# (the harness's --idle-ms, the PyTorch peer's --idle-ms, and a sleep before each process of CUTLASS's
# example 88, whose schedules then run one after the other: see cutlass_fmha_peer.py), followed by one
# warm-up launch. SUSTAIN_MS adds a sustained round: every sample that many ms of work (clocks settled).
#
# Order: on a power-bound card a kernel timed right after another one runs on a card that one has
# heated, so no kernel may always come after the same one. Each shape group is timed in PASSES passes
# (default 3); pass p runs the group's programs (the harness, the baseline harness, PyTorch, CUTLASS)
# in an order rotated by p, and the harness rotates its own kernels (Hopper, mma.sync, cudnn) by p and
# by point (--rotation). Every kernel and peer is thus timed once per pass, after a different
# neighbour each time, and the table keeps each one's best pass (hopper_peers_table.py).
#
# A/B of kernel versions: the harness times its Hopper kernel interleaved with the mma.sync and cudnn
# kernels at each point, the baseline and alternative harnesses (like the peers) run their points back
# to back in their own process. Without idle gaps that alone moved one binary by 8-11 % at causal hd128
# points (NOTES.md, Hopper, "Item boundaries, second round"). So this tree's harness is also timed the
# baseline's way (column "self": with the idle gaps it should agree with the harness column, which
# checks them), and the table's A/B lines divide self and the alternatives by the baseline.
#
#   kernels/cuda/bench/hopper_check.sh OUT_DIR [extra cmake args...]
#
# Environment:
#   HARNESS        a harness built beforehand (attnbench_kernel_bench of this tree): nothing is built;
#                  HOPPER_TESTS names the matching cuda_hopper_tests (else no tests and no sanitizers)
#   CUTLASS_FMHA   example 88's executable (benchmarks/cutlass_fmha_peer.py build); unset: no CUTLASS column
#   BASELINE_SRC   a second source tree (say, the previous commit's) whose harness is built too and timed
#                  right after this one's at every Hopper point: an A/B of a kernel change in one run;
#                  BASELINE_HARNESS names one built beforehand instead
#   ALT_HARNESS    further harnesses built beforehand (say, a change without its last step), space-separated,
#                  each timed like the baseline: columns alt, alt2, alt3, ... in the table
#   PASSES         passes over every shape group, each in a rotated order (default 3)
#   IDLE_MS        idle device time before every timed burst of every program (default 250)
#   IDLE_SWEEP=1   first, the Hopper kernel alone at hd128 fp16 causal N = 16384 after idle gaps of
#                  0 / 100 / 250 / 1000 ms: how long a gap the burst figure needs
#   SUSTAIN_MS     also a sustained round (logs under OUT_DIR/sustained, its own table): every sample
#                  that many ms of work at a nominal 600 TFLOP/s (harness Hopper + cudnn, PyTorch,
#                  CUTLASS), SUSTAIN_PASSES passes (default 1) over SUSTAIN_GROUPS / SUSTAIN_LENGTHS
#                  (default: the groups and lengths above)
#   SANITIZERS=0   the Hopper tests without compute-sanitizer (a kernel that did not change)
#   FAMILIES       the harness's flash families in the burst round (default "hopper sm80")
#   TORCH_PEER=0   leaves PyTorch out (its cuDNN backend reads within 2 % of the harness's cudnn kernel)
#   QUICK=1        a follow-up run: leaves out PyTorch's FA2 backend (never the best peer), the standard
#                  baseline and the Nsight Compute points other than N = 8192 non-causal
#   SHAPE_GROUPS   the shape groups to time (default: all of hd128_fp16 hd128_bf16_gqa hd64 hd256)
#   LENGTHS        sequence lengths for every group timed (default: each group's own list)
#   LENGTHS_<group>, PASSES_<group>   the same for one group of the burst round (LENGTHS_hd64="4096 8192")
#   PROFILE=0      no sustained clock/power samples and no Nsight Compute (a short run)
#   CUDNN_ROOT     the cudnn-frontend and cuDNN headers for attnbench's cudnn kernel (else .deps/cudnn);
#                  libcudnn itself is PyTorch's copy, found below
set -u
out=${1:-hopper-check}
shift || true
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/../../.." && pwd)
build="$root/build/gpu-hopper"
step() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$out/steps.log"; }
cudnn_lib=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cudnn", "lib"))' 2>/dev/null)
[ -n "$cudnn_lib" ] && [ -d "$cudnn_lib" ] && export LD_LIBRARY_PATH="$cudnn_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

configure_and_build() {  # source tree, build dir, log name, extra cmake argument, targets...
  local source=$1 dir=$2 log=$3 extra=$4
  shift 4
  cmake -S "$source" -B "$dir" -G Ninja -DATTNBENCH_GUI=OFF -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DATTNBENCH_CUDA_RESOURCE_USAGE=ON "$extra" "${cmake_args[@]}" >"$out/configure_$log.log" 2>&1 \
    || { tail -30 "$out/configure_$log.log"; return 1; }
  grep "cuDNN SDPA" "$out/configure_$log.log"
  cmake --build "$dir" --target "$@" -j16 >"$out/build_$log.log" 2>&1 \
    || { grep -B2 -A20 "error" "$out/build_$log.log" | head -80; return 1; }
}
cmake_args=("$@")

if [ -n "${HARNESS:-}" ]; then
  bench=$HARNESS
  hopper_tests=${HOPPER_TESTS:-}
else
  step configure + build
  configure_and_build "$root" "$build" hop -DATTNBENCH_CUDNN=AUTO cuda_hopper_tests attnbench_kernel_bench || exit 1
  grep -A3 "Compiling entry function.*hopperFlash" "$out/build_hop.log" >"$out/ptxas_hopper.txt"
  hopper_tests="$build/tests/kernels/cuda/cuda_hopper_tests"
  bench="$build/kernels/cuda/attnbench_kernel_bench"
fi
base_bench=${BASELINE_HARNESS:-}
if [ -n "${BASELINE_SRC:-}" ]; then
  step "configure + build the baseline harness ($BASELINE_SRC)"
  base_build="$BASELINE_SRC/build/gpu-hopper-base"
  # The baseline's harness times its Hopper kernel only: no cuDNN to build.
  configure_and_build "$BASELINE_SRC" "$base_build" base -DATTNBENCH_CUDNN=OFF attnbench_kernel_bench \
    && base_bench="$base_build/kernels/cuda/attnbench_kernel_bench"
fi
# The alternative harnesses by column name: alt, alt2, alt3, ...
declare -A alt_benches=()
alt_names=()
for other in ${ALT_HARNESS:-}; do
  name=alt
  [ ${#alt_names[@]} -gt 0 ] && name=alt$((${#alt_names[@]} + 1))
  alt_names+=("$name")
  alt_benches[$name]=$other
done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv >"$out/gpu.txt" 2>&1

# ptxas serialises the whole wgmma pipeline, without a warning, where it cannot follow the groups in
# flight (a wgmma issued on one path of a branch only): it then brackets every wgmma with a
# WARPGROUP.ARRIVE / DEPBAR pair. The Hopper kernels issue at 4 sites, so a count of dozens is a slow build.
count_arrives() {  # harness, log name
  step "wgmma issue sites per Hopper kernel of $2 (SASS WARPGROUP.ARRIVE)"
  cuobjdump -sass "$1" 2>/dev/null | awk '/Function :/ { kernel = $3 }
    /WARPGROUP.ARRIVE/ && kernel ~ /hopperFlash/ { arrives[kernel]++ }
    END { for (k in arrives) print arrives[k], k }' | sort -n >"$out/sass_arrives_$2.txt"
  awk '{ kernels[$1]++ } END { for (c in kernels) print "  " kernels[c] " kernels with " c }' "$out/sass_arrives_$2.txt"
}
count_arrives "$bench" harness
[ -n "$base_bench" ] && count_arrives "$base_bench" base
for name in "${alt_names[@]}"; do count_arrives "${alt_benches[$name]}" "$name"; done

# The Hopper test suite and compute-sanitizer on small cases.
tests_and_sanitizers() {
  step "smoke: one small Hopper case (a hang here is a pipeline deadlock)"
  timeout 60 "$hopper_tests" --gtest_filter='TileSweep/*hopper_fp16_d128_128x128_full_q129_k129*' \
    >"$out/smoke.log" 2>&1
  smoke=$?
  echo "rc=$smoke" >>"$out/smoke.log"
  tail -5 "$out/smoke.log"
  if [ "$smoke" -eq 124 ]; then echo "the smoke case hung: stopping"; exit 1; fi

  step "Hopper tests"
  timeout 150 "$hopper_tests" >"$out/hopper_tests.log" 2>&1; echo "rc=$?" >>"$out/hopper_tests.log"
  grep -E "^\[  (PASSED|FAILED) |tests ran|rc=" "$out/hopper_tests.log" | head -40

  [ "${SANITIZERS:-1}" = 0 ] && return 0
  small='TileSweep/*hopper_fp16_d128_128x128_causal_q129_k129*:TileSweep/*hopper_bf16_d256_128x80_full_q129_k129*'
  small+=':Shapes/*hopper_fp16_d128_auto_causal_q1000_k100*:Shapes/*hopper_fp16_d128_auto_causal_q257_k257*'
  for tool in memcheck racecheck; do
    step "compute-sanitizer $tool"
    timeout 90 compute-sanitizer --tool "$tool" "$hopper_tests" --gtest_filter="$small" \
      >"$out/sanitizer_$tool.log" 2>&1; echo "rc=$?" >>"$out/sanitizer_$tool.log"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Error|hazard|rc=|tests ran" "$out/sanitizer_$tool.log" | head -8
  done
}
[ -n "$hopper_tests" ] && tests_and_sanitizers

# Every kernel and peer is timed the way CUTLASS's example times itself: after a warm-up call, the mean of
# 20 back-to-back launches (one sample; the passes give each its best of PASSES). Back to back, the
# host's per-call work (PyTorch's dispatch, the tensor maps) stays off the device's time line, which
# matters at N <= 2K where a kernel takes 30-120 us.
idle_ms=${IDLE_MS:-250}
timing=(--warmup 1 --reps 1 --launches 20 --idle-ms "$idle_ms")
torch_timing=(--warmup 1 --reps 1 --burst 20 --idle-ms "$idle_ms")
cutlass_timing=(--iterations 20 --idle-ms "$idle_ms")
# A harness of another tree gets the idle gaps if it has them (older ones: none, said in the log).
other_timing() {  # harness
  if "$1" --help 2>/dev/null | grep -q -- --idle-ms; then
    echo "${timing[@]}"
  else
    echo "--warmup 1 --reps 1 --launches 20"
  fi
}
log_dir=$out
read -r -a families <<<"${FAMILIES:-hopper sm80}"
torch_backends=(torch-cudnn torch-flash)
[ "${QUICK:-0}" = 1 ] && torch_backends=(torch-cudnn)
passes=${PASSES:-3}
# One shape group: every kernel and peer at its points, PASSES times, the programs' order rotated per pass.
# name, dtype, dim, heads, kv heads, lengths...
shape_group() {
  local name=$1 dtype=$2 dim=$3 heads=$4 kv_heads=$5
  shift 5
  case " ${SHAPE_GROUPS:-$name} " in *" $name "*) ;; *) return 0 ;; esac
  local lengths=("$@") group_lengths="LENGTHS_$name" group_passes="PASSES_$name" passes=$passes
  [ -n "${LENGTHS:-}" ] && read -r -a lengths <<<"$LENGTHS"
  if [ "$log_dir" = "$out" ]; then  # the burst round's per-group choices
    [ -n "${!group_lengths:-}" ] && read -r -a lengths <<<"${!group_lengths}"
    passes=${!group_passes:-$passes}
  fi
  local shape=(--dim "$dim" --heads "$heads" --kv-heads "$kv_heads" --dtype "$dtype" --seq "${lengths[@]}")
  local programs=(harness)
  [ "${TORCH_PEER:-1}" != 0 ] && programs+=(torch)
  if [ "$log_dir" = "$out" ]; then  # the other builds in the burst round only
    programs+=(self)
    [ -n "$base_bench" ] && programs+=(base)
    programs+=("${alt_names[@]}")
  fi
  # Example 88 runs fp16 with as many K/V heads as query heads only.
  [ -n "${CUTLASS_FMHA:-}" ] && [ "$dtype" = fp16 ] && [ "$kv_heads" = "$heads" ] && programs+=(cutlass)
  local pass i program
  for ((pass = 0; pass < passes; ++pass)); do
    for ((i = 0; i < ${#programs[@]}; ++i)); do
      program=${programs[$(((i + pass) % ${#programs[@]}))]}
      step "$name pass $pass: $program${log_dir#$out}"
      case $program in
        harness)
          timeout 150 "$bench" --no-standard "${timing[@]}" --rotation "$pass" "${shape[@]}" --family "${families[@]}" \
            --tiles auto >"$log_dir/bench_$name.p$pass.log" 2>&1 ;;
        self | base | alt*)  # the Hopper kernel alone, in its own process; of another tree: only the options
                             # that version has (other_timing)
          local other=$bench
          [ "$program" = base ] && other=$base_bench
          [ "$program" != self ] && [ "$program" != base ] && other=${alt_benches[$program]}
          # shellcheck disable=SC2046  # the options, one word each
          timeout 60 "$other" --no-standard --no-cudnn $(other_timing "$other") "${shape[@]}" --family hopper \
            --tiles auto >"$log_dir/${program}_$name.p$pass.log" 2>&1 ;;
        torch)
          timeout 120 python3 "$root/benchmarks/torch_sdpa_peers.py" --backends "${torch_backends[@]}" \
            "${torch_timing[@]}" "${shape[@]}" >"$log_dir/torch_$name.p$pass.jsonl" 2>&1 ;;
        cutlass)
          timeout 150 python3 "$root/benchmarks/cutlass_fmha_peer.py" run "$CUTLASS_FMHA" "${cutlass_timing[@]}" \
            --dim "$dim" --heads "$heads" --seq "${lengths[@]}" >"$log_dir/cutlass_$name.p$pass.jsonl" 2>&1 ;;
      esac
    done
  done
}
all_groups() {
  shape_group hd128_fp16 fp16 128 32 32 1024 2048 4096 8192 16384 32768
  shape_group hd128_bf16_gqa bf16 128 32 8 4096 8192 16384 32768
  shape_group hd64 fp16 64 16 16 2048 4096 8192 16384
  shape_group hd256 fp16 256 8 8 2048 4096 8192 16384
}
if [ "${IDLE_SWEEP:-0}" = 1 ]; then
  for gap in 0 100 250 1000; do
    step "idle sweep: Hopper alone, hd128 fp16 causal N=16384, ${gap} ms idle before each of 3 samples"
    timeout 60 "$bench" --no-standard --no-cudnn --warmup 1 --reps 3 --launches 20 --idle-ms "$gap" --dim 128 \
      --heads 32 --seq 16384 --dtype fp16 --causal yes --family hopper --tiles auto >"$out/idle_sweep_$gap.log" 2>&1
    grep -E "^fp16" "$out/idle_sweep_$gap.log"
  done
fi
all_groups
for d in 64 128 256; do
  [ "${QUICK:-0}" = 1 ] && break
  step "standard vs Hopper, head dim $d"
  timeout 60 "$bench" "${timing[@]}" --no-cudnn --dim "$d" --heads 16 --seq 4096 --dtype fp16 \
    --family hopper --tiles auto >"$out/bench_standard_d$d.log" 2>&1
done
# The clock and board power the card holds while one kernel runs back to back for about two seconds
# at hd128 N = 16384 (nvidia-smi sampled every 20 ms): a kernel that spends more energy per FLOP gets a
# lower clock from the 700 W limit, which a single-launch profile does not show.
sample_while() {  # label, command...: prints the medians of the second half of the samples (settled)
  local label=$1
  shift
  nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader,nounits -lms 20 >"$out/smi_$label.csv" 2>&1 &
  local sampler=$!
  timeout 60 "$@" >"$out/sustained_$label.log" 2>&1
  kill "$sampler"
  wait "$sampler" 2>/dev/null
  python3 - "$out/smi_$label.csv" "$label" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    try:
        rows.append(tuple(float(x) for x in line.split(",")))
    except ValueError:
        pass
late = rows[len(rows) // 2:]
if late:
    print(f"{sys.argv[2]}: {len(late)} samples, SM clock median {statistics.median(r[0] for r in late):.0f} MHz, "
          f"power median {statistics.median(r[1] for r in late):.0f} W")
PY
  grep -E "^fp16|TFLOPS" "$out/sustained_$label.log"
}
profile=${PROFILE:-1}
if [ "$profile" != 0 ]; then
  step "sustained clock and power, hd128 fp16 N=16384 non-causal"
  sustained=("$bench" --no-standard --warmup 2 --reps 400 --budget-ms 2000 --dim 128 --heads 32 --seq 16384
    --causal no --dtype fp16)
  sample_while cudnn "${sustained[@]}" --tiles ""
  sample_while hopper "${sustained[@]}" --no-cudnn --family hopper --tiles auto
  if [ -n "${CUTLASS_FMHA:-}" ]; then
    sample_while cutlass "$CUTLASS_FMHA" --b=1 --h=32 --q=16384 --k=16384 --d=128 --iterations=150
  fi
fi

step "table"
python3 "$root/kernels/cuda/bench/hopper_peers_table.py" "$out" | tee "$out/table.txt"
if [ -n "${SUSTAIN_MS:-}" ]; then
  # Sustained round: the Hopper kernel beside cudnn in the harness, PyTorch and CUTLASS, each sample
  # SUSTAIN_MS of work after the idle gap (the mma.sync family and the other builds are left out).
  log_dir=$out/sustained
  mkdir -p "$log_dir"
  timing=(--warmup 1 --reps 1 --launches 20 --idle-ms "$idle_ms" --sustain-ms "$SUSTAIN_MS")
  torch_timing=(--warmup 1 --reps 1 --burst 20 --idle-ms "$idle_ms" --sustain-ms "$SUSTAIN_MS")
  cutlass_timing=(--iterations 20 --idle-ms "$idle_ms" --sustain-ms "$SUSTAIN_MS")
  families=(hopper)
  passes=${SUSTAIN_PASSES:-1}
  SHAPE_GROUPS=${SUSTAIN_GROUPS:-${SHAPE_GROUPS:-hd128_fp16 hd128_bf16_gqa hd64 hd256}}
  LENGTHS=${SUSTAIN_LENGTHS:-${LENGTHS:-}}
  all_groups
  step "table, sustained"
  python3 "$root/kernels/cuda/bench/hopper_peers_table.py" "$log_dir" | tee "$out/table_sustained.txt"
fi
[ "$profile" = 0 ] && { step done; exit 0; }

# Nsight Compute: the first launch at each point, at the clock the card picks (power-bound here), with
# the SASS lines that stall most (SourceCounters).
sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis
  --section WarpStateStats --section SchedulerStats --section Occupancy --section SourceCounters)
ncu_hopper() {  # label, harness, N, causal
  step "ncu: $1 hd128 fp16 N=$3 causal=$4"
  timeout 90 ncu --clock-control none -k regex:hopperFlash -c 1 "${sections[@]}" --print-details all \
    "$2" --no-standard --no-cudnn --warmup 0 --reps 3 --dim 128 --heads 32 --seq "$3" --dtype fp16 --causal "$4" \
    --family hopper >"$out/ncu_$1_$3_$4.log" 2>&1
}
ncu_hopper hopper "$bench" 8192 no
if [ "${QUICK:-0}" != 1 ]; then
  ncu_hopper hopper "$bench" 16384 no
  ncu_hopper hopper "$bench" 16384 yes
fi
[ -n "$base_bench" ] && ncu_hopper base "$base_bench" 8192 no
if [ -n "${CUTLASS_FMHA:-}" ]; then
  step "ncu: CUTLASS example 88 hd128 fp16 N=8192 (cooperative, its first kernel)"
  timeout 90 ncu --clock-control none -k regex:device_kernel -c 1 "${sections[@]}" --print-details all \
    "$CUTLASS_FMHA" --b=1 --h=32 --q=8192 --k=8192 --d=128 --iterations=1 >"$out/ncu_cutlass_8192_no.log" 2>&1
fi
for log in "$out"/ncu_*.log; do
  echo "-- $(basename "$log")"
  grep -E "^\s+(SM Frequency|Duration|DRAM Throughput|L2 Hit Rate|Compute \(SM\) Throughput|Issue Slots Busy|No Eligible|Active Warps Per Scheduler|Eligible Warps Per Scheduler|Registers Per Thread)\b| Pipe Tensor Cycles Active|Inst Executed Pipe Xu" "$log" | head -14
done
step done
