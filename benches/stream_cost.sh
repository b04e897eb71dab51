#!/usr/bin/env bash
# What streaming the data to the GPU costs on a set that fits: `wgnn bench` resident and with
# `--stream`, alternately, ROUNDS rounds each, on one adapter; printed as JSON lines, then a table
# of best and median ms per step and the ratio of the medians (above 1: streaming is slower).
#   benches/stream_cost.sh [WGNN_BINARY]
#   (MODELS="tiny convnet", STEPS=60, ROUNDS=5; ADAPTER=vulkan by default: lavapipe here)
set -euo pipefail
wgnn=${1:-./target/release/wgnn}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log=$(mktemp)
for model in ${MODELS:-tiny convnet}; do
  for _ in $(seq "${ROUNDS:-5}"); do
    for mode in resident stream; do
      flag=$([ "$mode" = stream ] && echo --stream || true)
      "$wgnn" bench --model "$model" --backend gpu --adapter "${ADAPTER:-vulkan}" \
        --steps "${STEPS:-60}" --json $flag 2>/dev/null \
        | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"mode": sys.argv[1], "model": r["model"], "ms": r["ms_per_step"], "data": r["data"], "device": r["device"]}))' "$mode" \
        | tee -a "$log"
    done
  done
done
python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n{rows[0]['device']}\n")
print("| preset | resident ms/step (best / median) | streamed ms/step (best / median) | streamed / resident (medians) |")
print("|---|---|---|---|")
for m in dict.fromkeys(r["model"] for r in rows):
    t = lambda mode: sorted(r["ms"] for r in rows if r["model"] == m and r["mode"] == mode)
    a, s = t("resident"), t("stream")
    print(f"| {m} | {a[0]:.2f} / {statistics.median(a):.2f} | {s[0]:.2f} / {statistics.median(s):.2f} | {statistics.median(s) / statistics.median(a):.3f} |")
PY
rm -f "$log"
