//! Streaming a data set to the GPU (`Residency::Stream`, `--stream`): a streamed run sees exactly
//! the batches of a resident one, so it ends with bit-identical weights, optimizer state and
//! predictions, with both kernel families, with and without augmentation, across chunks that
//! wrap around the ring; and a run streamed in one part and resident in the next resumes bit
//! for bit.

use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::has_gpu;
use common::run::{ok, ok_stdout, scratch};
use wgnn::graph::{Backend, GpuGraph, GraphState, HostData, Pass, Plan, Residency};
use wgnn::model::preset;
use wgnn::ops::augment::Augment;
use wgnn::ops::optim::Optimizer;
use wgnn::runtime::{GpuContext, KernelFamily};

/// 797 images of `tiny`'s 28x28x1 in batches of 8: 100 steps an epoch, in more chunks of 32 steps
/// than the ring has slots, and a short last batch.
const N: usize = 797;
const BATCH: usize = 8;

fn data() -> HostData {
    let mut rng = wgnn::util::rng::Rng::new(5);
    let images: Vec<u8> = (0..N * 784).map(|_| rng.below(256) as u8).collect();
    let labels: Vec<u8> = (0..N).map(|_| rng.below(10) as u8).collect();
    HostData::copied(&images, &labels, 784)
}

/// An epoch in a shuffled order (augmented when `augment`), then a test pass with predictions:
/// the state, the predictions and probabilities, and how the set was held.
fn run(
    ctx: &GpuContext,
    residency: Residency,
    augment: Option<Augment>,
) -> (GraphState, Vec<u32>, Vec<f32>, Option<String>) {
    let spec = preset("tiny").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, BATCH).unwrap();
    let mut g = GpuGraph::new(ctx, plan, Optimizer::adam(), 7).unwrap();
    g.set_residency(residency);
    g.set_augment(augment);
    g.load(0, data()).unwrap();
    let mut order: Vec<u32> = (0..N as u32).collect();
    wgnn::util::rng::Rng::new(9).shuffle(&mut order);
    let lrs = vec![0.001; N.div_ceil(BATCH)];
    let pass = Pass::train(0, &order, &lrs).augmented(augment.is_some());
    g.run(&pass, &mut wgnn::graph::keep_going).unwrap();
    let test: Vec<u32> = (0..N as u32).rev().collect();
    let e = g.eval(0, &test, true).unwrap();
    (g.state().unwrap(), e.preds, e.probs, g.residency(0))
}

fn context(family: KernelFamily) -> GpuContext {
    let mut options = wgnn::app::Device::from_env().unwrap().options;
    options.family = family;
    options.family_from = "the test".into();
    GpuContext::open(&options).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

/// The gather is the only kernel streaming changes, and it is the same for both families: each
/// family runs one of the two gathers, plain and augmented.
#[test]
fn a_streamed_set_trains_to_the_bits_of_a_resident_one_with_both_kernel_families() {
    if !has_gpu() {
        return;
    }
    let augmented: Augment = "shift=2,rotate=10,scale=0.1".parse().unwrap();
    for (family, augment) in [
        (KernelFamily::Tiled, Some(augmented)),
        (KernelFamily::Blocked, None),
    ] {
        let ctx = context(family);
        let what = format!("{family}, augment {augment:?}");
        let whole = run(&ctx, Residency::Auto, augment);
        let streamed = run(&ctx, Residency::Stream, augment);
        assert_eq!(whole.3.as_deref(), Some("held whole on the GPU"), "{what}");
        assert_eq!(streamed.3.as_deref(), Some("streamed, as asked"), "{what}");
        assert!(whole.0 == streamed.0, "{what}: the training states differ");
        assert_eq!(whole.1, streamed.1, "{what}: predictions");
        assert!(whole.2 == streamed.2, "{what}: probabilities differ");
        assert_eq!(whole.0.t, N.div_ceil(BATCH) as u32, "{what}");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every tensor of a run's checkpoint (weights and training state), by name.
fn tensors(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect()
}

const RUN: &str = "train --model tiny --limit 2000 --batch-size 32 --seed 4";

fn train(extra: &str, out: &Path) -> String {
    let mut args: Vec<&str> = RUN.split_whitespace().collect();
    args.extend(extra.split_whitespace());
    args.extend(["--out", s(out)]);
    ok(&args)
}

#[test]
fn a_run_streamed_then_resumed_resident_matches_a_resident_run() {
    if !has_gpu() {
        return;
    }
    let whole = scratch("graph_stream", "whole");
    train("--epochs 2 --backend gpu", &whole);
    let part = scratch("graph_stream", "part");
    let t = train("--epochs 1 --backend gpu --stream --verbose", &part);
    assert!(t.contains("training set: streamed, as asked"), "{t}");
    assert!(t.contains("Resume") || t.contains("Saved"), "{t}");
    ok(&[
        "train",
        "--resume",
        s(&part),
        "--epochs",
        "2",
        "--backend",
        "gpu",
    ]);
    let (a, b) = (tensors(&whole), tensors(&part));
    assert!(a.keys().any(|k| k.starts_with("train_state.")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "tensor `{k}` differs");
    }
}

#[test]
fn the_cpu_backend_ignores_stream_and_bench_says_how_the_data_was_held() {
    let (plain, streamed) = (
        scratch("graph_stream", "cpu"),
        scratch("graph_stream", "cpu-stream"),
    );
    train("--epochs 1 --backend cpu", &plain);
    train("--epochs 1 --backend cpu --stream", &streamed);
    assert!(tensors(&plain) == tensors(&streamed));
    if !has_gpu() {
        return;
    }
    let bench = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "bench",
            "--model",
            "tiny",
            "--steps",
            "3",
            "--warmup",
            "1",
            "--backend",
            "gpu",
            "--json",
        ];
        args.extend(extra);
        serde_json::from_str(&ok_stdout(&args)).unwrap()
    };
    assert_eq!(bench(&[])["data"], "held whole on the GPU");
    assert_eq!(bench(&["--stream"])["data"], "streamed, as asked");
}
