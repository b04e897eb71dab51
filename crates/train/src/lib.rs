//! fit / evaluate on any backend, the training state, and checkpoints.

pub mod checkpoint;
pub mod events;
mod fit;
pub mod history;
mod overrides;
pub mod report;
pub mod state;
mod validate;
pub mod watch;

pub use fit::{evaluate, fit, split, Callbacks, EarlyStopped, FitResult, Outcome};
pub use history::{EpochRecord, History};
pub use overrides::Overrides;
pub use state::{DataId, LoopState, Reached, RunConfig, TrainState};
pub use validate::InvalidSetting;
pub use watch::{EarlyStop, Monitor, Plateau};
pub use wgnn_engine::model::schedule::{LrSchedule, Schedule};
