#!/usr/bin/env bash
# Whole training runs side by side, as a user sees them: `wgnn train` on the CPU backend, the same
# preset trained by Keras (benches/peer_keras.py train: the notebooks' optimizer, batch and
# validation split) and, when a second Python with torch is given, by a plain PyTorch loop
# (benches/peer_pytorch.py --train: the same settings), alternately, ROUNDS rounds each. The
# figure is training plus validation seconds (wgnn's metrics.json `train_seconds`, Keras' `fit`
# time, PyTorch's loop); printed as JSON lines, then a table of best and median seconds and the
# ratios of the medians. Every program uses the machine's cores.
#   benches/whole_runs.sh PYTHON_WITH_TENSORFLOW [PYTHON_WITH_TORCH]
#   (RUNS="convnet:3 cnn:1 tiny:3" MODEL:EPOCHS pairs, ROUNDS=2; WGNN=target/release/wgnn)
set -euo pipefail
py=${1:?give a python with tensorflow}
torch_py=${2:-}
wgnn=${WGNN:-./target/release/wgnn}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log=$(mktemp)
row() { # who: reads the program's JSON on stdin, prints one line for the table
  python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"who": sys.argv[1], "model": r["model"], "epochs": r["epochs"], "seconds": r["train_seconds"], "test_accuracy": r["test_accuracy"]}))' "$1" | tee -a "$log"
}
for run in ${RUNS:-convnet:3 cnn:1 tiny:3}; do
  model=${run%%:*} epochs=${run##*:}
  for _ in $(seq "${ROUNDS:-2}"); do
    out=$(mktemp -d)
    "$wgnn" train --model "$model" --epochs "$epochs" --backend cpu --out "$out/run" > /dev/null 2>&1
    row wgnn < "$out/run/metrics.json"
    rm -rf "$out"
    "$py" benches/peer_keras.py train --model "$model" --epochs "$epochs" --json 2>/dev/null | row keras
    if [ -n "$torch_py" ]; then
      "$torch_py" benches/peer_pytorch.py --train --model "$model" --epochs "$epochs" --json 2>/dev/null | row pytorch
    fi
  done
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peers = [p for p in ("keras", "pytorch") if any(r["who"] == p for r in rows)]
names = {"keras": "Keras", "pytorch": "PyTorch"}
head = "| preset, epochs | wgnn s (best / median) | " + " | ".join(f"{names[p]} s (best / median)" for p in peers)
head += " | " + " | ".join(f"wgnn ahead of {names[p]} (medians)" for p in peers) + " |"
print("\n" + head)
print("|---" * (2 + 2 * len(peers)) + "|")
for m in dict.fromkeys(r["model"] for r in rows):
    t = lambda who: sorted(r["seconds"] for r in rows if r["model"] == m and r["who"] == who)
    w = t("wgnn")
    e = next(r["epochs"] for r in rows if r["model"] == m)
    cells = [f"{m}, {e}", f"{w[0]:.1f} / {statistics.median(w):.1f}"]
    cells += [f"{t(p)[0]:.1f} / {statistics.median(t(p)):.1f}" for p in peers]
    cells += [f"{statistics.median(t(p)) / statistics.median(w):.2f}x" for p in peers]
    print("| " + " | ".join(cells) + " |")
PY
rm -f "$log"
