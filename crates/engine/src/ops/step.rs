//! Per-step values that change while a compiled graph is replayed. A whole epoch of them is uploaded
//! at once; before each step the graph copies one record into the `step` tensor that kernels bind
//! (WGSL: `var<storage, read> step: Step;`), so many steps fit in one submission.
//!
//! Its WGSL mirror is `shaders/prelude/step.wgsl`, prepended to every shader (keep them in sync).

use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct StepParams {
    /// Valid rows in this batch (the last batch of an epoch may be short; rows past it are padding).
    pub batch: u32,
    /// 1-based optimizer step (Adam's bias correction, dropout's random stream).
    pub t: u32,
    /// Low 32 bits of the run seed (dropout masks; `seed_hi` holds the high 32).
    pub seed: u32,
    /// Index of this batch's first sample in the epoch's permutation.
    pub offset: u32,
    /// Learning rate for this step.
    pub lr: f32,
    /// High 32 bits of the run seed.
    pub seed_hi: u32,
    /// Label smoothing of this step's loss (0 in evaluation).
    pub smoothing: f32,
    pub _pad: u32,
}

impl StepParams {
    /// The seed words of a 64-bit run seed: (low, high).
    pub fn seed_words(seed: u64) -> (u32, u32) {
        (seed as u32, (seed >> 32) as u32)
    }
}

/// Size of one record in 32-bit words.
pub const STEP_WORDS: usize = 8;
