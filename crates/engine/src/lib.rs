//! wgnn's engine: convolutional networks trained on any GPU through wgpu and hand-written WGSL
//! kernels, or on the CPU, with a plain-Rust reference for every kernel.
//!
//! Where things live: `shaders/NAME.wgsl` at the workspace root (a kernel family),
//! `src/ops/NAME.rs` (its CPU reference beside its dispatch), `tests/ops_NAME.rs` (the check that
//! ties them); `src/runtime` (device, buffers, kernel cache), `src/graph` (models compiled into
//! static GPU/CPU graphs), `src/model` (presets and model files), `src/check` (`wgnn check`'s
//! registry). The engine takes values and reads no environment: data comes from `wgnn-data`,
//! training loops from `wgnn-train`, the command line from `wgnn`.

pub mod check;
pub mod error;
pub mod graph;
pub mod layers;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod runtime;
pub mod util;

pub use error::{Error, Result};
