#!/usr/bin/env python3
"""Peer benchmark: the same preset models in PyTorch, same batch size and optimizer, data already on
the device (no DataLoader), timed like `wgnn bench` (warm-up steps, then N timed steps).

    python3 benches/peer_pytorch.py --model convnet --batch-size 128 --steps 50 [--compile | --cuda-graph] [--json]

`--cuda-graph` (CUDA only) is PyTorch at its fastest for these small models: the whole step (the
batch gathered from the images on the GPU, forward, loss, backward, and a capturable optimizer's
update) captured once in a CUDA graph and replayed, so Python and the kernel launches drop out.

Run it in the same command as `wgnn bench` on the same machine so the ratio is side by side.

`--train [--epochs N]` is a whole run instead, as a plain PyTorch loop would train the preset: the
notebooks' optimizer, batch and validation (the last fraction or the last N training images, as
Keras' validation_split takes them), the training images reshuffled every epoch, a validation pass
after each epoch, then the test set. It reports training plus validation seconds, as wgnn's
metrics.json and benches/peer_keras.py do.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn


def conv(cin, cout):
    return [nn.Conv2d(cin, cout, 3), nn.ReLU()]


def pool():
    return [nn.MaxPool2d(2)]


def model(name):
    """Layer for layer the wgnn presets (PyTorch is NCHW; parameter counts are identical)."""
    if name == "convnet":
        layers = conv(1, 32) + pool() + conv(32, 64) + pool() + [nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10)]
    elif name in ("cnn", "cnn-dropout", "cnn-bn"):
        d = name == "cnn-dropout"
        bn = name == "cnn-bn"
        layers = conv(1, 32) + ([nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)] if bn else []) + pool()
        layers += [nn.Dropout(0.25)] if d else []
        layers += conv(32, 64) + ([nn.BatchNorm2d(64, eps=1e-3, momentum=0.01)] if bn else []) + pool()
        layers += [nn.Dropout(0.25)] if d else []
        layers += [nn.Flatten(), nn.Linear(1600, 64), nn.ReLU()]
        layers += [nn.BatchNorm1d(64, eps=1e-3, momentum=0.01)] if bn else []
        layers += [nn.Dropout(0.5)] if d else []
        layers += [nn.Linear(64, 10)]
    elif name == "shallow":
        layers = conv(1, 32) + pool() + [nn.Flatten(), nn.Linear(5408, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)]
    elif name == "tiny":
        layers = conv(1, 8) + pool() + conv(8, 16) + pool()
        layers += [nn.Flatten(), nn.Linear(400, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)]
    elif name == "deep":
        layers = conv(1, 32) + pool() + conv(32, 64) + pool() + conv(64, 64)
        layers += [nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)]
    else:
        raise SystemExit(f"unknown model {name}")
    return nn.Sequential(*layers)


DEFAULTS = {  # optimizer, batch
    "convnet": ("adam", 128), "cnn": ("adam", 32), "cnn-dropout": ("adam", 32), "cnn-bn": ("adam", 32),
    "shallow": ("adam", 128), "tiny": ("adam", 128), "deep": ("rmsprop", 64),
}
# epochs, validation (a fraction, or an int: the last N training images), as benches/peer_keras.py
RUNS = {
    "convnet": (15, 0.1), "tiny": (10, 0.2), "shallow": (10, 0.2), "deep": (8, 0.1),
    "cnn": (10, 10000), "cnn-dropout": (10, 10000), "cnn-bn": (10, 10000),
}


def load_images(data_dir, split="train"):
    with gzip.open(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def optimizer(name, net, capturable=False):
    """Keras' defaults: Adam's epsilon 1e-7, RMSprop's rho 0.9 (capturable: its state on the GPU,
    so a CUDA graph can hold its update)."""
    if name == "adam":
        return torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, capturable=capturable)
    return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, capturable=capturable)


def graphed_step(net, opt, loss_fn, images, labels, batch):
    """The whole training step captured in a CUDA graph: returns the graph and the index tensor a
    replay gathers its batch by (PyTorch's whole-network capture: warm up on a side stream, grads
    set to None before the capture so the graph writes them)."""
    idx = torch.zeros(batch, dtype=torch.long, device=images.device)

    def body():
        xb = images.index_select(0, idx).float().div_(255.0)
        loss = loss_fn(net(xb), labels.index_select(0, idx))
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        body()
    return graph, idx


def evaluate(net, x, y, batch):
    """Mean loss and accuracy over (x, y) in eval mode."""
    net.eval()
    loss, hits = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = net(x[i:i + batch])
            loss += nn.functional.cross_entropy(out, y[i:i + batch], reduction="sum").item()
            hits += (out.argmax(1) == y[i:i + batch]).sum().item()
    net.train()
    return loss / len(x), hits / len(x)


def train_run(a):
    """A whole run: see the module's docstring."""
    opt_name, batch = DEFAULTS[a.model]
    batch = a.batch_size or batch
    epochs, val = RUNS[a.model]
    epochs = a.epochs or epochs
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    x, y = load_images(a.data_dir)
    n_val = val if isinstance(val, int) else int(len(x) * val)
    # The whole set on the device, as wgnn holds it: no DataLoader in the timed loop.
    x = torch.from_numpy(x.astype(np.float32) / 255.0).to(dev)
    y = torch.from_numpy(y.astype(np.int64)).to(dev)
    xt, yt, xv, yv = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    net = model(a.model).to(dev)
    opt = optimizer(opt_name, net)
    history = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xt), device=dev)
        for i in range(0, len(xt), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        history.append(evaluate(net, xv, yv, 1000))
    seconds = time.perf_counter() - t0
    xs, ys = load_images(a.data_dir, "t10k")
    test = evaluate(net, torch.from_numpy(xs.astype(np.float32) / 255.0).to(dev),
                    torch.from_numpy(ys.astype(np.int64)).to(dev), 1000)
    r = {"peer": "pytorch-eager", "torch": torch.__version__, "model": a.model, "epochs": epochs, "seed": a.seed,
         "batch_size": batch, "threads": torch.get_num_threads(), "device": str(dev), "train_seconds": seconds,
         "test_loss": test[0], "test_accuracy": test[1], "val_accuracy": [round(h[1], 5) for h in history]}
    print(json.dumps(r) if a.json else json.dumps(r, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="replay the whole step as one CUDA graph (CUDA only)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data-dir", default="data/mnist")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--train", action="store_true", help="a whole training run (see the docstring)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if a.train:
        return train_run(a)
    opt_name, batch = DEFAULTS[a.model]
    batch = a.batch_size or batch
    dev = torch.device(a.device)
    torch.manual_seed(0)
    x, y = load_images(a.data_dir)
    n = min(len(x), batch * max(a.steps, a.warmup))
    # The data set lives on the device as bytes and is normalised per batch, as wgnn does.
    images = torch.from_numpy(x[:n].copy()).to(dev)
    labels = torch.from_numpy(y[:n].astype(np.int64)).to(dev)
    net = model(a.model).to(dev)
    params = sum(p.numel() for p in net.parameters())
    if a.cuda_graph and dev.type != "cuda":
        raise SystemExit("peer_pytorch.py: --cuda-graph needs a CUDA device")
    if a.cuda_graph and a.compile:
        raise SystemExit("peer_pytorch.py: give --compile or --cuda-graph, not both")
    opt = optimizer(opt_name, net, capturable=a.cuda_graph)
    loss_fn = nn.CrossEntropyLoss()
    step_fn = torch.compile(net) if a.compile else net
    if a.cuda_graph:
        graph, idx = graphed_step(net, opt, loss_fn, images, labels, batch)
        starts = torch.arange(0, batch, device=dev)

    def step(k):
        i = (k * batch) % (n - batch + 1)
        if a.cuda_graph:
            torch.add(starts, i, out=idx)
            graph.replay()
            return None
        xb = images[i:i + batch].float().div_(255.0)
        out = step_fn(xb)
        loss = loss_fn(out, labels[i:i + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for k in range(a.warmup):
        step(k)
    sync()
    t0 = time.perf_counter()
    for k in range(a.steps):
        step(k)
    sync()
    seconds = time.perf_counter() - t0
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    r = {
        "peer": "pytorch-" + ("cudagraph" if a.cuda_graph else "compile" if a.compile else "eager"),
        "torch": torch.__version__,
        "model": a.model, "params": params, "batch_size": batch, "steps": a.steps, "seconds": seconds,
        "ms_per_step": 1000 * seconds / a.steps, "images_per_second": a.steps * batch / seconds, "device": name,
    }
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{r['peer']} {a.model} ({params} params): batch {batch}, {a.steps} steps on {name}: "
              f"{r['ms_per_step']:.2f} ms/step, {r['images_per_second']:.0f} images/s")


if __name__ == "__main__":
    main()
