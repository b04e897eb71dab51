//! wgnn: train convolutional networks on any GPU through wgpu and hand-written WGSL kernels, with a
//! CPU reference for every kernel.
//!
//! This package is the `wgnn` command line (`src/app`). The library crates below it are
//! re-exported under their module names, so `wgnn::ops`, `wgnn::data` and `wgnn::train` name the
//! whole engine from one place: `wgnn-engine` (runtime, kernels, layers, graphs, models,
//! `wgnn check`), `wgnn-data` (formats, datasets, downloads) and `wgnn-train` (fit, checkpoints,
//! reports).

pub mod app;

pub use wgnn_data as data;
pub use wgnn_engine::{bail, check, error, graph, layers, model, onnx, ops, runtime, util};
pub use wgnn_engine::{Error, Result};
pub use wgnn_train as train;
pub use wgnn_train::report;
