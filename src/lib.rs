//! wgnn: train convolutional networks on any GPU through wgpu and hand-written WGSL kernels, with a
//! CPU reference for every kernel.
//!
//! Where things live: `shaders/NAME.wgsl` (a kernel family), `src/ops/NAME.rs` (its CPU reference
//! beside its dispatch), `tests/ops_NAME.rs` (the check that ties them); `src/runtime` (device,
//! buffers, kernel cache), `src/graph` (models compiled into static GPU/CPU graphs), `src/train`
//! (fit/evaluate/predict), `src/data`, `src/model`, `src/report`.

pub mod app;
pub mod check;
pub mod data;
pub mod error;
pub mod graph;
pub mod layers;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod report;
pub mod runtime;
pub mod train;
pub mod util;

pub use error::{Error, Result};
