//! Small shared helpers.

pub mod malloc;
pub mod recycle;
pub mod rng;
pub mod simd;
