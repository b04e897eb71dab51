#!/usr/bin/env bash
# Are a change's trained weights bit-identical to before it? Trains every preset for one short epoch
# (1,024 MNIST images, seed 7) on the CPU backend and on the GPU adapter with each binary, and
# compares the tensors of the two model.safetensors byte for byte (the header's timings differ
# from run to run and are left out).
#
#   git stash; cargo build --release; cp target/release/wgnn /tmp/wgnn-before; git stash pop
#   cargo build --release; benches/bit_identity.sh /tmp/wgnn-before target/release/wgnn
#
# Prints one line per preset and backend, and exits 1 when any differs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BEFORE_BINARY AFTER_BINARY" >&2; exit 2; }
out=$(mktemp -d)
presets="convnet cnn cnn-dropout cnn-bn shallow tiny deep fast best"
for side in before after; do
  bin=$1; [ "$side" = after ] && bin=$2
  for p in $presets; do
    for b in cpu gpu; do
      "$bin" train --model "$p" --epochs 1 --limit 1024 --seed 7 --backend "$b" \
        --out "$out/$side/$p-$b" >"$out/$side-$p-$b.log" 2>&1 \
        || { echo "$side $p $b failed: see $out/$side-$p-$b.log" >&2; exit 1; }
    done
  done
done
python3 - "$out" <<'PY'
import json, os, struct, sys
root = sys.argv[1]
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return header, data[8 + n:]
bad = 0
for run in sorted(os.listdir(f"{root}/before")):
    same = tensors(f"{root}/before/{run}/model.safetensors") == tensors(f"{root}/after/{run}/model.safetensors")
    bad += not same
    print(f"{run}: {'bit-identical' if same else 'DIFFERS'}")
sys.exit(1 if bad else 0)
PY
