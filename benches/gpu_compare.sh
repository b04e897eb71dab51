#!/usr/bin/env bash
# Side-by-side on one GPU machine: `wgnn bench` and the PyTorch peer (eager and torch.compile) for
# each preset, a per-kernel profile, each preset trained with its defaults, and time to 99%.
#   benches/gpu_compare.sh [OUT_DIR]        (needs target/release/wgnn and python3 with torch)
# Every step runs even when one fails; everything is appended to OUT_DIR/log.txt.
out=${1:-gpu-compare}
mkdir -p "$out"
log="$out/log.txt"
wgnn=./target/release/wgnn
run() { echo "\$ $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; }
section() { echo "## $*" | tee -a "$log"; }

section devices
run $wgnn devices
run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
section throughput
for m in ${MODELS:-convnet tiny shallow cnn deep}; do
  run $wgnn bench --model "$m" --backend gpu --steps 320 --warmup 64 --json
  run python3 benches/peer_pytorch.py --model "$m" --steps 320 --warmup 64 --json
done
for b in 512 2048; do
  run $wgnn bench --model convnet --backend gpu --batch-size $b --steps 160 --warmup 32 --json
  run python3 benches/peer_pytorch.py --model convnet --batch-size $b --steps 160 --warmup 32 --json
done
if [ -z "$NO_COMPILE" ]; then
  run python3 benches/peer_pytorch.py --model convnet --steps 320 --warmup 64 --compile --json
fi
section profile
run $wgnn bench --model convnet --backend gpu --profile
