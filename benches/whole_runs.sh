#!/usr/bin/env bash
# Whole training runs side by side, as a user sees them: `wgnn train` on the CPU backend and the
# same preset trained by Keras (benches/peer_keras.py train: the notebooks' optimizer, batch and
# validation split), alternately, ROUNDS rounds each. The figure is training plus validation
# seconds (wgnn's metrics.json `train_seconds`, Keras' `fit` time); printed as JSON lines, then a
# table of best and median seconds and the ratio of the medians. Both use the machine's cores.
#   benches/whole_runs.sh PYTHON_WITH_TENSORFLOW
#   (RUNS="convnet:3 cnn:1 tiny:3" MODEL:EPOCHS pairs, ROUNDS=2; WGNN=target/release/wgnn)
set -euo pipefail
py=${1:?give a python with tensorflow}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log=$(mktemp)
for run in ${RUNS:-convnet:3 cnn:1 tiny:3}; do
  model=${run%%:*} epochs=${run##*:}
  for _ in $(seq "${ROUNDS:-2}"); do
    out=$(mktemp -d)
    "${WGNN:-./target/release/wgnn}" train --model "$model" --epochs "$epochs" --backend cpu --out "$out/run" > /dev/null 2>&1
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({"who": "wgnn", "model": m["model"], "epochs": m["epochs"], "seconds": m["train_seconds"], "test_accuracy": m["test_accuracy"]}))' "$out/run/metrics.json" | tee -a "$log"
    rm -rf "$out"
    "$py" benches/peer_keras.py train --model "$model" --epochs "$epochs" --json 2>/dev/null \
      | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"who": "keras", "model": r["model"], "epochs": r["epochs"], "seconds": r["train_seconds"], "test_accuracy": r["test_accuracy"]}))' | tee -a "$log"
  done
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| preset, epochs | wgnn s (best / median) | Keras s (best / median) | wgnn ahead of Keras (medians) |")
print("|---|---|---|---|")
for m in dict.fromkeys(r["model"] for r in rows):
    t = lambda who: sorted(r["seconds"] for r in rows if r["model"] == m and r["who"] == who)
    w, k = t("wgnn"), t("keras")
    e = next(r["epochs"] for r in rows if r["model"] == m)
    print(f"| {m}, {e} | {w[0]:.1f} / {statistics.median(w):.1f} | {k[0]:.1f} / {statistics.median(k):.1f} | {statistics.median(k) / statistics.median(w):.2f}x |")
PY
rm -f "$log"
