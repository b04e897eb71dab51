//! What an op's CPU passes see: the parameters, the step, and buffers reused across steps.

use crate::util::recycle::Recycler;
use crate::util::simd::Isa;

/// The CPU backend's state an op reads and writes during one step.
pub struct CpuCx<'a> {
    pub params: &'a [Vec<f32>],
    /// BN's moving statistics, updated by training forward passes.
    pub stats: &'a mut [Vec<f32>],
    /// Parameter gradients, written by backward passes (empty during the forward pass).
    pub grads: &'a mut [Vec<f32>],
    /// Real samples in the padded batch.
    pub batch: usize,
    /// Rows of every batch tensor (the compiled batch size).
    pub max_batch: usize,
    /// The run's seed and the optimizer step, for dropout masks.
    pub seed: u64,
    pub t: u32,
    /// Large buffers handed from one step to the next (contents unspecified: see `Recycler`).
    pub floats: &'a mut Recycler<f32>,
    pub indices: &'a mut Recycler<u32>,
    /// The widest instruction set the kernels may use.
    pub isa: Isa,
}

impl CpuCx<'_> {
    /// A copy of `x` in a recycled buffer.
    pub fn copy(&mut self, x: &[f32]) -> Vec<f32> {
        let mut y = self.floats.take(x.len());
        y.copy_from_slice(x);
        y
    }
}
