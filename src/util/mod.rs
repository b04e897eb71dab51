//! Small shared helpers.

pub mod malloc;
pub mod rng;
