//! One file per op family: the CPU reference (plain Rust, the oracle) beside the GPU dispatch that
//! launches the matching kernel of `shaders/NAME.wgsl`.

pub mod conv2d;
pub mod elementwise;
pub mod gather;
pub mod loss;
pub mod pool;
pub mod reduce;
pub mod step;
