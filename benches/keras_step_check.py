#!/usr/bin/env python3
"""Checks wgnn's training arithmetic against Keras itself, from identical starting weights.

    python3 benches/keras_step_check.py --model cnn [--steps 5] [--batch 32] [--backend cpu]
    python3 benches/keras_step_check.py --model my-model.toml [...]
    python3 benches/keras_step_check.py --model cnn --image-folder DIR [...]   (colour, any classes)

It builds the preset in Keras, writes Keras' initial weights into a wgnn run folder, trains both
for `steps` optimizer steps on the same batch (the first `batch` training images; a batch's mean
gradient does not depend on the order of its rows, so wgnn's shuffling does not matter), and prints
the largest difference per tensor. Models with dropout draw different masks, so use cnn, cnn-bn or
deep. `--image-folder DIR` reads DIR/train as both do (wgnn's image-folder reader, Keras'
`image_dataset_from_directory` in wgnn's order), so colour inputs are checked too. Needs TensorFlow/Keras and the `safetensors` package, and a built `target/release/wgnn`.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
from keras_summary_check import keras_net, model_toml  # noqa: E402
from peer_keras import DEFAULTS, compiled, keras, load, load_folder  # noqa: E402


def weights(path):
    """A checkpoint's weights, without the training state stored beside them."""
    return {k: v for k, v in load_file(path).items() if not k.startswith("train_state.")}


def named(net):
    return {f"{layer.name}.{w.name}": w for layer in net.layers for w in layer.weights}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--optimizer", help="adam, rmsprop or sgd (default: the preset's)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wgnn", default="target/release/wgnn")
    ap.add_argument("--data-dir", default="data/mnist")
    ap.add_argument("--image-folder", help="an image folder (DIR/train, DIR/test) instead of --data-dir")
    a = ap.parse_args()
    toml = a.model.endswith(".toml")
    opt = a.optimizer or ("adam" if toml else DEFAULTS[a.model][0])
    tmp = tempfile.mkdtemp()
    start, after = os.path.join(tmp, "start"), os.path.join(tmp, "after")
    common = ["--model", a.model, "--limit", str(a.batch), "--batch-size", str(a.batch),
              "--validation-split", "0", "--backend", a.backend, "--data-dir", a.image_folder or a.data_dir,
              "--optimizer", opt, "--lr", str(a.lr)]
    # A run folder of the right model (names, model.toml), whose weights are then replaced.
    subprocess.run([a.wgnn, "train", *common, "--epochs", "1", "--out", start], check=True,
                   stdout=subprocess.DEVNULL)
    x, y = load_folder(a.image_folder, "train") if a.image_folder else load(a.data_dir, "train")
    if toml:
        net = keras_net(model_toml(a.model))
        o = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
             "sgd": keras.optimizers.SGD}[opt](a.lr)
        net.compile(optimizer=o, loss="categorical_crossentropy")
    else:
        net = compiled(a.model, opt, a.lr, x.shape[1:], y.shape[1])
    ws = named(net)
    ours = weights(os.path.join(start, "model.safetensors"))
    missing = set(ours) - set(ws)
    if missing:
        raise SystemExit(f"no Keras weight for {sorted(missing)}; Keras has {sorted(ws)}")
    initial = {k: ws[k].numpy().astype(np.float32) for k in ours}
    # The checkpoint keeps its header (format, model) and training state; only the weights change.
    path = os.path.join(start, "model.safetensors")
    with safe_open(path, "np") as f:
        meta = f.metadata()
    save_file({**load_file(path), **initial}, path, metadata=meta)
    subprocess.run([a.wgnn, "train", *common, "--init-from", start, "--epochs", str(a.steps), "--out", after],
                   check=True, stdout=subprocess.DEVNULL)
    net.fit(x[:a.batch], y[:a.batch], batch_size=a.batch, epochs=a.steps, shuffle=False, verbose=0)
    got = weights(os.path.join(after, "model.safetensors"))
    worst = 0.0
    print(f"{a.model}, {opt} lr {a.lr}, {a.steps} steps of batch {a.batch} of {x.shape[1:]} images, wgnn backend {a.backend}")
    print(f"{'tensor':28} {'max |wgnn - keras|':>20} {'max |keras|':>12} {'max |change|':>13}")  # change: Keras' own update
    for k in sorted(got):
        kv = ws[k].numpy()
        d = float(np.abs(got[k] - kv).max())
        moved = float(np.abs(kv - initial[k]).max())
        worst = max(worst, d)
        print(f"{k:28} {d:20.3e} {float(np.abs(kv).max()):12.3e} {moved:13.3e}")
    print(f"largest difference: {worst:.3e}")


if __name__ == "__main__":
    main()
