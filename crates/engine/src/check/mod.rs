//! `wgnn check`: every kernel against its CPU reference on one adapter, for both kernel families,
//! then one whole training step GPU-vs-CPU per optimizer. The cases live beside each kernel: each
//! op file in `crates/engine/src/ops/` declares a `CHECK` (its odd shapes, and the function that runs them and
//! its reference, see `ops::check_case`), and [`REGISTRY`] lists them. This module holds the
//! tolerance policy (stated once; the tests import it), the rows, the models' shapes the ops also
//! run (`models.rs`), the training-step checks (`steps.rs`) and the runner. `wgnn check` and
//! `tests/check.rs` both run [`run`], so they run the same registry.

mod models;
mod steps;

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::ops::check_case::{Env, ModelLayers, OpCheck, Output, Runs};
use crate::ops::{
    batchnorm, conv2d, dropout, elementwise, ema, gather, gemm, loss, optim, pool, reduce, Variant,
};
use crate::runtime::{parse_shader, GpuContext, KernelFamily, SHADERS};

pub use crate::ops::check_case::rand_vec;
pub use models::preset_shapes;
pub use steps::{conv_pool_pairs, every_layer, every_other_layer};

/// The op files whose checks `wgnn check` and the tests run, in the order they run: those with
/// a kernel per family first (once per family), then the others.
pub const REGISTRY: &[OpCheck] = &[
    conv2d::CHECK,
    gemm::CHECK,
    pool::CHECK,
    loss::CHECK,
    gather::CHECK,
    elementwise::CHECK,
    reduce::CHECK,
    batchnorm::CHECK,
    dropout::CHECK,
    optim::CHECK,
    ema::CHECK,
];

/// Tolerance policy for one kernel against its reference: |gpu - ref| <= ATOL + RTOL * |ref|.
/// f32 kernels that sum up to a few thousand products in another order than the reference stay
/// well inside it; anything larger is a bug, not rounding.
pub const ATOL: f32 = 1e-4;
pub const RTOL: f32 = 1e-3;
/// A whole training step compounds every kernel's rounding through the update of every
/// parameter (and a batch-norm division by small variances): a looser bound, still far below
/// what a wrongly carried moment or statistic gives.
pub const STEP_ATOL: f32 = 1e-3;
pub const STEP_RTOL: f32 = 1e-2;

/// One compared output.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// `shader::entry` (the entry points the dispatch code chose for this shape and family), or
    /// `training step, OPTIMIZER`.
    pub kernel: String,
    pub family: String,
    pub shape: String,
    pub values: usize,
    pub max_abs_err: f32,
    /// Largest |gpu - ref| / |ref| over the values with |ref| > ATOL.
    pub max_rel_err: f32,
    pub atol: f32,
    pub rtol: f32,
    pub pass: bool,
    /// Wall time of the GPU work (dispatch to results back), in milliseconds.
    pub ms: f64,
    /// Why it failed, in words (the first bad value), or empty.
    pub note: String,
}

/// What to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Presets' shapes at batch 2 instead of their own batch, fewer odd shapes: for tests and a
    /// first look at a new adapter.
    pub quick: bool,
    /// The kernel families to check (both by default).
    pub families: Vec<Variant>,
}

impl Options {
    /// Both families unless `family` names one.
    pub fn new(quick: bool, family: KernelFamily) -> Self {
        let families = match family {
            KernelFamily::Auto => vec![Variant::Tiled, Variant::Blocked],
            KernelFamily::Tiled => vec![Variant::Tiled],
            KernelFamily::Blocked => vec![Variant::Blocked],
        };
        Self { quick, families }
    }
}

/// The rows, and the entry points no case ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub entry_points: usize,
    pub not_exercised: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.pass)
    }
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| !r.pass).count()
    }
}

pub fn family_name(v: Variant) -> &'static str {
    match v {
        Variant::Tiled => "tiled",
        Variant::Blocked => "blocked",
    }
}

/// Compares `got` with `want` under (atol, rtol).
#[allow(clippy::too_many_arguments)]
pub fn compare(
    kernel: &str,
    family: &str,
    shape: &str,
    got: &[f32],
    want: &[f32],
    atol: f32,
    rtol: f32,
    ms: f64,
) -> Row {
    let (mut max_abs, mut max_rel, mut note) = (0f32, 0f32, String::new());
    if got.len() != want.len() {
        note = format!(
            "the GPU gave {} values, the reference {}",
            got.len(),
            want.len()
        );
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let bad = !g.is_finite() || err.is_nan() || err > atol + rtol * w.abs();
        if bad && note.is_empty() {
            note = format!("value {i} is {g}, the reference says {w}");
        }
        if err.is_finite() {
            max_abs = max_abs.max(err);
            if w.abs() > atol {
                max_rel = max_rel.max(err / w.abs());
            }
        } else {
            max_abs = f32::INFINITY;
        }
    }
    Row {
        kernel: kernel.to_string(),
        family: family.to_string(),
        shape: shape.to_string(),
        values: want.len(),
        max_abs_err: max_abs,
        max_rel_err: max_rel,
        atol,
        rtol,
        pass: note.is_empty(),
        ms,
        note,
    }
}

/// Every `shader::entry` compiled into the binary.
pub fn entry_points() -> Vec<String> {
    let mut v = Vec::new();
    for name in SHADERS {
        if let Ok(p) = parse_shader(name) {
            v.extend(
                p.module
                    .entry_points
                    .iter()
                    .map(|e| format!("{name}::{}", e.name)),
            );
        }
    }
    v
}

/// Every `shader::entry` compiled on `ctx` so far.
fn compiled(ctx: &GpuContext) -> Result<BTreeSet<String>> {
    Ok(ctx
        .kernels
        .lock()
        .map_err(|_| Error::Gpu("kernel cache lock poisoned".into()))?
        .keys()
        .map(|(s, e, _)| format!("{s}::{e}"))
        .collect())
}

/// An op's output judged under the kernel tolerance policy.
fn judge(family: &str, o: Output) -> Row {
    compare(
        &o.kernel, family, &o.shape, &o.got, &o.want, ATOL, RTOL, o.ms,
    )
}

/// Runs every case on `ctx`, calling `out` with each row as it is done (so a slow adapter shows
/// progress): the registry's ops with a kernel per family for each family, then the others, then
/// the training steps for each family. An error (a kernel that could not be built or run) stops
/// the check.
pub fn run(ctx: &mut GpuContext, opts: &Options, out: &mut dyn FnMut(&Row)) -> Result<Report> {
    let mut rows = Vec::new();
    let mut emit = |r: Row| {
        out(&r);
        rows.push(r);
    };
    let wanted: Vec<ModelLayers> = REGISTRY.iter().map(|op| op.models).collect();
    let models = preset_shapes(opts.quick.then_some(2), &wanted)?;
    // Each op sees the models' layers of the kind it asked for, and no others.
    let envs: Vec<Env> = REGISTRY
        .iter()
        .map(|op| Env {
            ctx,
            quick: opts.quick,
            models: models.only(op.models),
        })
        .collect();
    for &v in &opts.families {
        for (op, env) in REGISTRY.iter().zip(&envs) {
            if let Runs::PerFamily(f) = op.runs {
                f(env, v, &mut |o| emit(judge(family_name(v), o)))?;
            }
        }
    }
    for (op, env) in REGISTRY.iter().zip(&envs) {
        if let Runs::Once(f) = op.runs {
            f(env, &mut |o| emit(judge("-", o)))?;
        }
    }
    drop(envs);
    // An entry point counts as exercised when an op's own check compiled it: the whole steps
    // below run every kernel too, but compare only their end result.
    let all = entry_points();
    let used = compiled(ctx)?;
    let not_exercised = all.iter().filter(|e| !used.contains(*e)).cloned().collect();
    for &v in &opts.families {
        steps::check_steps(ctx, v, &mut emit)?;
    }
    ctx.check()?;
    Ok(Report {
        rows,
        entry_points: all.len(),
        not_exercised,
    })
}
