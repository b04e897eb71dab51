//! wgnn: train convolutional networks on the GPU through wgpu.

pub mod data;
pub mod error;
pub mod model;
pub mod report;
