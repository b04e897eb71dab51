//! Shared test support. The engine's (the GPU context, closeness assertions under the library's
//! tolerance policy, finite-difference checks, fuzzing) is included from its crate, so both test
//! suites state them once; the rest is the command line's: running the binary, writing data
//! formats, a loopback HTTP server, `wgnn serve`.
#![allow(dead_code)]

#[path = "../../crates/engine/tests/common/mod.rs"]
mod engine;
#[allow(unused_imports)]
pub use engine::*;

pub mod formats;
pub mod http;
pub mod python;
pub mod run;
pub mod serve;
pub mod source;
