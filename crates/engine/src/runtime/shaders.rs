//! Every WGSL file of `shaders/`, compiled into the binary so the CLI needs no files at run time
//! (build.rs lists the folder: a new file is compiled in, and a new top-level one is a kernel).
//! A shader names the preludes it needs with `#include "prelude/....wgsl"` lines, which
//! `include::assemble` expands (once per file, cached here for the life of the process).

use std::sync::OnceLock;

use super::include::{assemble, Assembled};
use crate::error::{Error, Result};

// FILES and SHADERS: every file of the workspace's `shaders/` folder, listed by build.rs.
include!(concat!(env!("OUT_DIR"), "/shader_files.rs"));

/// The text of `path` (relative to `shaders/`) as compiled in.
pub fn shader_file(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// Every path compiled in, preludes included (relative to `shaders/`).
pub fn shader_files() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(p, _)| *p)
}

/// Shader `name` with its includes expanded (an error naming the file for a bad include, or for a
/// name that is not a shader).
pub fn shader_source(name: &str) -> Result<&'static Assembled> {
    static ALL: OnceLock<Vec<(&str, std::result::Result<Assembled, String>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        SHADERS
            .iter()
            .map(|&n| {
                let assembled = assemble(&format!("{n}.wgsl"), &shader_file);
                (n, assembled.map_err(|e| e.to_string()))
            })
            .collect()
    });
    match all.iter().find(|(n, _)| *n == name) {
        Some((_, Ok(a))) => Ok(a),
        Some((_, Err(e))) => Err(Error::Gpu(e.clone())),
        None => Err(Error::Gpu(format!("no shader named `{name}`"))),
    }
}

/// A fingerprint of every shader file compiled in (FNV-1a over paths and texts, as 16 hex
/// digits): a tuning made with other shaders no longer describes these kernels. Stable across
/// builds and Rust versions, unlike `DefaultHasher`.
pub fn shaders_hash() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (path, text) in FILES {
        for b in path.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
