//! What a training backend offers the training loop, whichever device runs it.

use super::HostData;
use crate::error::Result;
pub use crate::runtime::MemoryUse;

/// One host vector per tensor, in plan order (parameters, or BN statistics).
pub type Tensors = Vec<Vec<f32>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// Passed to the progress callback after each group of steps. Loss and accuracy are present when
/// they were read back (the GPU reads them only now and then).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub step: usize,
    pub steps: usize,
    pub loss: Option<f32>,
    pub accuracy: Option<f32>,
}

#[derive(Clone, Debug, Default)]
pub struct EpochStats {
    pub loss: f32,
    pub accuracy: f32,
    pub samples: usize,
    /// Predicted class per sample, in `order` (when asked for).
    pub preds: Vec<u32>,
    /// Class probabilities per sample, in `order` (when asked for).
    pub probs: Vec<f32>,
}

pub trait Backend {
    /// "GPU: <adapter>" or "CPU backend (N threads)".
    fn describe(&self) -> String;
    fn name(&self) -> &'static str;
    /// Samples per step (the compiled batch size).
    fn batch_size(&self) -> usize;
    /// Register a data set under `id` (uploaded once; used by later calls with that id).
    fn load(&mut self, id: usize, data: HostData<'_>) -> Result<()>;
    /// One pass over `order` (indices into data set `id`) in batches. Train mode updates the
    /// parameters; Eval mode can return predictions and probabilities.
    fn run(
        &mut self,
        id: usize,
        order: &[u32],
        mode: Mode,
        want_preds: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<EpochStats>;
    /// Trainable parameters then statistics, one vector per tensor, in plan order.
    fn params(&self) -> Result<(Tensors, Tensors)>;
    fn set_params(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) -> Result<()>;
    /// Optimizer steps taken so far.
    fn steps_done(&self) -> u32;
    /// Seconds per kernel (GPU) or op (CPU) of one training step on the first batch of data set
    /// `id`, in launch order; the parameters do not change.
    fn profile_step(&mut self, id: usize) -> Result<Vec<(String, f64)>>;
    /// GPU memory in use, where the backend runs on a GPU that reports it.
    fn memory(&self) -> Option<MemoryUse> {
        None
    }
}
