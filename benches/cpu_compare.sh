#!/usr/bin/env bash
# Side-by-side on this machine's CPU: wgnn's CPU backend, wgnn on lavapipe (Vulkan on the CPU) and
# TensorFlow/Keras (the seed notebooks' framework), same model, batch and optimizer.
#   benches/cpu_compare.sh [PYTHON_WITH_TENSORFLOW]      (needs target/release/wgnn)
# Prints one JSON line per measurement.
py=${1:-python3}
wgnn=./target/release/wgnn
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
for m in ${MODELS:-convnet tiny shallow cnn deep}; do
  $wgnn bench --model "$m" --backend cpu --steps 50 --warmup 5 --json
  $py benches/peer_keras.py bench --model "$m" --steps 50 --json 2>/dev/null
done
for m in ${LAVAPIPE_MODELS:-convnet tiny}; do
  $wgnn bench --model "$m" --backend gpu --steps 10 --warmup 2 --json 2>/dev/null
done
