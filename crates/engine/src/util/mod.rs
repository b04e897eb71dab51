//! Small shared helpers.

pub mod bytes;
pub mod fs;
pub mod hash;
pub mod host_memory;
pub mod malloc;
pub mod pipe;
pub mod recycle;
pub mod rng;
pub mod shared;
pub mod simd;
pub mod text;
pub mod time;
