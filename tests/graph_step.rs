//! Whole training steps: GPU graph against the CPU graph (same plan, init and dropout masks), over
//! one step and several in a row; determinism; and bad uses that must be errors.

mod common;
use common::*;
use wgnn::graph::{Backend, CpuGraph, GpuGraph, HostData, Plan};
use wgnn::model::{Activation, Layer, Padding};
use wgnn::ops::optim::Optimizer;

/// Every layer kind, on 12x12x1 inputs, 5 classes.
fn every_layer() -> Vec<Layer> {
    vec![
        Layer::Conv2D {
            filters: 4,
            kernel: [3, 3],
            strides: [1, 1],
            padding: Padding::Same,
            activation: Activation::Relu,
        },
        Layer::BatchNorm {
            momentum: 0.99,
            epsilon: 1e-3,
        },
        Layer::MaxPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        },
        Layer::Conv2D {
            filters: 6,
            kernel: [3, 3],
            strides: [2, 2],
            padding: Padding::Valid,
            activation: Activation::Linear,
        },
        Layer::Activation(Activation::Relu),
        Layer::Dropout { rate: 0.25 },
        Layer::Flatten,
        Layer::Dense {
            units: 16,
            activation: Activation::Relu,
        },
        Layer::BatchNorm {
            momentum: 0.9,
            epsilon: 1e-3,
        },
        Layer::Dropout { rate: 0.5 },
        Layer::Dense {
            units: 5,
            activation: Activation::Softmax,
        },
    ]
}

struct Synthetic {
    images: Vec<u8>,
    labels: Vec<u8>,
}

fn synthetic(n: usize, len: usize, classes: u8) -> Synthetic {
    let mut rng = wgnn::util::rng::Rng::new(11);
    Synthetic {
        images: (0..n * len).map(|_| rng.below(256) as u8).collect(),
        labels: (0..n).map(|_| rng.below(classes as usize) as u8).collect(),
    }
}

fn host(s: &Synthetic) -> HostData<'_> {
    HostData {
        images: &s.images,
        labels: &s.labels,
        sample_len: 144,
    }
}

fn compare(what: &str, gpu: &dyn Backend, cpu: &dyn Backend, atol: f32, rtol: f32) {
    let (gp, gs) = gpu.params().unwrap();
    let (cp, cs) = cpu.params().unwrap();
    for (k, (g, c)) in gp.iter().zip(&cp).enumerate() {
        assert_close_tol(&format!("{what}: parameter {k}"), g, c, atol, rtol);
    }
    for (k, (g, c)) in gs.iter().zip(&cs).enumerate() {
        assert_close_tol(&format!("{what}: statistic {k}"), g, c, atol, rtol);
    }
}

#[test]
fn one_training_step_matches_cpu() {
    let ctx = gpu();
    for opt in [
        Optimizer::adam(0.001),
        Optimizer::rmsprop(0.001),
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
        },
    ] {
        let plan = Plan::new([12, 12, 1], &every_layer(), 8).unwrap();
        let data = synthetic(40, 144, 5);
        let mut g = GpuGraph::new(ctx, plan.clone(), opt, 3).unwrap();
        let mut c = CpuGraph::new(plan, opt, 3).unwrap();
        g.load(0, host(&data)).unwrap();
        c.load(0, host(&data)).unwrap();
        // 13 samples: a full batch of 8, then a short batch of 5 (padding rows must not count).
        let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0];
        let lr = opt.lr();
        let rg = g.train_at(0, &order[..8], lr).unwrap();
        let rc = c.train_at(0, &order[..8], lr).unwrap();
        assert_close(
            &format!("{opt:?} loss after 1 step"),
            &[rg.loss],
            &[rc.loss],
        );
        compare(&format!("{opt:?} after 1 step"), &g, &c, ATOL, RTOL);
        let rg = g.train_at(0, &order, lr).unwrap();
        let rc = c.train_at(0, &order, lr).unwrap();
        assert_eq!(rg.samples, 13);
        assert_close_tol(
            &format!("{opt:?} loss, steps 2-3"),
            &[rg.loss],
            &[rc.loss],
            1e-3,
            1e-3,
        );
        // Differences compound through 3 updates of every parameter: a looser bound, still far
        // below what a wrongly carried optimizer moment or BN statistic would give.
        compare(&format!("{opt:?} after 3 steps"), &g, &c, 1e-3, 1e-2);
        assert_eq!(g.steps_done(), 3);
        let eg = g.eval(0, &order, true).unwrap();
        let ec = c.eval(0, &order, true).unwrap();
        assert_close_tol("eval loss", &[eg.loss], &[ec.loss], 1e-3, 1e-3);
        assert_close_tol("eval probabilities", &eg.probs, &ec.probs, 1e-3, 1e-2);
    }
}

#[test]
fn same_seed_gives_bit_identical_parameters() {
    let ctx = gpu();
    let data = synthetic(64, 144, 5);
    let order: Vec<u32> = (0..64).rev().collect();
    let run = || {
        let plan = Plan::new([12, 12, 1], &every_layer(), 16).unwrap();
        let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(0.001), 9).unwrap();
        g.load(0, host(&data)).unwrap();
        g.train_at(0, &order, 0.001).unwrap();
        g.params().unwrap()
    };
    let (a, sa) = run();
    let (b, sb) = run();
    for (x, y) in a.iter().chain(&sa).zip(b.iter().chain(&sb)) {
        let xb: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        let yb: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
        assert_eq!(xb, yb);
    }
}

#[test]
fn bad_uses_are_errors_not_panics() {
    let ctx = gpu();
    let layers = every_layer();
    assert!(Plan::new([12, 12, 1], &layers, 0).is_err(), "zero batch");
    let big = vec![
        Layer::Conv2D {
            filters: 4,
            kernel: [5, 5],
            strides: [1, 1],
            padding: Padding::Valid,
            activation: Activation::Relu,
        },
        Layer::Flatten,
        Layer::Dense {
            units: 3,
            activation: Activation::Softmax,
        },
    ];
    let e = Plan::new([4, 4, 1], &big, 2).unwrap_err().to_string();
    assert!(e.contains("layer 1 (conv2d)"), "{e}");
    let no_softmax = vec![
        Layer::Flatten,
        Layer::Dense {
            units: 3,
            activation: Activation::Relu,
        },
    ];
    assert!(Plan::new([4, 4, 1], &no_softmax, 2).is_err());
    // Data of the wrong image size for the model.
    let plan = Plan::new([12, 12, 1], &layers, 4).unwrap();
    let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(0.001), 1).unwrap();
    let data = synthetic(4, 100, 5);
    assert!(g
        .load(
            0,
            HostData {
                images: &data.images,
                labels: &data.labels,
                sample_len: 100
            }
        )
        .is_err());
    // A label outside the model's 5 classes.
    let mut bad = synthetic(4, 144, 5);
    bad.labels[2] = 7;
    let e = g.load(0, host(&bad)).unwrap_err().to_string();
    assert!(e.contains("label 7"), "{e}");
    // Out-of-range sample index.
    let data = synthetic(4, 144, 5);
    g.load(0, host(&data)).unwrap();
    assert!(g.train_at(0, &[0, 9], 0.001).is_err());
    // A buffer larger than the device allows.
    let e = ctx.alloc(usize::MAX / 8, "huge").unwrap_err().to_string();
    assert!(e.contains("more than this device allows"), "{e}");
}
