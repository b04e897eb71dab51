//! One file per op family: the CPU reference (plain Rust, the oracle) beside the GPU dispatch that
//! launches the matching kernel of `shaders/NAME.wgsl`.

pub mod batchnorm;
pub mod dropout;
pub mod elementwise;
pub mod gemm;
pub mod optim;
pub mod step;
