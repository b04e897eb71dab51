//! What an op file declares so that `wgnn check` and the test suite can run its kernels against
//! its CPU reference: each `crates/engine/src/ops/X.rs` with a GPU kernel holds a `pub const CHECK: OpCheck`
//! beside its dispatch and reference, with its own cases and the function that runs them.
//! `crates/engine/src/check/` lists those constants (its `REGISTRY`), hands them the models' layer shapes (which
//! only a higher layer can read) and compares each [`Output`] under its tolerance policy.

use std::time::Instant;

use super::batchnorm::BnCase;
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

/// An exact comparison of indices as an [`Output`]: a 1 for each of `got` equal to `want`'s, so
/// any difference fails every tolerance.
pub fn exact(kernel: String, shape: String, got: &[u32], want: &[u32], ms: f64) -> Output {
    let same: Vec<f32> = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g == w) as u8 as f32)
        .collect();
    Output {
        kernel,
        shape,
        want: vec![1.0; same.len()],
        got: same,
        ms,
    }
}

/// The kind of model layer whose shapes an op's check runs beside its own cases (the ops cannot
/// read the model specs, a higher layer; `check/` reads them for the kinds the registry asks for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelLayers {
    /// The op's own cases are all it runs.
    None,
    /// Each convolution's forward and gradients.
    Conv2D,
    /// Each valid-padded max pooling.
    MaxPool2D,
    /// The three GEMMs of each dense layer.
    Dense,
    /// Each batch normalisation, over a full batch.
    BatchNorm,
}

/// The layer shapes of the models (each preset's, once each), with the model's name: `check/`
/// reads them from the model specs and hands each op the kind its [`OpCheck`] asks for.
#[derive(Clone, Debug, Default)]
pub struct ModelShapes {
    pub convs: Vec<(String, ConvCase)>,
    pub pools: Vec<(String, PoolCase)>,
    pub gemms: Vec<(String, GemmShape)>,
    pub batchnorms: Vec<(String, BnCase)>,
}

impl ModelShapes {
    /// Only the shapes of `kind` (an op sees none that it did not ask for).
    pub fn only(&self, kind: ModelLayers) -> ModelShapes {
        let mut m = ModelShapes::default();
        match kind {
            ModelLayers::None => {}
            ModelLayers::Conv2D => m.convs = self.convs.clone(),
            ModelLayers::MaxPool2D => m.pools = self.pools.clone(),
            ModelLayers::Dense => m.gemms = self.gemms.clone(),
            ModelLayers::BatchNorm => m.batchnorms = self.batchnorms.clone(),
        }
        m
    }

    /// How many shapes of `kind` there are.
    pub fn count(&self, kind: ModelLayers) -> usize {
        match kind {
            ModelLayers::None => 0,
            ModelLayers::Conv2D => self.convs.len(),
            ModelLayers::MaxPool2D => self.pools.len(),
            ModelLayers::Dense => self.gemms.len(),
            ModelLayers::BatchNorm => self.batchnorms.len(),
        }
    }
}

/// What every op's check gets.
pub struct Env<'a> {
    pub ctx: &'a GpuContext,
    /// Fewer odd shapes (the models' shapes are already at batch 2 then).
    pub quick: bool,
    /// The models' shapes of the kind the op's [`OpCheck::models`] names.
    pub models: ModelShapes,
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

/// An op file's check cases, the function that runs them, and the models' layers it also runs.
#[derive(Clone, Copy)]
pub struct OpCheck {
    /// The file's name in `crates/engine/src/ops/`.
    pub op: &'static str,
    pub runs: Runs,
    pub models: ModelLayers,
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
