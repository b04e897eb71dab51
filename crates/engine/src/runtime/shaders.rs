//! Every WGSL file of `shaders/`, compiled into the binary so the CLI needs no files at run time.
//! A shader names the preludes it needs with `#include "prelude/....wgsl"` lines, which
//! `include::assemble` expands (once per file, cached here for the life of the process).

use std::sync::OnceLock;

use super::include::{assemble, Assembled};
use crate::error::{Error, Result};

/// (path relative to `shaders/`, text) of every file, preludes included.
const FILES: &[(&str, &str)] = &[
    (
        "batchnorm.wgsl",
        include_str!("../../../../shaders/batchnorm.wgsl"),
    ),
    (
        "conv2d_blocked.wgsl",
        include_str!("../../../../shaders/conv2d_blocked.wgsl"),
    ),
    (
        "conv2d_tiled.wgsl",
        include_str!("../../../../shaders/conv2d_tiled.wgsl"),
    ),
    (
        "dropout.wgsl",
        include_str!("../../../../shaders/dropout.wgsl"),
    ),
    (
        "elementwise.wgsl",
        include_str!("../../../../shaders/elementwise.wgsl"),
    ),
    (
        "gather.wgsl",
        include_str!("../../../../shaders/gather.wgsl"),
    ),
    ("gemm.wgsl", include_str!("../../../../shaders/gemm.wgsl")),
    ("loss.wgsl", include_str!("../../../../shaders/loss.wgsl")),
    ("optim.wgsl", include_str!("../../../../shaders/optim.wgsl")),
    ("pool.wgsl", include_str!("../../../../shaders/pool.wgsl")),
    (
        "reduce.wgsl",
        include_str!("../../../../shaders/reduce.wgsl"),
    ),
    (
        "prelude/activate.wgsl",
        include_str!("../../../../shaders/prelude/activate.wgsl"),
    ),
    (
        "prelude/block8.wgsl",
        include_str!("../../../../shaders/prelude/block8.wgsl"),
    ),
    (
        "prelude/conv2d.wgsl",
        include_str!("../../../../shaders/prelude/conv2d.wgsl"),
    ),
    (
        "prelude/grid.wgsl",
        include_str!("../../../../shaders/prelude/grid.wgsl"),
    ),
    (
        "prelude/hash.wgsl",
        include_str!("../../../../shaders/prelude/hash.wgsl"),
    ),
    (
        "prelude/step.wgsl",
        include_str!("../../../../shaders/prelude/step.wgsl"),
    ),
    (
        "prelude/tile_gemm.wgsl",
        include_str!("../../../../shaders/prelude/tile_gemm.wgsl"),
    ),
];

/// The kernel modules (file stems of `shaders/*.wgsl`); the preludes are only included.
pub const SHADERS: &[&str] = &[
    "batchnorm",
    "conv2d_blocked",
    "conv2d_tiled",
    "dropout",
    "elementwise",
    "gather",
    "gemm",
    "loss",
    "optim",
    "pool",
    "reduce",
];

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
