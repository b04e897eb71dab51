#!/usr/bin/env bash
# The CPU backend's step on each instruction set this processor runs, alternating with the FMA
# peak so that a busy machine slows both alike (docs/performance.md, "By instruction set").
#   benches/isa_steps.sh [ROUNDS] [MODELS...]     (default: 5 rounds of convnet, cnn and tiny)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
shift || true
models=("${@:-convnet cnn tiny}")
read -r -a models <<<"${models[*]}"
cargo build --release --bin wgnn >/dev/null
cargo bench --bench fma_peak --no-run >/dev/null 2>&1
peak=$(ls target/release/deps/fma_peak-* | grep -v '\.d$' | head -1)
sets=$(./target/release/wgnn devices 2>/dev/null | sed -n 's/.*this processor runs \(.*\); choose.*/\1/p' | tr -d ',')
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
for round in $(seq 1 "$rounds"); do
  echo "round $round peak: $("$peak" | grep 'FMA peak' | tr '\n' ' ')"
  for isa in $sets; do
    for m in "${models[@]}"; do
      ms=$(WGNN_CPU_ISA=$isa ./target/release/wgnn bench --model "$m" --backend cpu --steps 40 --warmup 5 --json |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ms_per_step"],3))')
      echo "round $round $isa $m $ms ms"
    done
  done
done
