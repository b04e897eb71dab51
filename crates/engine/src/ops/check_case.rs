//! What an op file declares so that `wgnn check` and the test suite can run its kernels against
//! its CPU reference: each `crates/engine/src/ops/X.rs` with a GPU kernel holds a `pub const CHECK: OpCheck`
//! beside its dispatch and reference, with its own cases and the function that runs them.
//! `crates/engine/src/check/` lists those constants (its `REGISTRY`), hands them the models' layer shapes (which
//! only a higher layer can read) and compares each [`Output`] under its tolerance policy.

use std::time::Instant;

use super::conv2d::ConvCase;
use super::gemm::GemmShape;
use super::pool::PoolCase;
use super::Variant;
use crate::error::Result;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};
use crate::util::rng::Rng;

/// One GPU result beside its CPU reference's, not yet judged.
#[derive(Clone, Debug)]
pub struct Output {
    /// `shader::entry` (the entry points the dispatch code chose for this shape and family), or
    /// the op and what it computed.
    pub kernel: String,
    pub shape: String,
    pub got: Vec<f32>,
    pub want: Vec<f32>,
    /// Wall time of the GPU work (dispatch to results back), in milliseconds.
    pub ms: f64,
}

/// The layer shapes of the models (each preset's, once each), with the model's name: `check/`
/// reads them from the model specs and hands them to the ops that check them.
#[derive(Clone, Debug, Default)]
pub struct ModelShapes {
    pub convs: Vec<(String, ConvCase)>,
    pub pools: Vec<(String, PoolCase)>,
    pub gemms: Vec<(String, GemmShape)>,
}

/// What every op's check gets.
pub struct Env<'a> {
    pub ctx: &'a GpuContext,
    /// Fewer odd shapes (the models' shapes are already at batch 2 then).
    pub quick: bool,
    pub models: &'a ModelShapes,
}

/// Where an op's check puts each output, as it is done.
pub type Sink<'a> = &'a mut dyn FnMut(Output);

/// How an op's checks run.
#[derive(Clone, Copy)]
pub enum Runs {
    /// Once for each kernel family checked (the op has a tiled and a CPU-adapter kernel).
    PerFamily(fn(&Env, Variant, Sink) -> Result<()>),
    /// Once (one kernel for both families).
    Once(fn(&Env, Sink) -> Result<()>),
}

/// An op file's check cases and the function that runs them.
#[derive(Clone, Copy)]
pub struct OpCheck {
    /// The file's name in `crates/engine/src/ops/`.
    pub op: &'static str,
    pub runs: Runs,
}

/// Values uniform in [-1, 1) from `seed`: the inputs of every check and test.
pub fn rand_vec(seed: u64, n: usize) -> Vec<f32> {
    Rng::new(seed).vec(n, -1.0, 1.0)
}

/// An output tensor that starts as NaN, so that an element a kernel misses cannot pass.
pub fn nan_tensor(ctx: &GpuContext, n: usize, label: &str) -> Result<GpuTensor> {
    ctx.tensor(&vec![f32::NAN; n], label)
}

/// Runs dispatches and waits, in milliseconds.
pub fn timed(ctx: &GpuContext, d: &[&Dispatch]) -> Result<f64> {
    let t0 = Instant::now();
    ctx.run(d)?;
    Ok(t0.elapsed().as_secs_f64() * 1e3)
}
