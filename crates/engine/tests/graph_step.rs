//! Whole training steps: GPU graph against the CPU graph (same plan, init and dropout masks), over
//! one step and several in a row; determinism; and bad uses that must be errors.

mod common;
use common::synthetic::{host, synthetic};
use common::*;
use std::ops::ControlFlow;

use wgnn_engine::check::{conv_pool_pairs, every_layer, every_other_layer};
use wgnn_engine::graph::{
    keep_going, Backend, CpuGraph, GpuGraph, GraphState, HostData, Pass, Plan,
};
use wgnn_engine::layers::{BatchNorm, Conv2D, Dense};
use wgnn_engine::model::{Activation, Layer, Padding};
use wgnn_engine::ops::optim::Optimizer;
use wgnn_engine::runtime::{GpuContext, Spread};

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
    let Some(ctx) = gpu() else { return };
    let momentum = Optimizer::Sgd {
        momentum: 0.9,
        weight_decay: 0.0,
    };
    for (opt, lr) in [
        (Optimizer::adam(), 0.001),
        (Optimizer::rmsprop(), 0.001),
        (momentum, 0.05),
    ] {
        let plan = Plan::new([12, 12, 1], &every_layer(), 8).unwrap();
        let data = synthetic(40, 144, 5);
        let mut g = GpuGraph::new(ctx, plan.clone(), opt, 3).unwrap();
        let mut c = CpuGraph::new(plan, opt, 3).unwrap();
        g.load(0, host(&data)).unwrap();
        c.load(0, host(&data)).unwrap();
        // 13 samples: a full batch of 8, then a short batch of 5 (padding rows must not count).
        let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0];
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
fn convolutions_with_their_poolings_train_as_on_the_cpu_with_either_spread() {
    if gpu().is_none() {
        return;
    }
    // Its own device, so that forcing the spread leaves the shared one as it is.
    let mut ctx = GpuContext::open(&device_options()).unwrap();
    let data = synthetic(40, 144, 5);
    let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0];
    for spread in [Spread::Few, Spread::Many] {
        ctx.spread = spread;
        let plan = Plan::new([12, 12, 1], &conv_pool_pairs(), 8).unwrap();
        let mut g = GpuGraph::new(&ctx, plan.clone(), Optimizer::adam(), 6).unwrap();
        let mut c = CpuGraph::new(plan, Optimizer::adam(), 6).unwrap();
        g.load(0, host(&data)).unwrap();
        c.load(0, host(&data)).unwrap();
        let rg = g.train_at(0, &order, 0.002).unwrap();
        let rc = c.train_at(0, &order, 0.002).unwrap();
        let what = format!("{spread:?} spread");
        assert_close_tol(&format!("{what}: loss"), &[rg.loss], &[rc.loss], 1e-3, 1e-3);
        compare(&format!("{what}: after 2 steps"), &g, &c, 1e-3, 1e-2);
        let eg = g.eval(0, &order, true).unwrap();
        let ec = c.eval(0, &order, true).unwrap();
        assert_close_tol(
            &format!("{what}: probabilities"),
            &eg.probs,
            &ec.probs,
            1e-3,
            1e-2,
        );
    }
}

#[test]
fn every_other_layer_kind_trains_as_on_the_cpu() {
    let Some(ctx) = gpu() else { return };
    for global_max in [false, true] {
        for opt in [Optimizer::adam(), Optimizer::rmsprop()] {
            let lr = 0.01;
            let plan = Plan::new([12, 12, 1], &every_other_layer(global_max), 8).unwrap();
            let data = synthetic(40, 144, 5);
            let mut g = GpuGraph::new(ctx, plan.clone(), opt, 4).unwrap();
            let mut c = CpuGraph::new(plan, opt, 4).unwrap();
            g.load(0, host(&data)).unwrap();
            c.load(0, host(&data)).unwrap();
            let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0];
            let what = format!("global max {global_max}, {opt:?}");
            let rg = g.train_at(0, &order[..8], lr).unwrap();
            let rc = c.train_at(0, &order[..8], lr).unwrap();
            assert_close(
                &format!("{what}: loss after 1 step"),
                &[rg.loss],
                &[rc.loss],
            );
            compare(&format!("{what}: after 1 step"), &g, &c, ATOL, RTOL);
            let rg = g.train_at(0, &order, lr).unwrap();
            let rc = c.train_at(0, &order, lr).unwrap();
            assert_close_tol(
                &format!("{what}: loss, steps 2-3"),
                &[rg.loss],
                &[rc.loss],
                1e-3,
                1e-3,
            );
            compare(&format!("{what}: after 3 steps"), &g, &c, 1e-3, 1e-2);
            let eg = g.eval(0, &order, true).unwrap();
            let ec = c.eval(0, &order, true).unwrap();
            assert_close_tol(
                &format!("{what}: eval probabilities"),
                &eg.probs,
                &ec.probs,
                1e-3,
                1e-2,
            );
        }
    }
}

#[test]
fn same_seed_gives_bit_identical_parameters() {
    let Some(ctx) = gpu() else { return };
    let data = synthetic(64, 144, 5);
    let order: Vec<u32> = (0..64).rev().collect();
    let run = || {
        let plan = Plan::new([12, 12, 1], &every_layer(), 16).unwrap();
        let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(), 9).unwrap();
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
    let Some(ctx) = gpu() else { return };
    let layers = every_layer();
    assert!(Plan::new([12, 12, 1], &layers, 0).is_err(), "zero batch");
    let big = vec![
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [5, 5],
            strides: [1, 1],
            padding: Padding::Valid,
            activation: Activation::Relu,
        }),
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 3,
            activation: Activation::Softmax,
        }),
    ];
    let e = Plan::new([4, 4, 1], &big, 2).unwrap_err().to_string();
    assert!(e.contains("layer 1 (conv2d)"), "{e}");
    let no_softmax = vec![
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 3,
            activation: Activation::Relu,
        }),
    ];
    assert!(Plan::new([4, 4, 1], &no_softmax, 2).is_err());
    // Data of the wrong image size for the model.
    let plan = Plan::new([12, 12, 1], &layers, 4).unwrap();
    let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(), 1).unwrap();
    let data = synthetic(4, 100, 5);
    assert!(g
        .load(0, HostData::copied(&data.images, &data.labels, 100))
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

fn bits(t: &[Vec<f32>]) -> Vec<Vec<u32>> {
    t.iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .collect()
}

fn same_state(what: &str, a: &GraphState, b: &GraphState) {
    assert_eq!(a.t, b.t, "{what}: step count");
    assert_eq!(bits(&a.params), bits(&b.params), "{what}: parameters");
    assert_eq!(bits(&a.stats), bits(&b.stats), "{what}: statistics");
    assert_eq!(a.slots.len(), b.slots.len(), "{what}: optimizer slots");
    for (x, y) in a.slots.iter().zip(&b.slots) {
        assert_eq!(bits(x), bits(y), "{what}: optimizer state");
    }
}

fn both(
    ctx: &'static GpuContext,
    plan: &Plan,
    opt: Optimizer,
    seed: u64,
) -> (GpuGraph<'static>, CpuGraph) {
    let g = GpuGraph::new(ctx, plan.clone(), opt, seed).unwrap();
    let c = CpuGraph::new(plan.clone(), opt, seed).unwrap();
    (g, c)
}

#[test]
fn state_moves_between_backends_and_training_continues_exactly() {
    let Some(ctx) = gpu() else { return };
    let plan = Plan::new([12, 12, 1], &every_layer(), 8).unwrap();
    let data = synthetic(40, 144, 5);
    let order: Vec<u32> = (0..40).rev().collect();
    for opt in [Optimizer::adam(), Optimizer::rmsprop()] {
        let (mut g, mut c) = both(ctx, &plan, opt, 5);
        g.load(0, host(&data)).unwrap();
        c.load(0, host(&data)).unwrap();
        g.train_at(0, &order[..16], 0.001).unwrap();
        let saved = g.state().unwrap();
        assert_eq!(saved.t, 2);
        assert_eq!(saved.slots.len(), opt.state_buffers());
        // GPU -> CPU -> out again: the same bits.
        c.set_state(&saved).unwrap();
        same_state(
            "GPU state through the CPU backend",
            &saved,
            &c.state().unwrap(),
        );
        // The rest of the epoch: on the GPU uninterrupted, on a fresh GPU graph from the saved
        // state (bit-identical), and on the CPU backend from it (within tolerance).
        g.train_at(0, &order[16..], 0.001).unwrap();
        let mut g2 = GpuGraph::new(ctx, plan.clone(), opt, 5).unwrap();
        g2.load(0, host(&data)).unwrap();
        g2.set_state(&saved).unwrap();
        g2.train_at(0, &order[16..], 0.001).unwrap();
        same_state(
            "GPU resumed on a new graph",
            &g.state().unwrap(),
            &g2.state().unwrap(),
        );
        c.train_at(0, &order[16..], 0.001).unwrap();
        compare(&format!("{opt:?} resumed on the CPU"), &g, &c, 1e-3, 1e-2);
        assert_eq!(c.steps_done(), g.steps_done());
    }
    // A state from another optimizer or model is refused.
    let (mut g, _) = both(ctx, &plan, Optimizer::adam(), 5);
    let mut other = g.state().unwrap();
    other.slots.pop();
    let e = g.set_state(&other).unwrap_err().to_string();
    assert!(e.contains("state tensors"), "{e}");
    let small = Plan::new([12, 12, 1], &every_layer()[6..], 8).unwrap();
    let mut c = CpuGraph::new(small, Optimizer::adam(), 5).unwrap();
    assert!(c.set_state(&g.state().unwrap()).is_err());
}

#[test]
fn every_step_takes_the_learning_rate_the_trainer_gives() {
    let Some(ctx) = gpu() else { return };
    // No BN, no momentum: a step at lr 0 changes nothing at all.
    let layers: Vec<Layer> = every_layer()
        .into_iter()
        .filter(|l| !matches!(l, Layer::BatchNorm(BatchNorm { .. })))
        .collect();
    let plan = Plan::new([12, 12, 1], &layers, 8).unwrap();
    let data = synthetic(24, 144, 5);
    let order: Vec<u32> = (0..24).collect();
    let sgd = Optimizer::sgd();
    let (mut g, mut c) = both(ctx, &plan, sgd, 2);
    let (mut g0, _) = both(ctx, &plan, sgd, 2);
    for b in [&mut g as &mut dyn Backend, &mut c, &mut g0] {
        b.load(0, host(&data)).unwrap();
    }
    let before = g.state().unwrap().params;
    g0.run(&Pass::train(0, &order, &[0.0; 3]), &mut keep_going)
        .unwrap();
    assert_eq!(bits(&g0.state().unwrap().params), bits(&before), "lr 0");
    let lrs = [0.1, 0.0, 0.05];
    let rg = g
        .run(&Pass::train(0, &order, &lrs), &mut keep_going)
        .unwrap();
    let rc = c
        .run(&Pass::train(0, &order, &lrs), &mut keep_going)
        .unwrap();
    assert_eq!((rg.steps, rc.steps), (3, 3));
    compare("per-step learning rates", &g, &c, 1e-3, 1e-2);
    // Too few learning rates for the pass is an error, not a silent default.
    assert!(g
        .run(&Pass::train(0, &order, &[0.1]), &mut keep_going)
        .is_err());
    assert!(c
        .run(&Pass::train(0, &order, &[0.1]), &mut keep_going)
        .is_err());
}

#[test]
fn a_pass_can_stop_and_continue_with_the_same_sums() {
    let plan = Plan::new([12, 12, 1], &every_layer(), 4).unwrap();
    let data = synthetic(40, 144, 5);
    let order: Vec<u32> = (0..37).collect();
    let lrs = vec![0.001; 10];
    for gpu_backend in [false, true] {
        if gpu_backend && !has_gpu() {
            continue;
        }
        let make = || -> Box<dyn Backend> {
            let opt = Optimizer::adam();
            match gpu_backend {
                true => Box::new(
                    GpuGraph::new(gpu().expect("an adapter"), plan.clone(), opt, 4).unwrap(),
                ),
                false => Box::new(CpuGraph::new(plan.clone(), opt, 4).unwrap()),
            }
        };
        let (mut whole, mut split) = (make(), make());
        whole.load(0, host(&data)).unwrap();
        split.load(0, host(&data)).unwrap();
        let w = whole
            .run(&Pass::train(0, &order, &lrs), &mut keep_going)
            .unwrap();
        // A Break ends the pass after the current group of steps (one step on the CPU backend,
        // up to 32 on the GPU).
        let a = split
            .run(&Pass::train(0, &order, &lrs), &mut |_| {
                ControlFlow::Break(())
            })
            .unwrap();
        let group = if gpu_backend { 10 } else { 1 };
        assert_eq!(a.steps, group, "steps before the break");
        // Continue the epoch from a split at step 3 on a third graph, carrying the sums over.
        let mut third = make();
        third.load(0, host(&data)).unwrap();
        let first = third
            .run(&Pass::train(0, &order[..12], &lrs[..3]), &mut keep_going)
            .unwrap();
        let rest = Pass::train(0, &order[12..], &lrs[3..]).continuing(first.metrics);
        let b = third.run(&rest, &mut keep_going).unwrap();
        assert_eq!(first.steps + b.steps, 10);
        assert_eq!(b.metrics, w.metrics, "sums continued exactly");
        assert_eq!(b.samples, 37);
        same_state(
            "split at step 3",
            &whole.state().unwrap(),
            &third.state().unwrap(),
        );
        if gpu_backend {
            same_state(
                "stopped after a whole group",
                &whole.state().unwrap(),
                &split.state().unwrap(),
            );
        }
    }
}

#[test]
fn profiling_a_step_changes_no_state() {
    let Some(ctx) = gpu() else { return };
    let plan = Plan::new([12, 12, 1], &every_layer(), 8).unwrap();
    let data = synthetic(16, 144, 5);
    let (mut g, mut c) = both(ctx, &plan, Optimizer::adam(), 6);
    for b in [&mut g as &mut dyn Backend, &mut c] {
        b.load(0, host(&data)).unwrap();
        b.train_at(0, &(0..16).collect::<Vec<u32>>(), 0.001)
            .unwrap();
        let before = b.state().unwrap();
        let rows = b.profile_step(0).unwrap();
        assert!(rows.len() > 10, "{} profile rows", rows.len());
        same_state(
            &format!("{} after profile_step", b.name()),
            &before,
            &b.state().unwrap(),
        );
    }
}

#[test]
fn inference_graphs_hold_no_training_state() {
    if !has_gpu() {
        return;
    }
    // A device of its own, so that the memory it reports is this test's alone.
    let own = wgnn_engine::runtime::GpuContext::open(&device_options()).unwrap();
    let ctx = &own;
    let plan = Plan::new([12, 12, 1], &every_layer(), 8).unwrap();
    let data = synthetic(24, 144, 5);
    let order: Vec<u32> = (0..24).collect();
    let before = ctx.memory();
    let mut gi = GpuGraph::inference(ctx, plan.clone()).unwrap();
    let after_inference = ctx.memory();
    let mut gt = GpuGraph::new(ctx, plan.clone(), Optimizer::adam(), 8).unwrap();
    let after_training = ctx.memory();
    let mut ci = CpuGraph::inference(plan.clone()).unwrap();
    let (params, stats) = gt.params().unwrap();
    for b in [&mut gi as &mut dyn Backend, &mut gt, &mut ci] {
        b.load(0, host(&data)).unwrap();
        b.set_params(&params, &stats).unwrap();
    }
    let want = gt.eval(0, &order, true).unwrap();
    for b in [&mut gi as &mut dyn Backend, &mut ci] {
        let e = b.train_at(0, &order, 0.001).unwrap_err().to_string();
        assert!(e.contains("inference only"), "{}: {e}", b.name());
        assert!(b.state().is_err() || b.state().unwrap().slots.is_empty());
        assert!(b.profile_step(0).is_err());
        let got = b.eval(0, &order, true).unwrap();
        assert_close_tol(
            &format!("{} inference probabilities", b.name()),
            &got.probs,
            &want.probs,
            1e-5,
            1e-4,
        );
    }
    assert_eq!(
        gi.eval(0, &order, true).unwrap().probs,
        want.probs,
        "same kernels, same bits"
    );
    // No gradients, no optimizer moments, no saved activations: where the adapter reports its
    // memory, the forward-only graph takes less than the training graph by at least the
    // parameter-sized buffers it leaves out (gradients and Adam's two moments).
    if let (Some(b), Some(i), Some(t)) = (before, after_inference, after_training) {
        let param_bytes: u64 = plan.params.iter().map(|p| p.len() as u64 * 4).sum();
        let (inf, train) = (i.allocated - b.allocated, t.allocated - i.allocated);
        eprintln!("GPU memory: inference graph {inf} bytes, training graph {train} bytes");
        assert!(
            inf + 3 * param_bytes <= train,
            "inference {inf}, training {train}"
        );
    } else {
        eprintln!("this adapter reports no memory use: the memory comparison is skipped");
    }
}

/// A convolution whose ReLU is fused, then a max pooling: the CPU graph runs the two as one pass
/// (`layers::ConvMaxPool`); with a ReLU layer between them it runs three unfused passes. Both
/// train to the same parameters and evaluate to the same probabilities, with one thread or two:
/// the same bits where the processor has no AVX-512, else to rounding (the first layer's weight
/// gradient then comes from `ops::cpu::conv_direct`, summed in another order; SGD, so that an update
/// follows its gradient's size), and the fused runs give the same bits with any thread count.
#[test]
fn fused_conv_pool_trains_as_the_unfused_passes_with_any_thread_count() {
    let conv = |activation, filters| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: [3, 3],
            strides: [1, 1],
            padding: Padding::Valid,
            activation,
        })
    };
    // 4 filters: a first-layer tile of one register, part-filled; 32: two registers.
    for first in [4, 32] {
        fused_matches_unfused(&conv, first);
    }
}

/// The fused and unfused models of the test above, with `first` filters in the first layer.
fn fused_matches_unfused(conv: &dyn Fn(Activation, usize) -> Layer, first: usize) {
    let pool = || Layer::maxpool(2);
    let head = || [Layer::flatten(), Layer::dense(5, Activation::Softmax)];
    let fused: Vec<Layer> = [
        conv(Activation::Relu, first),
        pool(),
        conv(Activation::Relu, 8),
        pool(),
    ]
    .into_iter()
    .chain(head())
    .collect();
    let relu = || Layer::Activation(Activation::Relu);
    let unfused: Vec<Layer> = [
        conv(Activation::Linear, first),
        relu(),
        pool(),
        conv(Activation::Linear, 8),
        relu(),
        pool(),
    ]
    .into_iter()
    .chain(head())
    .collect();
    let data = synthetic(48, 144, 5);
    let order: Vec<u32> = (0..48).rev().collect();
    let run = |layers: &[Layer], threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let plan = Plan::new([12, 12, 1], layers, 16).unwrap();
            let mut c = CpuGraph::new(plan, Optimizer::sgd(), 5).unwrap();
            c.load(0, host(&data)).unwrap();
            c.train_at(0, &order, 0.05).unwrap();
            let probs = c.eval(0, &order, true).unwrap().probs;
            (bits(&c.params().unwrap().0), bits(&[probs]))
        })
    };
    let want = run(&unfused, 1);
    assert!(
        run(&unfused, 2) == want,
        "{first} filters: unfused, 2 threads"
    );
    let got = run(&fused, 1);
    assert!(run(&fused, 2) == got, "{first} filters: fused, 2 threads");
    let floats =
        |b: &[Vec<u32>]| -> Vec<f32> { b.concat().into_iter().map(f32::from_bits).collect() };
    assert_close_tol(
        &format!("{first} filters: parameters"),
        &floats(&got.0),
        &floats(&want.0),
        ATOL,
        RTOL,
    );
    assert_close_tol(
        "probabilities",
        &floats(&got.1),
        &floats(&want.1),
        ATOL,
        RTOL,
    );
}
