//! The command implementations behind `wgnn`'s subcommands (the binary only parses flags).

mod backend;
pub mod bench;
pub mod check;
pub mod compare;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod predict;
pub mod serve;
mod signals;
pub mod train;
pub mod tune;
pub mod tune_kernels;

pub use backend::{gpu_context, with_backend, BackendKind, GraphKind};
pub use signals::exit_status;
