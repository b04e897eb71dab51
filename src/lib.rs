//! wgnn: train convolutional networks on any GPU through wgpu and hand-written WGSL kernels, with a
//! CPU reference for every kernel.

pub mod error;
pub mod ops;
pub mod runtime;
pub mod util;

pub use error::{Error, Result};
