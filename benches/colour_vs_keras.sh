#!/usr/bin/env bash
# Colour training against Keras on a colour set made from real images: Fashion-MNIST with each
# image tinted, written as a PNG folder (benches/tinted_fashion.py) and read by both, wgnn's
# image-folder reader and Keras' image_dataset_from_directory, in the same order (so the same
# validation images are held out). Same model, defaults and seeds; wgnn (CPU backend) and Keras
# run alternately.
#   benches/colour_vs_keras.sh PYTHON_WITH_TENSORFLOW_AND_PILLOW [FOLDER]
#   MODEL=convnet SEEDS="1 2 3" RESULTS=colour-bar.tsv benches/colour_vs_keras.sh PYTHON [FOLDER]
#   (needs target/release/wgnn and dataset-fashion-mnist)
# Every finished run is appended to RESULTS (model, framework, seed, test accuracy, train seconds,
# time, final training loss, mean validation accuracy of the last five epochs), and runs already
# there are not repeated: an interrupted comparison resumes, and one with everything done just
# prints the table. The table covers every seed in RESULTS for MODEL: the mean and standard error
# of each framework's test accuracy, and whether wgnn's mean is within 2 of Keras' standard errors.
set -euo pipefail
py=${1:?give a python with tensorflow, numpy and pillow}
dir=${2:-/tmp/wgnn-tinted-fashion}
model=${MODEL:-convnet}
results=${RESULTS:-colour-bar.tsv}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$results"
[ -d "$dir/test" ] || "$py" benches/tinted_fashion.py "$dir"

for s in ${SEEDS:-1 2 3}; do
  for who in wgnn keras; do
    grep -q "^$model	$who	$s	" "$results" && continue
    if [ "$who" = wgnn ]; then
      ./target/release/wgnn train --model "$model" --data-dir "$dir" --seed "$s" --backend cpu \
        --out "$work/run-$s" > "$work/log" 2>&1 || {
        echo "colour_vs_keras: wgnn failed on seed $s:" >&2; tail -5 "$work/log" >&2; exit 1; }
      python3 - "$work/run-$s/metrics.json" "$work/run-$s/history.csv" > "$work/r.json" <<'PY'
import csv, json, sys
m = json.load(open(sys.argv[1]))
h = list(csv.DictReader(open(sys.argv[2])))
m["history"] = {k: [float(r[k]) for r in h] for k in ("loss", "val_accuracy")}
print(json.dumps(m))
PY
    else
      "$py" benches/peer_keras.py train --model "$model" --image-folder "$dir" --seed "$s" --json \
        > "$work/r.json" 2> "$work/err" || {
        echo "colour_vs_keras: Keras failed on seed $s:" >&2; tail -5 "$work/err" >&2; exit 1; }
    fi
    python3 - "$work/r.json" "$model" "$who" "$s" >> "$results" <<'PY'
import json, statistics, sys, time
d = json.load(open(sys.argv[1]))
h = d["history"]
print("\t".join(sys.argv[2:5] + [f'{d["test_accuracy"]:.4f}', f'{d["train_seconds"]:.1f}',
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), f'{h["loss"][-1]:.4f}',
                 f'{statistics.mean(h["val_accuracy"][-5:]):.4f}']))
PY
    tail -1 "$results"
  done
done

python3 - "$results" "$model" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
rows = [r for r in rows if r[0] == sys.argv[2]]
def col(who, i):
    return {int(r[2]): float(r[i]) for r in rows if r[1] == who and len(r) > i and r[i]}
def stats(a):
    m = statistics.mean(a)
    return m, (statistics.stdev(a) / len(a) ** 0.5 if len(a) > 1 else 0.0)
w, k = col("wgnn", 3), col("keras", 3)
seeds = sorted(set(w) & set(k))
if not seeds:
    sys.exit("no seed has both a wgnn and a Keras run yet")
print(f"\n{sys.argv[2]}, seeds {', '.join(map(str, seeds))}\n")
print("| | test accuracy: mean | standard error | median | lowest | final training loss: mean "
      "| validation accuracy, last 5 epochs: mean |\n|---|---|---|---|---|---|---|")
for who, d in (("wgnn", w), ("Keras", k)):
    a = [d[s] for s in seeds]
    m, se = stats(a)
    extra = []
    for i in (6, 7):
        c = col(who.lower(), i)
        e = [c[s] for s in seeds if s in c]
        extra.append(f"{statistics.mean(e):.4f} ({len(e)} seeds)" if e else "-")
    print(f"| {who} | {m:.4f} | {se:.4f} | {statistics.median(a):.4f} | {min(a):.4f} | {extra[0]} | {extra[1]} |")
(wm, ws), (km, ks) = stats([w[s] for s in seeds]), stats([k[s] for s in seeds])
verdict = "within" if wm >= km - 2 * max(ks, 1e-12) else "NOT within"
diff_se = (ws ** 2 + ks ** 2) ** 0.5
print(f"\nwgnn's mean is {wm - km:+.4f} from Keras' ({verdict} 2 of Keras' standard errors, {2 * ks:.4f};"
      f" {abs(wm - km) / max(diff_se, 1e-12):.1f} standard errors of the difference)")
PY
