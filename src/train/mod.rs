//! fit / evaluate on any backend, the training state, and checkpoints.

pub mod checkpoint;
mod fit;
pub mod state;

pub use fit::{evaluate, fit, split, Callbacks, FitConfig, FitResult, Outcome, Reached};
pub use state::{DataId, LoopState, RunConfig, TrainState};
