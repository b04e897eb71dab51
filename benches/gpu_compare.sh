#!/usr/bin/env bash
# Everything a GPU machine should measure, in one command (device time is scarce):
#   1. `wgnn bench` and the PyTorch peer (eager, and torch.compile for convnet) for each preset,
#      side by side on the same GPU, plus convnet at larger batches;
#   2. a kernel-by-kernel profile of a convnet step;
#   3. time to 99% test accuracy (`train --time-to-accuracy 0.99`) for a few presets;
#   4. each preset trained with its defaults (issue 3's accuracy table).
#   benches/gpu_compare.sh [OUT_DIR]      (needs target/release/wgnn; python3 with torch for 1)
# Environment: MODELS, TTA_MODELS, PRESETS (lists), EXTRA (extra `train` flags, e.g. --limit for a
# dry run), SKIP_BENCH / SKIP_TTA / SKIP_PRESETS / NO_COMPILE (set to skip a part).
# Every step runs even when one fails; everything is appended to OUT_DIR/log.txt.
out=${1:-gpu-compare}
mkdir -p "$out"
log="$out/log.txt"
wgnn=./target/release/wgnn
run() { echo "\$ $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; }
section() { echo "## $*" | tee -a "$log"; }
metrics() {
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], 'test_accuracy', m['test_accuracy'], 'train_seconds', round(m['train_seconds'], 3), 'images/s', round(m['train_images_per_second']))" \
    "$1/metrics.json" "$2" 2>&1 | tee -a "$log"
}

section devices
run $wgnn devices
run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
if [ -z "$SKIP_BENCH" ]; then
  section throughput
  for m in ${MODELS:-convnet tiny shallow cnn deep}; do
    run $wgnn bench --model "$m" --backend gpu --steps 320 --warmup 64 --json
    run python3 benches/peer_pytorch.py --model "$m" --steps 320 --warmup 64 --json
  done
  for b in 512 2048; do
    run $wgnn bench --model convnet --backend gpu --batch-size $b --steps 160 --warmup 32 --json
    run python3 benches/peer_pytorch.py --model convnet --batch-size $b --steps 160 --warmup 32 --json
  done
  [ -z "$NO_COMPILE" ] && run python3 benches/peer_pytorch.py --model convnet --steps 320 --warmup 64 --compile --json
  section profile
  run $wgnn bench --model convnet --backend gpu --profile
fi
if [ -z "$SKIP_TTA" ]; then
  section "time to 99% test accuracy (all 60,000 training images; test checks off the clock)"
  for m in ${TTA_MODELS:-convnet deep cnn-bn}; do
    # shellcheck disable=SC2086
    $wgnn train --model "$m" --backend gpu --epochs 15 --validation-split 0 \
      --time-to-accuracy 0.99 $EXTRA --out "$out/tta-$m" 2>&1 | grep -E "test accuracy after|Reached|Did not" | tee -a "$log"
  done
fi
if [ -z "$SKIP_PRESETS" ]; then
  section "presets with their defaults"
  for m in ${PRESETS:-convnet tiny shallow deep cnn cnn-dropout cnn-bn}; do
    # shellcheck disable=SC2086
    $wgnn train --model "$m" --backend gpu $EXTRA --out "$out/preset-$m" >> "$log" 2>&1
    metrics "$out/preset-$m" "$m"
  done
fi
