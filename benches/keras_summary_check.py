#!/usr/bin/env python3
"""Checks `wgnn summary` against Keras: builds the same Sequential model in Keras from a wgnn
model file (or preset) and compares every layer's output shape and parameter count.

    python3 benches/keras_summary_check.py [--wgnn target/release/wgnn] MODEL [MODEL ...]

MODEL is a .toml model file. Exits 1 on any difference.
"""
import argparse
import os
import re
import subprocess
import sys
import tomllib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
from keras import layers  # noqa: E402


def pair(v, default=None):
    if v is None:
        return default
    return tuple(v) if isinstance(v, list) else (v, v)


def keras_activation(t):
    """The layer's activation as Keras computes it, alpha included."""
    name = t.get("activation", "linear")
    alpha = t.get("alpha")
    if alpha is None:
        return name
    if name == "elu":
        return lambda x: keras.activations.elu(x, alpha=alpha)
    if name == "leaky_relu":
        return lambda x: keras.activations.leaky_relu(x, negative_slope=alpha)
    raise SystemExit(f"alpha given for {name}")


def keras_net(spec):
    """A Keras Sequential model from a wgnn model file's tables."""
    return keras.Sequential([keras.Input(tuple(spec.get("input", [28, 28, 1])))]
                            + [keras_layer(t) for t in spec["layers"]])


def keras_layer(t):
    ty = t["type"]
    if ty == "conv2d":
        return layers.Conv2D(
            t["filters"],
            pair(t["kernel_size"]),
            strides=pair(t.get("strides"), (1, 1)),
            padding=t.get("padding", "valid"),
            activation=keras_activation(t),
        )
    if ty in ("maxpool2d", "max_pooling2d", "avgpool2d", "average_pooling2d"):
        pool = pair(t.get("pool_size"), (2, 2))
        cls = layers.MaxPooling2D if "max" in ty else layers.AveragePooling2D
        return cls(pool, strides=pair(t.get("strides"), pool), padding=t.get("padding", "valid"))
    if ty in ("global_avgpool2d", "global_average_pooling2d"):
        return layers.GlobalAveragePooling2D()
    if ty in ("global_maxpool2d", "global_max_pooling2d"):
        return layers.GlobalMaxPooling2D()
    if ty == "flatten":
        return layers.Flatten()
    if ty == "dense":
        return layers.Dense(t["units"], activation=keras_activation(t))
    if ty == "dropout":
        return layers.Dropout(t["rate"])
    if ty in ("batchnorm", "batch_normalization"):
        return layers.BatchNormalization(
            momentum=t.get("momentum", 0.99), epsilon=t.get("epsilon", 0.001)
        )
    if ty == "activation":
        return layers.Activation(keras_activation(t))
    raise SystemExit(f"unknown layer type {ty}")


def wgnn_rows(wgnn, model):
    """(output shape, params) per layer from `wgnn summary`."""
    out = subprocess.run([wgnn, "summary", "--model", model], check=True, capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*\S+ \(\w+\)\s+\(None((?:, \d+)*)\)\s+([\d,]+)\s*$", line)
        if m:
            shape = tuple(int(d) for d in m.group(1).split(", ")[1:])
            rows.append((shape, int(m.group(2).replace(",", ""))))
    return rows


def model_toml(model):
    with open(model, "rb") as f:
        return tomllib.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wgnn", default="target/release/wgnn")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    bad = 0
    for model in a.models:
        spec = model_toml(model)
        net = keras_net(spec)
        want = [(tuple(l.output.shape[1:]), l.count_params()) for l in net.layers]
        got = wgnn_rows(a.wgnn, model)
        same = got == want
        bad += not same
        print(f"{model}: {len(want)} layers, {net.count_params():,} parameters: "
              + ("identical to Keras" if same else f"DIFFERENT\n  wgnn  {got}\n  keras {want}"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
