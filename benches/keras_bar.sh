#!/usr/bin/env bash
# The seed presets' accuracy bar: each preset trained with its own defaults and split by wgnn's CPU
# backend and by TensorFlow/Keras (benches/peer_keras.py) for the same seeds, in alternation on one
# machine; then a table of the test accuracies with both means, and wgnn's mean minus Keras'.
#   benches/keras_bar.sh [PYTHON_WITH_TENSORFLOW]        (needs target/release/wgnn)
#   MODELS="convnet deep" SEEDS="42 7 1 2 3" RESULTS=bar.tsv benches/keras_bar.sh PYTHON
# Every finished run is appended to RESULTS (model, framework, seed, test accuracy, train seconds,
# time), and runs already there are not repeated: an interrupted comparison resumes where it
# stopped, and `MODELS=... benches/keras_bar.sh` with everything done just prints the table.
set -uo pipefail
py=${1:-python3}
wgnn=./target/release/wgnn
results=${RESULTS:-keras-bar.tsv}
seeds=${SEEDS:-42 7 1 2 3}
models=${MODELS:-convnet tiny shallow deep cnn cnn-dropout cnn-bn}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$results"

for m in $models; do
  for s in $seeds; do
    for who in keras wgnn; do
      grep -q "^$m	$who	$s	" "$results" && continue
      if [ "$who" = keras ]; then
        "$py" benches/peer_keras.py train --model "$m" --seed "$s" --json > "$work/r.json" 2> "$work/err" || {
          echo "keras_bar: Keras failed on $m seed $s:" >&2; tail -5 "$work/err" >&2; exit 1; }
        json="$work/r.json"
      else
        "$wgnn" train --model "$m" --seed "$s" --backend cpu --out "$work/run-$m-$s" > "$work/log" 2>&1 || {
          echo "keras_bar: wgnn failed on $m seed $s:" >&2; tail -5 "$work/log" >&2; exit 1; }
        json="$work/run-$m-$s/metrics.json"
      fi
      python3 - "$json" "$m" "$who" "$s" >> "$results" <<'PY'
import json, sys, time
d = json.load(open(sys.argv[1]))
print("\t".join(sys.argv[2:5] + [f'{d["test_accuracy"]:.4f}', f'{d["train_seconds"]:.1f}',
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())]))
PY
      tail -1 "$results"
    done
  done
done

python3 - "$results" "$models" "$seeds" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.count("\t") >= 4 and not l.startswith("#")]
models, seeds = sys.argv[2].split(), sys.argv[3].split()
acc = {(m, w, s): 100 * float(a) for m, w, s, a, *_ in rows}
print("\n| preset | | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | wgnn - Keras (± standard error) |")
print("|---|---|" + "---|" * (len(seeds) + 2))
for m in models:
    runs = {w: [acc.get((m, w, s)) for s in seeds] for w in ("wgnn", "keras")}
    complete = all(None not in v for v in runs.values())
    for who, name in (("wgnn", "wgnn"), ("keras", "Keras")):
        got = runs[who]
        cells = " | ".join(f"{a:.2f}%" if a is not None else "-" for a in got)
        mean = f"**{statistics.mean(got):.3f}%**" if None not in got else "-"
        gap = ""
        if who == "keras" and complete:
            w, k = runs["wgnn"], runs["keras"]
            # The seeds of the two frameworks are not paired (each draws its own initialisation),
            # so the error of the difference is that of two independent means.
            gap = f"{statistics.mean(w) - statistics.mean(k):+.3f}"
            if len(seeds) > 1:  # one seed has no spread to give an error from
                se = (statistics.variance(w) / len(w) + statistics.variance(k) / len(k)) ** 0.5
                gap += f" ± {se:.3f}"
            gap += " points"
        print(f"| `{m}` | {name} | {cells} | {mean} | {gap} |")
PY
