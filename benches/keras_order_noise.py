#!/usr/bin/env python3
"""How far Keras drifts from itself when only the order of a batch's rows changes: the floor under
`keras_step_check.py`'s differences.

    python3 benches/keras_order_noise.py --model cnn [--image-folder DIR] [--trials 8] [--steps 5]
        [--batch 128] [--optimizer sgd] [--lr 0.1]

Each trial builds the preset twice with the same initial weights and trains both for `steps`
optimizer steps on the same batch (the first `batch` training images, in wgnn's order), the second
with the batch's rows shuffled before every step. The mean gradient does not depend on the order,
so the two differ only by float32 rounding in the sums, until a ReLU or a max pooling's argmax sits
close enough to a tie that the rounding flips it. Prints the largest weight difference per trial.
Needs TensorFlow/Keras.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peer_keras import DEFAULTS, compiled, load, load_folder  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--optimizer", help="adam, rmsprop or sgd (default: the preset's)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0, help="seeds the row shuffles")
    ap.add_argument("--data-dir", default="data/mnist")
    ap.add_argument("--image-folder", help="an image folder (DIR/train, DIR/test) instead of --data-dir")
    a = ap.parse_args()
    opt = a.optimizer or DEFAULTS[a.model][0]
    x, y = load_folder(a.image_folder, "train") if a.image_folder else load(a.data_dir, "train")
    x, y = x[:a.batch], y[:a.batch]
    rng = np.random.default_rng(a.seed)
    print(f"{a.model}, {opt} lr {a.lr}, {a.steps} steps of batch {a.batch} of {x.shape[1:]} images")
    worst = []
    for trial in range(a.trials):
        ordered = compiled(a.model, opt, a.lr, x.shape[1:], y.shape[1])
        shuffled = compiled(a.model, opt, a.lr, x.shape[1:], y.shape[1])
        shuffled.set_weights(ordered.get_weights())
        for _ in range(a.steps):
            p = rng.permutation(len(x))
            ordered.train_on_batch(x, y)
            shuffled.train_on_batch(x[p], y[p])
        d = max(float(np.abs(u - v).max()) for u, v in zip(ordered.get_weights(), shuffled.get_weights()))
        worst.append(d)
        print(f"trial {trial}: largest difference {d:.3e}", flush=True)
    print(f"median {np.median(worst):.3e}, largest {max(worst):.3e}")


if __name__ == "__main__":
    main()
