#!/usr/bin/env bash
# Colour training against Keras on a colour set made from real images: Fashion-MNIST with each
# image tinted, written as a PNG folder (benches/tinted_fashion.py) and read by both, wgnn's
# image-folder reader and Keras' image_dataset_from_directory, in the same order (so the same
# validation images are held out). Same model, defaults and seeds; wgnn (CPU backend) and Keras
# run alternately. Prints each run as a JSON line, then the mean and standard error of the test
# accuracy of each, and whether wgnn's mean is within 2 standard errors of Keras' or above it.
#   benches/colour_vs_keras.sh PYTHON_WITH_TENSORFLOW_AND_PILLOW [FOLDER]
#   (MODEL=convnet SEEDS="1 2 3" by default; needs target/release/wgnn and dataset-fashion-mnist)
set -euo pipefail
py=${1:?give a python with tensorflow, numpy and pillow}
dir=${2:-/tmp/wgnn-tinted-fashion}
model=${MODEL:-convnet}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
[ -d "$dir/test" ] || "$py" benches/tinted_fashion.py "$dir"
log=$(mktemp)
for s in ${SEEDS:-1 2 3}; do
  out=$(mktemp -d)
  ./target/release/wgnn train --model "$model" --data-dir "$dir" --seed "$s" --backend cpu --out "$out/run" > "$out/log"
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({"who": "wgnn", "seed": m["seed"], "test_accuracy": m["test_accuracy"], "train_seconds": m["train_seconds"], "epochs": m["epochs"]}))' "$out/run/metrics.json" | tee -a "$log"
  "$py" benches/peer_keras.py train --model "$model" --image-folder "$dir" --seed "$s" --json 2>/dev/null \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"who": "keras", "seed": r["seed"], "test_accuracy": r["test_accuracy"], "train_seconds": r["train_seconds"], "epochs": r["epochs"]}))' | tee -a "$log"
  rm -rf "$out"
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def stats(who):
    a = [r["test_accuracy"] for r in rows if r["who"] == who]
    m = statistics.mean(a)
    se = statistics.stdev(a) / len(a) ** 0.5 if len(a) > 1 else 0.0
    return a, m, se
(wa, wm, ws), (ka, km, ks) = stats("wgnn"), stats("keras")
print(f"\n| | test accuracy per seed | mean | standard error |\n|---|---|---|---|")
print(f"| wgnn | {', '.join(f'{x:.4f}' for x in wa)} | {wm:.4f} | {ws:.4f} |")
print(f"| Keras | {', '.join(f'{x:.4f}' for x in ka)} | {km:.4f} | {ks:.4f} |")
verdict = "within" if wm >= km - 2 * max(ks, 1e-12) else "NOT within"
print(f"\nwgnn's mean is {wm - km:+.4f} from Keras' ({verdict} 2 of Keras' standard errors, {2 * ks:.4f})")
PY
rm -f "$log"
