#!/usr/bin/env python3
"""Peer: the wgnn presets in TensorFlow/Keras, the seed notebooks' framework, on this machine.

    python3 benches/peer_keras.py bench --model convnet [--batch-size 128] [--steps 50] [--json]
    python3 benches/peer_keras.py train --model shallow [--epochs N] [--seed 42] [--json]
    python3 benches/peer_keras.py train --model convnet --image-folder DIR [--seed 1] [--json]

`bench` times `model.fit` over `steps` batches after a warm-up epoch of the same size, as a Keras
user would run it (data already in memory as float32). `train` runs the preset's notebook defaults
(optimizer, batch, epochs, validation) and evaluates on the test set, so wgnn's accuracy can be
compared with Keras' on the same split. `--image-folder DIR` reads DIR/train and DIR/test with
`image_dataset_from_directory` (colour as the files are) and orders the training images as wgnn
does, interleaved across classes, so both hold out the same validation images.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
from keras import layers  # noqa: E402


def conv(f):
    return layers.Conv2D(f, 3, activation="relu")


def pool():
    return layers.MaxPooling2D(2)


def build(name, shape=(28, 28, 1), classes=10):
    """The seed notebooks' models, layer for layer (same parameter counts as `wgnn summary`)."""
    if name == "convnet":
        ls = [conv(32), pool(), conv(64), pool(), layers.Flatten(), layers.Dropout(0.5)]
    elif name in ("cnn", "cnn-dropout", "cnn-bn"):
        d, bn = name == "cnn-dropout", name == "cnn-bn"
        ls = [conv(32)] + ([layers.BatchNormalization()] if bn else []) + [pool()]
        ls += [layers.Dropout(0.25)] if d else []
        ls += [conv(64)] + ([layers.BatchNormalization()] if bn else []) + [pool()]
        ls += [layers.Dropout(0.25)] if d else []
        ls += [layers.Flatten(), layers.Dense(64, activation="relu")]
        ls += [layers.BatchNormalization()] if bn else []
        ls += [layers.Dropout(0.5)] if d else []
    elif name == "shallow":
        ls = [conv(32), pool(), layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dropout(0.2)]
    elif name == "tiny":
        ls = [conv(8), pool(), layers.Conv2D(16, 3, activation="relu"), pool(), layers.Flatten(),
              layers.Dense(64, activation="relu"), layers.Dropout(0.2)]
    elif name == "deep":
        ls = [conv(32), pool(), conv(64), pool(), conv(64), layers.Flatten(), layers.Dense(64, activation="relu")]
    else:
        raise SystemExit(f"unknown model {name}")
    return keras.Sequential([keras.Input(shape)] + ls + [layers.Dense(classes, activation="softmax")])


# optimizer, batch, epochs, validation (a fraction, or an int: the last N training images)
DEFAULTS = {
    "convnet": ("adam", 128, 15, 0.1), "tiny": ("adam", 128, 10, 0.2), "shallow": ("adam", 128, 10, 0.2),
    "deep": ("rmsprop", 64, 8, 0.1), "cnn": ("adam", 32, 10, 10000), "cnn-dropout": ("adam", 32, 10, 10000),
    "cnn-bn": ("adam", 32, 10, 10000),
}


def load(data_dir, split):
    with gzip.open(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype("float32") / 255.0, keras.utils.to_categorical(y, 10)


def load_folder(root, split):
    """One split of an image folder, in wgnn's order: the i-th file of every class, for i = 0, 1, ..."""
    first = next(os.path.join(d, f) for d, _, fs in sorted(os.walk(os.path.join(root, split))) for f in sorted(fs))
    size = keras.utils.load_img(first).size[::-1]
    ds = keras.utils.image_dataset_from_directory(os.path.join(root, split), label_mode="int", color_mode="rgb",
                                                  image_size=size, shuffle=False, batch_size=None, verbose=False)
    x = np.stack([im.numpy() for im, _ in ds]).astype("float32") / 255.0
    y = np.array([int(l) for _, l in ds])
    rank = np.zeros(len(y), np.int64)
    for c in np.unique(y):
        rank[y == c] = np.arange((y == c).sum())
    order = np.lexsort((y, rank))
    return x[order], keras.utils.to_categorical(y[order], len(ds.class_names))


def compiled(name, opt, lr, shape=(28, 28, 1), classes=10):
    net = build(name, shape, classes)
    o = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}[opt](lr)
    net.compile(optimizer=o, loss="categorical_crossentropy", metrics=["accuracy"])
    return net


def device():
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    return f"TensorFlow {tf.__version__} " + (gpus[0].name if gpus else f"CPU ({os.cpu_count()} cores)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["bench", "train"])
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", default="data/mnist")
    ap.add_argument("--image-folder")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tensorboard", metavar="DIR",
                    help="train: also write keras.callbacks.TensorBoard logs to DIR (weight "
                         "histograms each epoch), to compare with a wgnn run")
    ap.add_argument("--log-every", type=int, default=0,
                    help="with --tensorboard: the callback's update_freq in steps (0: 'epoch'); "
                         "Keras 3.15 then drops the epoch summaries of every epoch that does not "
                         "end on a multiple of it (its record_if condition stays on)")
    a = ap.parse_args()
    keras.utils.set_random_seed(a.seed)
    opt, batch, epochs, val = DEFAULTS[a.model]
    batch = a.batch_size or batch
    epochs = a.epochs or epochs
    x, y = load_folder(a.image_folder, "train") if a.image_folder else load(a.data_dir, "train")
    net = compiled(a.model, opt, a.lr, x.shape[1:], y.shape[1])
    r = {"peer": "keras", "keras": keras.__version__, "model": a.model, "params": net.count_params(),
         "batch_size": batch, "optimizer": opt, "device": device()}
    if a.what == "bench":
        n = batch * a.steps
        net.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)  # warm-up: tracing, allocation
        t0 = time.perf_counter()
        net.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)
        s = time.perf_counter() - t0
        r.update(steps=a.steps, seconds=s, ms_per_step=1000 * s / a.steps, images_per_second=n / s)
    else:
        if isinstance(val, int):
            xt, yt, vd = x[:-val], y[:-val], (x[-val:], y[-val:])
            kw = {"validation_data": vd}
        else:
            xt, yt, kw = x, y, ({"validation_split": val} if val else {})
        if a.tensorboard:
            kw["callbacks"] = [keras.callbacks.TensorBoard(
                log_dir=a.tensorboard, update_freq=a.log_every or "epoch", histogram_freq=1)]
        t0 = time.perf_counter()
        h = net.fit(xt, yt, batch_size=batch, epochs=epochs, verbose=0 if a.json else 2, **kw)
        s = time.perf_counter() - t0
        xs, ys = load_folder(a.image_folder, "test") if a.image_folder else load(a.data_dir, "t10k")
        loss, acc = net.evaluate(xs, ys, verbose=0)
        r.update(epochs=epochs, seed=a.seed, train_seconds=s, test_loss=loss, test_accuracy=acc,
                 history={k: [round(float(v), 5) for v in vs] for k, vs in h.history.items()})
    if a.json:
        print(json.dumps(r))
    else:
        print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
