//! The command implementations behind `wgnn`'s subcommands: the only part of the library that
//! knows the command line (its flags, environment variables and the tuning cache's folder).

mod backend;
pub mod bench;
pub mod check;
mod choice;
pub mod compare;
pub mod data;
pub mod device;
pub mod eval;
pub mod export;
pub mod inspect;
mod mapped;
pub mod plan;
pub mod predict;
pub mod serve;
mod signals;
pub mod train;
pub mod tune;
pub mod tune_kernels;

pub use backend::{with_backend, BackendKind, GraphKind};
pub use device::{Device, DeviceArgs};
pub use signals::exit_status;

/// A path as a shell word (quoted when it needs to be).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
