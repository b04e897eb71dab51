//! What a training backend offers the training loop, whichever device runs it.

use std::ops::ControlFlow;

pub use super::stream::Residency;
use super::HostData;
use crate::error::Result;
pub use crate::layers::Mode;
pub use crate::ops::augment::Augment;
pub use crate::ops::loss::Metrics;
pub use crate::runtime::MemoryUse;

/// One host vector per tensor, in plan order (parameters, or BN statistics).
pub type Tensors = Vec<Vec<f32>>;

/// Everything a graph carries from one step to the next: what a checkpoint must hold to continue
/// training exactly. Both backends export and import the same layout.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphState {
    pub params: Tensors,
    pub stats: Tensors,
    /// The optimizer's slots (`Optimizer::slot_names`), each one tensor per parameter.
    pub slots: Vec<Tensors>,
    /// Optimizer steps taken: Adam's bias correction and the dropout streams follow it.
    pub t: u32,
    /// The parameters' moving average, one tensor per parameter, in a graph that keeps one
    /// (`ops::ema`); `params` are then the weights being trained.
    pub average: Option<Tensors>,
}

/// One pass over `order` (indices into data set `id`) in batches of the compiled batch size.
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    pub id: usize,
    pub order: &'a [u32],
    pub mode: Mode,
    /// Eval: also return each sample's prediction and class probabilities.
    pub want_preds: bool,
    /// Train: the learning rate of each step, one per batch of `order`.
    pub lrs: &'a [f32],
    /// Sums carried over from an earlier part of the same epoch; the pass adds to them.
    pub start: Metrics,
    /// Train: label smoothing of the loss (evaluation always reports the plain cross-entropy).
    pub label_smoothing: f32,
    /// Train: transform each image as `Backend::set_augment` said.
    pub augment: bool,
}

impl<'a> Pass<'a> {
    pub fn train(id: usize, order: &'a [u32], lrs: &'a [f32]) -> Self {
        Self {
            id,
            order,
            mode: Mode::Train,
            want_preds: false,
            lrs,
            start: Metrics::default(),
            label_smoothing: 0.0,
            augment: false,
        }
    }

    pub fn eval(id: usize, order: &'a [u32], want_preds: bool) -> Self {
        Self {
            id,
            order,
            mode: Mode::Eval,
            want_preds,
            lrs: &[],
            start: Metrics::default(),
            label_smoothing: 0.0,
            augment: false,
        }
    }

    /// The same training pass with augmented images.
    pub fn augmented(self, augment: bool) -> Self {
        Self { augment, ..self }
    }

    /// The same training pass against smoothed labels.
    pub fn smoothed(self, label_smoothing: f32) -> Self {
        Self {
            label_smoothing,
            ..self
        }
    }

    /// The same pass, continuing sums that an earlier part of the epoch left.
    pub fn continuing(self, start: Metrics) -> Self {
        Self { start, ..self }
    }

    /// Batches in this pass.
    pub fn steps(&self, batch: usize) -> usize {
        self.order.len().div_ceil(batch.max(1))
    }
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

/// A progress callback that never stops the pass.
pub fn keep_going(_: Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

#[derive(Clone, Debug, Default)]
pub struct EpochStats {
    /// Sums over the pass, including `Pass::start`.
    pub metrics: Metrics,
    /// Mean loss and accuracy of `metrics`.
    pub loss: f32,
    pub accuracy: f32,
    /// Samples in `metrics`.
    pub samples: usize,
    /// Steps this pass ran: fewer than its batches when the progress callback stopped it.
    pub steps: usize,
    /// Predicted class per sample, in `order` (when asked for).
    pub preds: Vec<u32>,
    /// Class probabilities per sample, in `order` (when asked for).
    pub probs: Vec<f32>,
}

impl EpochStats {
    pub fn new(metrics: Metrics, steps: usize) -> Self {
        Self {
            metrics,
            loss: metrics.mean_loss(),
            accuracy: metrics.accuracy(),
            samples: metrics.samples as usize,
            steps,
            preds: Vec::new(),
            probs: Vec::new(),
        }
    }
}

pub trait Backend {
    /// "GPU: <adapter>" or "CPU backend (N threads)".
    fn describe(&self) -> String;
    fn name(&self) -> &'static str;
    /// Samples per step (the compiled batch size).
    fn batch_size(&self) -> usize;
    /// Register a data set under `id` (uploaded once; used by later calls with that id).
    fn load(&mut self, id: usize, data: HostData) -> Result<()>;
    /// How passes with `augment` transform their images; applies to data sets loaded after it.
    fn set_augment(&mut self, augment: Option<Augment>);
    /// Whether data sets loaded after it may be held whole on the device or always stream
    /// (the CPU backend reads every set where it lies, and ignores this).
    fn set_residency(&mut self, _residency: Residency) {}
    /// How data set `id` is held, for people ("held whole on the GPU", "streamed: ..."); None
    /// where the backend reads it in place (the CPU).
    fn residency(&self, _id: usize) -> Option<String> {
        None
    }
    /// Runs `pass`. Train mode updates the parameters (an error on a forward-only graph); a
    /// non-finite loss stops it with `Error::Diverged`. After each group of steps `progress` is
    /// told, and a `Break` ends the pass there (`EpochStats::steps` says how far it got).
    fn run(
        &mut self,
        pass: &Pass<'_>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<EpochStats>;
    /// Trainable parameters then statistics, one vector per tensor, in plan order.
    fn params(&self) -> Result<(Tensors, Tensors)>;
    fn set_params(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) -> Result<()>;
    /// Parameters, statistics, optimizer slots and step count (a training graph).
    fn state(&self) -> Result<GraphState>;
    fn set_state(&mut self, state: &GraphState) -> Result<()>;
    /// Optimizer steps taken so far.
    fn steps_done(&self) -> u32;
    /// Exchanges the trained weights with their moving average, so that passes, `params` and
    /// `set_params` act on the average until the next call puts both back; false (and nothing
    /// changed) in a graph that keeps no average.
    fn swap_average(&mut self) -> Result<bool> {
        Ok(false)
    }
    /// Seconds per kernel (GPU) or op (CPU) of one training step on the first batch of data set
    /// `id`, in launch order; the graph's state is the same afterwards.
    fn profile_step(&mut self, id: usize) -> Result<Vec<(String, f64)>>;
    /// GPU memory in use, where the backend runs on a GPU that reports it.
    fn memory(&self) -> Option<MemoryUse> {
        None
    }

    /// The override constants the GPU kernels were compiled with (`WG=256 WG_BLOCK=64`); None
    /// on the CPU backend.
    fn kernel_constants(&self) -> Option<String> {
        None
    }

    /// Each compiled GPU kernel (`shader::entry`) with the override constants it was compiled
    /// with (`WG=128`), for kernels that have any; empty on the CPU backend.
    fn kernel_variants(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// A training pass at one learning rate for every step.
    fn train_at(&mut self, id: usize, order: &[u32], lr: f32) -> Result<EpochStats> {
        let lrs = vec![lr; order.len().div_ceil(self.batch_size().max(1))];
        self.run(&Pass::train(id, order, &lrs), &mut keep_going)
    }

    /// An evaluation pass (predictions and probabilities when `want_preds`).
    fn eval(&mut self, id: usize, order: &[u32], want_preds: bool) -> Result<EpochStats> {
        self.run(&Pass::eval(id, order, want_preds), &mut keep_going)
    }
}
