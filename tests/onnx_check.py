#!/usr/bin/env python3
"""Checks a model written by `wgnn export` against wgnn's own probabilities.

    python3 tests/onnx_check.py MODEL.onnx PROBS.npy [--images data/mnist/t10k-images-idx3-ubyte.gz]
        [--atol 1e-4] [--rtol 1e-3]

--images is an IDX file (raw or gzip) or a .npz as keras.datasets keeps it (its `x_test`).

PROBS.npy is `wgnn eval --checkpoint DIR --probabilities PROBS.npy` (float32 [images, classes]).
The model must pass `onnx.checker.check_model(model, full_check=True)`; onnxruntime (CPU) runs it
over the test images, fed as wgnn feeds them (float32 NHWC in [0, 1]); every probability must
agree within atol + rtol * |wgnn's| and the argmax on every image. Prints one JSON line of
figures; exit status 1 on a failed check, 3 when onnx or onnxruntime is missing.
"""
import argparse
import gzip
import json
import struct
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # the Rust test decides whether this is a failure or a skip
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(3)


def idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an IDX file of bytes"
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    x = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    if x.ndim == 3:
        x = x[..., None]
    return x.astype(np.float32) / 255.0


def npz_images(path):
    x = np.load(path)["x_test"]
    assert x.dtype == np.uint8, f"{path}: x_test is {x.dtype}, not uint8"
    if x.ndim == 3:
        x = x[..., None]
    return x.astype(np.float32) / 255.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("probs")
    ap.add_argument("--images", default="data/mnist/t10k-images-idx3-ubyte.gz")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-3)
    a = ap.parse_args()

    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)
    opset = {o.domain: o.version for o in model.opset_import}[""]

    x = npz_images(a.images) if a.images.endswith(".npz") else idx_images(a.images)
    want = np.load(a.probs)
    assert want.shape[0] == x.shape[0], f"{want.shape[0]} probabilities for {x.shape[0]} images"
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    [inp] = sess.get_inputs()
    [out] = sess.get_outputs()
    got = np.concatenate(
        [sess.run(None, {inp.name: x[i : i + 1000]})[0] for i in range(0, len(x), 1000)]
    )
    assert got.shape == want.shape, f"onnxruntime gives {got.shape}, wgnn {want.shape}"
    diff = np.abs(got - want)
    bound = a.atol + a.rtol * np.abs(want)
    argmax_same = int((got.argmax(1) == want.argmax(1)).sum())
    fig = {
        "model": a.model,
        "opset": opset,
        "ir_version": model.ir_version,
        "input": [inp.name, [d if isinstance(d, int) else str(d) for d in inp.shape]],
        "output": [out.name, [d if isinstance(d, int) else str(d) for d in out.shape]],
        "nodes": len(model.graph.node),
        "ops": sorted({n.op_type for n in model.graph.node}),
        "images": int(x.shape[0]),
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float((diff / np.maximum(np.abs(want), 1e-30)).max()),
        "within_tolerance": int((diff <= bound).all(axis=1).sum()),
        "argmax_agree": argmax_same,
        "atol": a.atol,
        "rtol": a.rtol,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
    }
    print(json.dumps(fig))
    ok = fig["within_tolerance"] == fig["images"] and argmax_same == fig["images"]
    if not ok:
        worst = np.unravel_index(diff.argmax(), diff.shape)
        print(
            f"FAILED: worst at image {worst[0]} class {worst[1]}: onnxruntime {got[worst]}, wgnn {want[worst]}",
            file=sys.stderr,
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
