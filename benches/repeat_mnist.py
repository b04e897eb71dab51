"""A training set larger than one GPU binding: MNIST's training images and labels repeated
TIMES times (uncompressed IDX), with MNIST's test set, in OUT.
    python3 benches/repeat_mnist.py OUT [TIMES=4] [MNIST_DIR=data/mnist]
Then: wgnn train --data-dir OUT --model tiny --epochs 1 --backend gpu --verbose"""
import gzip
import os
import struct
import sys

out = sys.argv[1]
times = int(sys.argv[2]) if len(sys.argv) > 2 else 4
src = sys.argv[3] if len(sys.argv) > 3 else "data/mnist"
os.makedirs(out, exist_ok=True)
read = lambda name: gzip.open(os.path.join(src, name + ".gz")).read()
images, labels = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")
n = struct.unpack(">I", images[4:8])[0] * times
with open(os.path.join(out, "train-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images[16:] * times)
with open(os.path.join(out, "train-labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + labels[8:] * times)
for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
    with open(os.path.join(out, name), "wb") as f:
        f.write(read(name))
print(f"{out}: {n} training images")
