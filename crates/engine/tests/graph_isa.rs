//! The CPU graph held to each instruction set this processor runs (`util::simd::Isa`): on each,
//! two training steps and an evaluation give the same bits on one, two and three threads, and
//! every set agrees with the widest within the whole-step tolerance (`check::STEP_ATOL`,
//! `STEP_RTOL`: the sets differ in where they fuse multiply-adds, not in what they sum).

mod common;
use common::synthetic::{host, synthetic};
use common::*;

use wgnn_engine::check::{conv_pool_pairs, every_layer, STEP_ATOL, STEP_RTOL};
use wgnn_engine::graph::{Backend, CpuGraph, HostData, Plan};
use wgnn_engine::model::{preset, Layer};
use wgnn_engine::ops::optim::Optimizer;
use wgnn_engine::util::simd::Isa;

/// Parameters after two steps, then the evaluation's probabilities, as floats.
fn train(layers: &[Layer], isa: Isa, threads: usize) -> (Vec<f32>, Vec<f32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let data = synthetic(48, 144, 5);
        let order: Vec<u32> = (0..32).rev().collect();
        let plan = Plan::new([12, 12, 1], layers, 16).unwrap();
        let g = CpuGraph::new(plan, Optimizer::adam(), 5).unwrap();
        let mut g = g.with_isa(isa).unwrap();
        g.load(0, host(&data)).unwrap();
        g.train_at(0, &order, 0.01).unwrap();
        let probs = g.eval(0, &order, true).unwrap().probs;
        (g.params().unwrap().0.concat(), probs)
    })
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn every_instruction_set_trains_alike_with_the_same_bits_on_any_thread_count() {
    for (name, layers) in [
        ("every layer", every_layer()),
        ("conv-pool pairs", conv_pool_pairs()),
    ] {
        let (widest_params, widest_probs) = train(&layers, Isa::detected(), 1);
        for isa in Isa::available() {
            let (params, probs) = train(&layers, isa, 1);
            for threads in [2, 3] {
                let (p, q) = train(&layers, isa, threads);
                assert!(
                    bits(&p) == bits(&params) && bits(&q) == bits(&probs),
                    "{name} on {isa}: 1 and {threads} threads differ"
                );
            }
            let what = format!("{name} on {isa} against {}", Isa::detected());
            assert_close_tol(&what, &params, &widest_params, STEP_ATOL, STEP_RTOL);
            assert_close_tol(&what, &probs, &widest_probs, STEP_ATOL, STEP_RTOL);
        }
    }
}

#[test]
fn a_set_this_processor_lacks_is_refused_in_words() {
    let plan = Plan::new([12, 12, 1], &every_layer(), 4).unwrap();
    for isa in Isa::ALL.into_iter().filter(|i| !i.supported()) {
        let g = CpuGraph::new(plan.clone(), Optimizer::adam(), 1).unwrap();
        let e = g.with_isa(isa).err().expect("accepted");
        assert!(e.to_string().contains("does not run"), "{e}");
        assert!(Isa::parse(isa.name()).is_err());
    }
    for isa in Isa::available() {
        assert_eq!(Isa::parse(isa.name()), Ok(isa));
        let g = CpuGraph::new(plan.clone(), Optimizer::adam(), 1).unwrap();
        assert!(g
            .with_isa(isa)
            .unwrap()
            .describe()
            .contains(&isa.to_string()));
    }
    assert!(Isa::parse("sse4")
        .unwrap_err()
        .contains("avx512, avx2, neon, portable"));
}

/// The `tiny` preset trains on every set: eight steps at batch 16 on random 28x28 images, the
/// loss finite and falling from its start (the aarch64 build runs this under qemu in CI).
#[test]
fn tiny_trains_a_few_steps_on_every_instruction_set() {
    let spec = preset("tiny").unwrap();
    let data = synthetic(128, 28 * 28, 10);
    let order: Vec<u32> = (0..128).collect();
    for isa in Isa::available() {
        let plan = Plan::new(spec.input, &spec.layers, 16).unwrap();
        let g = CpuGraph::new(plan, Optimizer::adam(), 3).unwrap();
        let mut g = g.with_isa(isa).unwrap();
        g.load(0, HostData::copied(&data.images, &data.labels, 28 * 28))
            .unwrap();
        let before = g.eval(0, &order, false).unwrap().loss;
        for _ in 0..4 {
            g.train_at(0, &order[..32], 0.01).unwrap();
        }
        let after = g.eval(0, &order[..32], false).unwrap().loss;
        assert_eq!(g.steps_done(), 8, "{isa}");
        assert!(
            after.is_finite() && after < before,
            "{isa}: loss {before} -> {after}"
        );
    }
}

/// The widest set comes first and is the one a graph uses unless told otherwise; on aarch64 it
/// is NEON (so the emulated run in CI exercises the NEON kernels), on x86-64 never.
#[test]
fn the_widest_set_is_the_default() {
    let available = Isa::available();
    assert_eq!(available.first(), Some(&Isa::detected()));
    assert_eq!(available.last(), Some(&Isa::Portable));
    assert_eq!(Isa::detected() == Isa::Neon, cfg!(target_arch = "aarch64"));
    let plan = Plan::new([12, 12, 1], &every_layer(), 4).unwrap();
    let g = CpuGraph::new(plan, Optimizer::adam(), 1).unwrap();
    assert_eq!(g.isa(), Isa::detected());
}
