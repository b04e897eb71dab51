//! fit / evaluate / predict on any backend, and checkpoints.

pub mod checkpoint;
mod fit;

pub use fit::{evaluate, fit, FitConfig, FitResult, Reporter};
