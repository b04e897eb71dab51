//! One file per op family: the CPU reference (plain Rust, the oracle) beside the GPU dispatch that
//! launches the matching kernel of `shaders/NAME.wgsl`.

pub mod batchnorm;
pub mod conv2d;
pub mod dropout;
pub mod elementwise;
pub mod gather;
pub mod gemm;
pub mod im2col;
pub mod loss;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod step;
