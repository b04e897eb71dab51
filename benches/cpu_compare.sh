#!/usr/bin/env bash
# Side-by-side on this machine's CPU: wgnn's CPU backend, wgnn on lavapipe (Vulkan on the CPU) and
# TensorFlow/Keras (the seed notebooks' framework): same model, batch size and optimizer, each
# pair run ROUNDS times in alternation (a shared machine is noisy); the best and the median of
# each are reported, and the ratio of the bests (Keras' times on this machine are bimodal).
#   benches/cpu_compare.sh [PYTHON_WITH_TENSORFLOW]      (needs target/release/wgnn)
# Prints every measurement as a JSON line, then a markdown table.
py=${1:-python3}
wgnn=./target/release/wgnn
rounds=${ROUNDS:-3}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log=$(mktemp)
for m in ${MODELS:-convnet tiny shallow cnn deep}; do
  for _ in $(seq "$rounds"); do
    $wgnn bench --model "$m" --backend cpu --steps 50 --warmup 5 --json | tee -a "$log"
    $py benches/peer_keras.py bench --model "$m" --steps 50 --json 2>/dev/null | tee -a "$log"
  done
done
for m in ${LAVAPIPE_MODELS:-convnet tiny}; do
  $wgnn bench --model "$m" --backend gpu --steps 10 --warmup 2 --json 2>/dev/null | tee -a "$log"
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def runs(model, who):
    return [r["images_per_second"] for r in rows if r["model"] == model and r.get("peer", r.get("backend")) == who]
f = lambda v: f"{v:,.0f}" if v else "-"
print("\n| model | batch | wgnn CPU backend img/s (best / median) | wgnn lavapipe img/s | Keras CPU img/s (best / median) | best / best |")
print("|---|---|---|---|---|---|")
for m in dict.fromkeys(r["model"] for r in rows):
    b = next(r["batch_size"] for r in rows if r["model"] == m)
    c, g, k = runs(m, "cpu"), runs(m, "gpu"), runs(m, "keras")
    both = lambda v: f"{f(max(v))} / {f(statistics.median(v))}" if v else "-"
    ratio = f"{max(c) / max(k):.2f}x" if c and k else "-"
    print(f"| {m} | {b} | {both(c)} | {f(max(g)) if g else '-'} | {both(k)} | {ratio} |")
PY
rm -f "$log"
