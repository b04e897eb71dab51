#!/usr/bin/env python3
"""Writes a large, learnable, uncompressed IDX data set for memory measurements (benches/rss_watch.sh,
docs/data.md): N training and 5000 test RGB images of 64x64 as 4-dimensional IDX files
([n, 64, 64, 3], magic 0x00000804), ten classes.

Each class has a colour and a stripe pattern of its own; every image is its class's pattern
shifted sideways by 0-7 pixels, with about a quarter of its rows replaced by noise rows. No numpy:
an image is 64 row slices, so a 3 GB set takes a few minutes of plain Python.

    python3 benches/big_idx.py DIR [N]      # N = 262144 training images (3.0 GiB) by default
"""

import os
import random
import struct
import sys

SIDE, CH, CLASSES = 64, 3, 10
ROW = SIDE * CH
SHIFTS = 8


def class_rows(k):
    """Class k's 64 rows, each twice as wide as needed so a shift is one slice."""
    colour = [(k * 53 + 40) % 200 + 30, (k * 97 + 90) % 200 + 30, (k * 29 + 150) % 200 + 30]
    rows = []
    for y in range(SIDE):
        row = bytearray()
        for x in range(SIDE + SHIFTS):
            stripe = ((x * (k % 5 + 1) + y * (k // 5 + 1)) // 6) % 2
            row += bytes(min(255, c // 2 + stripe * c // 2 + (y * 2 if k % 2 else x)) for c in colour)
        rows.append(bytes(row))
    return rows


def write_set(path_images, path_labels, n, rng, patterns, noise):
    with open(path_images, "wb") as fi, open(path_labels, "wb") as fl:
        fi.write(struct.pack(">IIIII", 0x0804, n, SIDE, SIDE, CH))
        fl.write(struct.pack(">II", 0x0801, n))
        labels = bytearray()
        chunk = []
        for i in range(n):
            k = rng.randrange(CLASSES)
            labels.append(k)
            shift = rng.randrange(SHIFTS) * CH
            mask = rng.getrandbits(SIDE) & rng.getrandbits(SIDE)
            rows = patterns[k]
            for y in range(SIDE):
                if mask >> y & 1:
                    chunk.append(noise[rng.randrange(len(noise))])
                else:
                    chunk.append(rows[y][shift:shift + ROW])
            if len(chunk) >= 4096 * SIDE:
                fi.write(b"".join(chunk))
                chunk = []
        fi.write(b"".join(chunk))
        fl.write(labels)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 262144
    os.makedirs(out, exist_ok=True)
    rng = random.Random(26)
    patterns = [class_rows(k) for k in range(CLASSES)]
    noise = [rng.randbytes(ROW) for _ in range(4096)]
    write_set(f"{out}/train-images-idx3-ubyte", f"{out}/train-labels-idx1-ubyte", n, rng, patterns, noise)
    write_set(f"{out}/t10k-images-idx3-ubyte", f"{out}/t10k-labels-idx1-ubyte", 5000, rng, patterns, noise)


if __name__ == "__main__":
    main()
