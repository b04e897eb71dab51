#!/usr/bin/env bash
# What a GPU machine should check and measure, in one call of at most 9 minutes, most important
# first, printing as it goes (device time is scarce; whatever is cut off at the end matters least):
#   tier 1: `wgnn devices`, `wgnn check` (every kernel against the CPU reference, both kernel
#           families), `wgnn bench` for convnet and tiny beside benches/peer_pytorch.py (eager,
#           and torch.compile for convnet in the first and last rounds), alternating in rounds
#           so that a clock change or a warm-up hits both;
#   tier 2: a kernel-by-kernel profile of a convnet step; whole training runs of convnet, cnn-bn
#           and deep with their defaults beside the same runs in PyTorch (benches/peer_pytorch.py
#           --train, on the GPU); the time to 99% test accuracy of convnet and of the `fast`
#           preset; `bench --tune-kernels` for convnet and the profile again with the tuned
#           constants;
#   tier 3: while time is left, every preset trained with its defaults (the accuracy table).
#
#   benches/gpu_check.sh [--dry-run] [OUT_DIR]      (default OUT_DIR: gpu-check)
#
# --dry-run: tiny limits everywhere (a few steps, 1,024 images, quick check), on whatever adapter
# there is, so the script can be run green on lavapipe before it meets a GPU.
# Environment: WGNN (the binary; default target/release/wgnn), BUDGET (seconds for the whole
# script; default 520), PYTHON (default python3; the PyTorch rows are skipped, saying so, where
# it has no torch), ROUNDS (bench rounds; default 3). The kernel tuning cache is kept in
# OUT_DIR/kernel-cache (WGNN_CACHE_DIR), so neither an earlier cache nor this run's leaks out.
# A failing step is reported and the script goes on; the exit status is 1 if any step failed.
set -u
dry=0
if [ "${1:-}" = "--dry-run" ]; then
  dry=1
  shift
fi
out=${1:-gpu-check}
mkdir -p "$out"
log="$out/log.txt"
: > "$log"
# Training runs refuse a folder that holds a run: each call gets its own.
runs="$out/runs-$(date +%Y%m%d-%H%M%S)"
wgnn=${WGNN:-./target/release/wgnn}
py=${PYTHON:-python3}
budget=${BUDGET:-520}
rounds=${ROUNDS:-3}
failed=0
SECONDS=0
export WGNN_CACHE_DIR="$out/kernel-cache"

say() { echo "$*" | tee -a "$log"; }
section() { say ""; say "## $* (at ${SECONDS}s of ${budget}s)"; }
left() { echo $((budget - SECONDS)); }
# run SECONDS_NEEDED CMD...: runs CMD if that much time is left (never past the budget), echoing
# it and its output into the log; a failure is counted, not fatal.
run() {
  local need=$1
  shift
  local rest
  rest=$(left)
  if [ "$rest" -lt "$need" ]; then
    say "skipped (needs about ${need}s, ${rest}s left): $*"
    return 0
  fi
  say "\$ $*"
  timeout --signal=INT "$rest" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    say "FAILED (exit $rc): $*"
    failed=1
  fi
  return 0
}

if [ ! -x "$wgnn" ]; then
  echo "gpu_check.sh: $wgnn is not built (cargo build --release, or set WGNN)" >&2
  exit 2
fi
torch=0
if "$py" -c "import torch" >/dev/null 2>&1; then
  torch=1
fi
# The fair peer, PyTorch's whole step replayed as one CUDA graph, needs CUDA.
cuda=0
if [ $torch = 1 ] && "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
  cuda=1
fi

if [ $dry = 1 ]; then
  steps=(--steps 3 --warmup 1)
  check=(check --quick)
  tta=(--epochs 1 --limit 1024 --time-to-accuracy 0.5)
  fast_tta=(--epochs 1 --limit 1024 --time-to-accuracy 0.5)
  # The tiled family's whole steps (timed by the tuning) take seconds on llvmpipe: a small batch.
  tune=(--batch-size 16)
  preset_flags=(--epochs 1 --limit 1024)
  presets="tiny convnet"
  whole="tiny"
else
  steps=(--steps 320 --warmup 64)
  check=(check)
  tta=(--epochs 15 --validation-split 0 --time-to-accuracy 0.99)
  fast_tta=(--validation-split 0 --time-to-accuracy 0.99)
  tune=()
  preset_flags=()
  presets="convnet tiny shallow deep cnn cnn-dropout cnn-bn"
  whole="convnet cnn-bn deep"
fi

section "tier 1: the device, the kernels against the CPU reference, throughput beside PyTorch"
say "wgnn: $wgnn ($("$wgnn" --version 2>&1)); dry run: $dry; out: $out"
run 10 "$wgnn" devices
if command -v nvidia-smi >/dev/null 2>&1; then
  run 10 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
fi
run 60 "$wgnn" "${check[@]}"
[ $torch = 1 ] || say "PyTorch rows skipped: $py has no torch"
for r in $(seq 1 "$rounds"); do
  say "# round $r of $rounds"
  for m in convnet tiny; do
    run 20 "$wgnn" bench --model "$m" --backend gpu "${steps[@]}" --json
    [ $torch = 1 ] && run 30 "$py" benches/peer_pytorch.py --model "$m" "${steps[@]}" --json
    [ $cuda = 1 ] && run 30 "$py" benches/peer_pytorch.py --model "$m" "${steps[@]}" --cuda-graph --json
  done
  # torch.compile compiles again in every process (tens of seconds): the first and last rounds.
  if [ $torch = 1 ] && { [ "$r" = 1 ] || [ "$r" = "$rounds" ]; }; then
    run 90 "$py" benches/peer_pytorch.py --model convnet "${steps[@]}" --compile --json
  fi
done

section "tier 2: a convnet step kernel by kernel, whole runs beside PyTorch, time to 99%, tuning"
# The cost model's prediction first, so every lent run tests it (docs/performance.md puts the
# two side by side; crates/engine/tests/cost_model.rs keeps the fit to the checked-in logs).
run 10 "$wgnn" plan --model convnet
run 20 "$wgnn" bench --model convnet --backend gpu --profile
for m in $whole; do
  run 60 "$wgnn" train --model "$m" --backend gpu "${preset_flags[@]}" --out "$runs/whole-$m"
  [ -f "$runs/whole-$m/metrics.json" ] && "$py" -c "import json,sys; m=json.load(open(sys.argv[1])); print('wgnn', sys.argv[2], 'train seconds', round(m['train_seconds'], 3), 'test accuracy', m['test_accuracy'])" \
    "$runs/whole-$m/metrics.json" "$m" 2>&1 | tee -a "$log"
  [ $torch = 1 ] && run 90 "$py" benches/peer_pytorch.py --model "$m" --train --json
done
run 90 "$wgnn" train --model convnet --backend gpu "${tta[@]}" --out "$runs/tta-convnet"
run 60 "$wgnn" train --model fast --backend gpu "${fast_tta[@]}" --out "$runs/tta-fast"
run 120 "$wgnn" bench --model convnet --tune-kernels "${tune[@]}"
run 20 "$wgnn" bench --model convnet --backend gpu --profile

section "tier 3: presets trained with their defaults, while time is left"
for m in $presets; do
  run 60 "$wgnn" train --model "$m" --backend gpu "${preset_flags[@]}" --out "$runs/preset-$m"
  if [ -f "$runs/preset-$m/metrics.json" ]; then
    "$py" -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], 'test accuracy', m['test_accuracy'], 'train seconds', round(m['train_seconds'], 3), 'images/s', round(m['train_images_per_second']))" \
      "$runs/preset-$m/metrics.json" "$m" 2>&1 | tee -a "$log"
  fi
done

section "done"
if [ $failed = 1 ]; then
  say "Some steps failed (see FAILED above); the log is $log"
  exit 1
fi
say "Every step that ran succeeded; the log is $log"
