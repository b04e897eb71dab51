#!/usr/bin/env python3
"""A colour image set made from real images: Fashion-MNIST with every image tinted by its own
colour, written as a PNG folder the way Keras' image_dataset_from_directory reads one
(OUT/train/<class>/NNNNN.png, OUT/test/<class>/NNNNN.png).

    python3 benches/tinted_fashion.py OUT [--src /usr/share/datasets/fashion-mnist]

Needs numpy and Pillow. The tints are drawn from a fixed seed, so OUT is the same every time.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

CLASSES = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    for split, stem in (("train", "train"), ("test", "t10k")):
        x = idx(os.path.join(a.src, f"{stem}-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
        y = idx(os.path.join(a.src, f"{stem}-labels-idx1-ubyte.gz"), 8)
        tints = rng.uniform(0.25, 1.0, size=(len(x), 3))
        for c in CLASSES:
            os.makedirs(os.path.join(a.out, split, c), exist_ok=True)
        for i, (img, label) in enumerate(zip(x, y)):
            rgb = (img[..., None].astype(np.float32) * tints[i]).round().astype(np.uint8)
            Image.fromarray(rgb, "RGB").save(os.path.join(a.out, split, CLASSES[label], f"{i:05d}.png"))
        print(f"{split}: {len(x)} images")


if __name__ == "__main__":
    main()
