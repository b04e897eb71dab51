//! The weights' moving average inside whole training graphs: the CPU graph's average against the
//! reference applied by hand step after step, the GPU graph's against the CPU graph's, the swap
//! that evaluation uses, and the state that carries it.

mod common;
use common::synthetic::{host, synthetic};
use common::*;

use wgnn_engine::check::every_layer;
use wgnn_engine::graph::{Backend, CpuGraph, GpuGraph, Plan, Tensors};
use wgnn_engine::ops::ema::{self, Ema};
use wgnn_engine::ops::optim::Optimizer;

const ORDER: [u32; 13] = [3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0];

fn plan() -> Plan {
    Plan::new([12, 12, 1], &every_layer(), 8).unwrap()
}

fn ema() -> Ema {
    Ema::new(0.8).unwrap()
}

/// A CPU graph keeping the average, with the synthetic set loaded as set 0.
fn averaging_cpu_graph() -> CpuGraph {
    let g = CpuGraph::new(plan(), Optimizer::adam(), 3).unwrap();
    let mut g = g.averaging(ema());
    g.load(0, host(&synthetic(40, 144, 5))).unwrap();
    g
}

#[test]
fn the_cpu_graph_averages_each_steps_weights_as_the_reference_does() {
    let mut g = averaging_cpu_graph();
    let mut want: Tensors = g.params().unwrap().0;
    for (t, batch) in ORDER.chunks(4).enumerate() {
        g.train_at(0, batch, 0.01).unwrap();
        let weights = g.params().unwrap().0;
        for (a, w) in want.iter_mut().zip(&weights) {
            ema::update_cpu(ema(), t as u32 + 1, w, a);
        }
    }
    let state = g.state().unwrap();
    assert_eq!(
        state.average.as_ref(),
        Some(&want),
        "the average, bit for bit"
    );
    assert_ne!(
        state.params, want,
        "after four steps the average lags the weights"
    );
    // Swapped in, the average is what `params` and evaluation see; swapped back, all is as it was.
    let trained = g.eval(0, &ORDER, true).unwrap();
    assert!(g.swap_average().unwrap());
    assert_eq!(g.params().unwrap().0, want);
    let averaged = g.eval(0, &ORDER, true).unwrap();
    assert_ne!(averaged.probs, trained.probs);
    assert!(g.swap_average().unwrap());
    assert_eq!(g.state().unwrap(), state);
}

#[test]
fn new_weights_restart_the_average_and_states_must_agree_on_keeping_one() {
    let mut g = averaging_cpu_graph();
    g.train_at(0, &ORDER, 0.01).unwrap();
    let (params, stats) = g.params().unwrap();
    let zeros: Tensors = params.iter().map(|p| vec![0.0; p.len()]).collect();
    g.set_params(&zeros, &stats).unwrap();
    assert_eq!(g.state().unwrap().average, Some(zeros));
    // A state without an average does not fit a graph that keeps one, nor the other way round.
    let mut plain = CpuGraph::new(plan(), Optimizer::adam(), 3).unwrap();
    assert!(!plain.swap_average().unwrap());
    let e = g.set_state(&plain.state().unwrap()).unwrap_err();
    assert!(e.to_string().contains("holds none"), "{e}");
    let e = plain.set_state(&g.state().unwrap()).unwrap_err();
    assert!(e.to_string().contains("does not keep"), "{e}");
}

#[test]
fn the_gpu_graph_keeps_the_average_the_cpu_graph_keeps() {
    let Some(ctx) = gpu() else { return };
    let data = synthetic(40, 144, 5);
    let mut c = CpuGraph::new(plan(), Optimizer::adam(), 3)
        .unwrap()
        .averaging(ema());
    let g = GpuGraph::new(ctx, plan(), Optimizer::adam(), 3).unwrap();
    let mut g = g.averaging(ema()).unwrap();
    g.load(0, host(&data)).unwrap();
    c.load(0, host(&data)).unwrap();
    g.train_at(0, &ORDER, 0.01).unwrap();
    c.train_at(0, &ORDER, 0.01).unwrap();
    let (gs, cs) = (g.state().unwrap(), c.state().unwrap());
    let (ga, ca) = (gs.average.unwrap(), cs.average.unwrap());
    for (k, (a, b)) in ga.iter().zip(&ca).enumerate() {
        assert_close_tol(&format!("average of parameter {k}"), a, b, 1e-3, 1e-2);
    }
    assert!(g.swap_average().unwrap() && c.swap_average().unwrap());
    let (eg, ec) = (
        g.eval(0, &ORDER, true).unwrap(),
        c.eval(0, &ORDER, true).unwrap(),
    );
    assert_close_tol("averaged probabilities", &eg.probs, &ec.probs, 1e-3, 1e-2);
    assert_eq!(g.params().unwrap().0, ga, "swapped in on the GPU");
    g.swap_average().unwrap();
    assert_eq!(g.state().unwrap().average.unwrap(), ga, "swapped back");
}
