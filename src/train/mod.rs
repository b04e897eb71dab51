//! fit / evaluate on any backend, the training state, and checkpoints.

pub mod checkpoint;
mod fit;
pub mod schedule;
pub mod state;

pub use fit::{
    evaluate, fit, split, Callbacks, EarlyStopped, FitConfig, FitResult, Outcome, Reached,
};
pub use schedule::{EarlyStop, LrSchedule, Monitor, Plateau, Schedule};
pub use state::{DataId, LoopState, RunConfig, TrainState};
