//! BatchNormalization over the last axis (Keras semantics: biased batch variance, moving statistics
//! moving = moving*momentum + batch*(1-momentum)). NHWC data is viewed as [rows, c] with
//! rows = max_batch * rows_per_sample (rows_per_sample = H*W, or 1 for a dense input). Only the
//! first `step.batch * rows_per_sample` rows are real samples: statistics use only those, and
//! padding rows get y = 0 and dx = 0. Kernels: `shaders/batchnorm.wgsl`; tests:
//! `crates/engine/tests/ops_batchnorm.rs`.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::elementwise::Act;
use super::step::StepParams;
use crate::bail;
use crate::error::Result;
use crate::ops::step::STEP_WORDS;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

const SHADER: &str = "batchnorm";
/// At most this many row chunks, so the kernels that add the partials stay cheap.
const MAX_CHUNKS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnShape {
    pub rows_per_sample: usize,
    pub max_batch: usize,
    pub c: usize,
    pub momentum: f32,
    pub eps: f32,
}

impl BnShape {
    /// Keras defaults: momentum 0.99, epsilon 1e-3.
    pub fn new(rows_per_sample: usize, max_batch: usize, c: usize) -> Result<Self> {
        let s = Self {
            rows_per_sample,
            max_batch,
            c,
            momentum: 0.99,
            eps: 1e-3,
        };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<()> {
        if self.rows_per_sample == 0 || self.max_batch == 0 || self.c == 0 {
            bail!(
                "batchnorm: zero size in rows_per_sample={} max_batch={} c={}",
                self.rows_per_sample,
                self.max_batch,
                self.c
            );
        }
        let elems = [self.rows_per_sample, self.max_batch, self.c]
            .iter()
            .fold(1u128, |a, &v| a.saturating_mul(v as u128));
        if elems > u32::MAX as u128 {
            bail!(
                "batchnorm: the input of {} rows x {} channels = {elems} elements is too large for 32-bit indexing (at most {})",
                self.rows_per_sample as u128 * self.max_batch as u128,
                self.c,
                u32::MAX
            );
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            bail!("batchnorm: momentum {} must be in [0, 1]", self.momentum);
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            bail!("batchnorm: epsilon {} must be positive", self.eps);
        }
        Ok(())
    }

    pub fn max_rows(&self) -> usize {
        self.rows_per_sample * self.max_batch
    }

    /// Elements of x, y, dy, dx.
    pub fn len(&self) -> usize {
        self.max_rows() * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn valid_rows(&self, batch: usize) -> usize {
        (batch * self.rows_per_sample).min(self.max_rows())
    }
}

/// Reference outputs of a training forward step.
#[derive(Clone, Debug, PartialEq)]
pub struct BnTrainRef {
    pub y: Vec<f32>,
    pub mean: Vec<f32>,
    pub invstd: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
}

/// What a training forward step produces besides y (`forward_train_into`).
#[derive(Clone, Debug, PartialEq)]
pub struct BnStats {
    pub mean: Vec<f32>,
    pub invstd: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
}

/// Rows per parallel task in the CPU loops.
const ROWS: usize = 512;

/// Per-channel sums over rows `0..valid`, in f64: `add(row, acc)` adds one row's terms to the
/// `c` accumulators. Fixed blocks of rows are summed in parallel and the block sums added in
/// block order, so the result does not depend on the thread count.
fn channel_sums(c: usize, valid: usize, add: impl Fn(usize, &mut [f64]) + Sync) -> Vec<f64> {
    let blocks: Vec<Vec<f64>> = (0..valid.div_ceil(ROWS))
        .into_par_iter()
        .map(|blk| {
            let mut acc = vec![0f64; c];
            for r in blk * ROWS..((blk + 1) * ROWS).min(valid) {
                add(r, &mut acc);
            }
            acc
        })
        .collect();
    let mut total = vec![0f64; c];
    for b in &blocks {
        for (t, v) in total.iter_mut().zip(b) {
            *t += v;
        }
    }
    total
}

/// Per-channel batch mean and biased variance over the first `valid` rows, accumulated in f64.
fn moments(x: &[f32], c: usize, valid: usize) -> (Vec<f64>, Vec<f64>) {
    let n = valid.max(1) as f64;
    let row = |r: usize| &x[r * c..][..c];
    let mut mean = channel_sums(c, valid, |r, acc| {
        for (a, &v) in acc.iter_mut().zip(row(r)) {
            *a += v as f64;
        }
    });
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = channel_sums(c, valid, |r, acc| {
        for ((a, &v), &m) in acc.iter_mut().zip(row(r)).zip(&mean) {
            let d = v as f64 - m;
            *a += d * d;
        }
    });
    var.iter_mut().for_each(|v| *v /= n);
    (mean, var)
}

/// `f(out_row, row)` for each of the first `valid` rows of `out` ([rows, c]), in parallel; rows
/// past `valid` (batch padding) are set to 0.
fn map_rows(out: &mut [f32], c: usize, valid: usize, f: impl Fn(&mut [f32], usize) + Sync) {
    out.par_chunks_mut(ROWS * c)
        .enumerate()
        .for_each(|(blk, o)| {
            for (i, row) in o.chunks_mut(c).enumerate() {
                let r = blk * ROWS + i;
                if r < valid {
                    f(row, r)
                } else {
                    row.fill(0.0)
                }
            }
        });
}

/// Training forward of `batch` real samples: y [max_rows, c] (0 on padding rows), the batch mean
/// and 1/sqrt(var + eps) per channel, and the updated running statistics.
/// Panics if slice lengths do not match the shape.
pub fn forward_train_ref(
    s: &BnShape,
    batch: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
) -> BnTrainRef {
    let mut y = vec![0f32; x.len()];
    let st = forward_train_into(s, batch, x, gamma, beta, running_mean, running_var, &mut y);
    BnTrainRef {
        y,
        mean: st.mean,
        invstd: st.invstd,
        running_mean: st.running_mean,
        running_var: st.running_var,
    }
}

/// `forward_train_ref` with y written into `y` (every element; its contents are ignored).
#[allow(clippy::too_many_arguments)]
pub fn forward_train_into(
    s: &BnShape,
    batch: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) -> BnStats {
    let c = s.c;
    assert_eq!(x.len(), s.len(), "batchnorm ref: x length");
    let valid = s.valid_rows(batch);
    let (mean64, var64) = moments(x, c, valid);
    let mean: Vec<f32> = mean64.iter().map(|&m| m as f32).collect();
    let var: Vec<f32> = var64.iter().map(|&v| v as f32).collect();
    let invstd: Vec<f32> = var.iter().map(|&v| 1.0 / (v + s.eps).sqrt()).collect();
    assert_eq!(y.len(), x.len(), "batchnorm: y length");
    map_rows(y, c, valid, |yr, r| {
        let xr = &x[r * c..][..c];
        for ch in 0..c {
            yr[ch] = (xr[ch] - mean[ch]) * (invstd[ch] * gamma[ch]) + beta[ch];
        }
    });
    let mom = s.momentum;
    let running_mean = running_mean
        .iter()
        .zip(&mean)
        .map(|(&r, &m)| r * mom + m * (1.0 - mom))
        .collect();
    let running_var = running_var
        .iter()
        .zip(&var)
        .map(|(&r, &v)| r * mom + v * (1.0 - mom))
        .collect();
    BnStats {
        mean,
        invstd,
        running_mean,
        running_var,
    }
}

/// Inference: y = (x - running_mean) * gamma / sqrt(running_var + eps) + beta on every row.
pub fn forward_infer_ref(
    s: &BnShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    forward_infer_into(s, x, gamma, beta, running_mean, running_var, &mut y);
    y
}

/// `forward_infer_ref` into `y` (every element; its contents are ignored).
pub fn forward_infer_into(
    s: &BnShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    y: &mut [f32],
) {
    let c = s.c;
    assert_eq!(y.len(), x.len(), "batchnorm: y length");
    let sc: Vec<f32> = running_var
        .iter()
        .zip(gamma)
        .map(|(&v, &g)| (1.0 / (v + s.eps).sqrt()) * g)
        .collect();
    map_rows(y, c, x.len() / c.max(1), |yr, r| {
        let xr = &x[r * c..][..c];
        for ch in 0..c {
            yr[ch] = (xr[ch] - running_mean[ch]) * sc[ch] + beta[ch];
        }
    });
}

/// Backward of the training forward: (dx, dgamma, dbeta). dx is 0 on padding rows.
/// With xhat = (x - mean) * invstd and N valid rows: dbeta = Σ dy, dgamma = Σ dy*xhat,
/// dx = gamma*invstd/N * (N*dy - dbeta - xhat*dgamma).
pub fn backward_ref(
    s: &BnShape,
    batch: usize,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    mean: &[f32],
    invstd: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0f32; x.len()];
    let (dgamma, dbeta) = backward_into(s, batch, x, dy, gamma, mean, invstd, &mut dx);
    (dx, dgamma, dbeta)
}

/// `backward_ref` with dx written into `dx` (every element; its contents are ignored); returns
/// (dgamma, dbeta).
#[allow(clippy::too_many_arguments)]
pub fn backward_into(
    s: &BnShape,
    batch: usize,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    mean: &[f32],
    invstd: &[f32],
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let c = s.c;
    assert_eq!(x.len(), s.len(), "batchnorm ref: x length");
    assert_eq!(dy.len(), s.len(), "batchnorm ref: dy length");
    let valid = s.valid_rows(batch);
    let db = channel_sums(c, valid, |r, acc| {
        for (a, &g) in acc.iter_mut().zip(&dy[r * c..][..c]) {
            *a += g as f64;
        }
    });
    let dg = channel_sums(c, valid, |r, acc| {
        let (xr, gr) = (&x[r * c..][..c], &dy[r * c..][..c]);
        for (ch, a) in acc.iter_mut().enumerate() {
            let xhat = (xr[ch] - mean[ch]) * invstd[ch];
            *a += gr[ch] as f64 * xhat as f64;
        }
    });
    let dbeta: Vec<f32> = db.iter().map(|&v| v as f32).collect();
    let dgamma: Vec<f32> = dg.iter().map(|&v| v as f32).collect();
    let nf = valid.max(1) as f32;
    assert_eq!(dx.len(), x.len(), "batchnorm: dx length");
    map_rows(dx, c, valid, |dxr, r| {
        let (xr, gr) = (&x[r * c..][..c], &dy[r * c..][..c]);
        for ch in 0..c {
            let xhat = (xr[ch] - mean[ch]) * invstd[ch];
            let k = gamma[ch] * invstd[ch] / nf;
            dxr[ch] = k * (nf * gr[ch] - dbeta[ch] - xhat * dgamma[ch]);
        }
    });
    (dgamma, dbeta)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    c: u32,
    rows_per_sample: u32,
    max_rows: u32,
    nchunks: u32,
    cpg: u32,
    chunk_rows: u32,
    momentum: f32,
    eps: f32,
    act: u32,
    alpha: f32,
    _pad: [u32; 2],
}

/// The workgroup size shared by `entries`, as compiled: one layout sizes all their grids and the
/// partial sums they pass on, so they must agree.
fn workgroup(ctx: &GpuContext, entries: &[&str]) -> Result<usize> {
    let mut sizes = Vec::with_capacity(entries.len());
    for e in entries {
        sizes.push(ctx.kernel(SHADER, e)?.workgroup_size()[0] as usize);
    }
    match sizes.iter().all(|&s| s == sizes[0]) {
        true => Ok(sizes[0]),
        false => bail!(
            "batchnorm: the kernels {} were compiled with different workgroup sizes ({}); they must share one",
            entries.join(", "),
            sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The reduction grid for workgroups of `wg` invocations (a power of two): channels per group
/// (a power of two ≤ 32), rows per chunk, chunks.
fn layout(s: &BnShape, wg: usize) -> (Params, [u32; 3]) {
    let cpg = s.c.next_power_of_two().min(32).min(wg);
    let lanes = wg / cpg;
    let rows = s.max_rows();
    // At least 16 rows per lane, at most MAX_CHUNKS chunks.
    let chunk_rows = (lanes * 16).max(rows.div_ceil(MAX_CHUNKS));
    let nchunks = rows.div_ceil(chunk_rows);
    let p = Params {
        c: s.c as u32,
        rows_per_sample: s.rows_per_sample as u32,
        max_rows: rows as u32,
        nchunks: nchunks as u32,
        cpg: cpg as u32,
        chunk_rows: chunk_rows as u32,
        momentum: s.momentum,
        eps: s.eps,
        act: 0,
        alpha: 0.0,
        _pad: [0; 2],
    };
    (p, [s.c.div_ceil(cpg) as u32, nchunks as u32, 1])
}

fn check(what: &str, t: &GpuTensor, want: usize) -> Result<()> {
    if t.len != want {
        bail!("batchnorm: {what} has {} elements, expected {want}", t.len);
    }
    Ok(())
}

fn check_step(step: &GpuTensor) -> Result<()> {
    if step.len < STEP_WORDS {
        bail!(
            "batchnorm: step record has {} words, expected {STEP_WORDS}",
            step.len
        );
    }
    Ok(())
}

/// Training forward. x, y: [max_rows, c]; gamma, beta, running_mean, running_var, save_mean,
/// save_invstd: [c]. Updates the running statistics in place and saves the batch mean and
/// 1/sqrt(var + eps) for the backward pass. The valid row count comes from `step.batch`.
/// Three dispatches, to run in order.
#[allow(clippy::too_many_arguments)]
pub fn forward_train(
    ctx: &GpuContext,
    s: &BnShape,
    x: &GpuTensor,
    gamma: &GpuTensor,
    beta: &GpuTensor,
    running_mean: &GpuTensor,
    running_var: &GpuTensor,
    step: &GpuTensor,
    y: &GpuTensor,
    save_mean: &GpuTensor,
    save_invstd: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    s.validate()?;
    check("x", x, s.len())?;
    check("y", y, s.len())?;
    for (what, t) in [
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("save_mean", save_mean),
        ("save_invstd", save_invstd),
    ] {
        check(what, t, s.c)?;
    }
    check_step(step)?;
    let wg = workgroup(ctx, &["bn_sum", "bn_sqdev", "bn_apply_train"])?;
    let (p, groups) = layout(s, wg);
    let partial = ctx.alloc(2 * p.nchunks as usize * s.c, "batchnorm partial sums")?;
    let pb = bytemuck::bytes_of(&p);
    let bind = [
        ("step", step),
        ("x", x),
        ("gamma", gamma),
        ("beta", beta),
        ("mean", save_mean),
        ("partial", &partial),
        ("mean_out", save_mean),
        ("invstd_out", save_invstd),
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("y", y),
    ];
    Ok(vec![
        ctx.dispatch(SHADER, "bn_sum", pb, &bind, groups)?,
        ctx.dispatch(SHADER, "bn_sqdev", pb, &bind, groups)?,
        ctx.dispatch(SHADER, "bn_apply_train", pb, &bind, groups)?,
    ])
}

/// Inference with the running statistics, on every row. x, y: [max_rows, c]; the rest [c].
#[allow(clippy::too_many_arguments)]
pub fn forward_infer(
    ctx: &GpuContext,
    s: &BnShape,
    x: &GpuTensor,
    gamma: &GpuTensor,
    beta: &GpuTensor,
    running_mean: &GpuTensor,
    running_var: &GpuTensor,
    y: &GpuTensor,
) -> Result<Dispatch> {
    s.validate()?;
    check("x", x, s.len())?;
    check("y", y, s.len())?;
    for (what, t) in [
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ] {
        check(what, t, s.c)?;
    }
    let (p, _) = layout(s, workgroup(ctx, &["bn_infer"])?);
    ctx.dispatch_1d(
        SHADER,
        "bn_infer",
        bytemuck::bytes_of(&p),
        &[
            ("x", x),
            ("gamma", gamma),
            ("beta", beta),
            ("rmean", running_mean),
            ("rvar", running_var),
            ("y", y),
        ],
        s.len(),
    )
}

/// Backward of the training forward. x, dy, dx: [max_rows, c]; gamma, save_mean, save_invstd,
/// dgamma, dbeta: [c]. Overwrites dx (0 on padding rows), dgamma and dbeta. Two dispatches.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    ctx: &GpuContext,
    s: &BnShape,
    x: &GpuTensor,
    dy: &GpuTensor,
    gamma: &GpuTensor,
    save_mean: &GpuTensor,
    save_invstd: &GpuTensor,
    step: &GpuTensor,
    dx: &GpuTensor,
    dgamma: &GpuTensor,
    dbeta: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    let saved = [gamma, save_mean, save_invstd];
    backward_act(
        ctx,
        s,
        [x, dy, step],
        saved,
        Act::Linear,
        [dx, dgamma, dbeta],
    )
}

/// [`backward`], with `dx` then taken through the gradient of `act`, the activation of the op
/// before, whose output is `x` (the bits of `backward` and then `elementwise::act_backward`).
pub fn backward_act(
    ctx: &GpuContext,
    s: &BnShape,
    [x, dy, step]: [&GpuTensor; 3],
    [gamma, save_mean, save_invstd]: [&GpuTensor; 3],
    act: Act,
    [dx, dgamma, dbeta]: [&GpuTensor; 3],
) -> Result<Vec<Dispatch>> {
    s.validate()?;
    check("x", x, s.len())?;
    check("dy", dy, s.len())?;
    check("dx", dx, s.len())?;
    for (what, t) in [
        ("gamma", gamma),
        ("save_mean", save_mean),
        ("save_invstd", save_invstd),
        ("dgamma", dgamma),
        ("dbeta", dbeta),
    ] {
        check(what, t, s.c)?;
    }
    check_step(step)?;
    let wg = workgroup(ctx, &["bn_bwd_sums", "bn_dx"])?;
    let (p, groups) = layout(s, wg);
    let p = Params {
        act: act.code(),
        alpha: act.alpha(),
        ..p
    };
    let partial = ctx.alloc(2 * p.nchunks as usize * s.c, "batchnorm partial sums")?;
    let pb = bytemuck::bytes_of(&p);
    let bind = [
        ("step", step),
        ("x", x),
        ("dy", dy),
        ("gamma", gamma),
        ("mean", save_mean),
        ("invstd", save_invstd),
        ("partial", &partial),
        ("y", dx),
        ("dgamma", dgamma),
        ("dbeta", dbeta),
    ];
    Ok(vec![
        ctx.dispatch(SHADER, "bn_bwd_sums", pb, &bind, groups)?,
        ctx.dispatch(SHADER, "bn_dx", pb, &bind, groups)?,
    ])
}

pub const CHECK: OpCheck = OpCheck {
    op: "batchnorm",
    runs: Runs::Once(checks),
    models: ModelLayers::BatchNorm,
};

/// (rows per sample, channels, compiled batch, valid batch).
pub type BnCase = (usize, usize, usize, usize);

/// Dense rows, a convolution's 26x26 maps, and short batches whose padding rows must not count.
const CHECK_CASES: [BnCase; 3] = [(1, 3, 37, 20), (1, 64, 128, 100), (26 * 26, 32, 3, 2)];

/// Per-channel parameters from `seed`, in the ranges a trained layer holds: (gamma, beta,
/// running mean, running variance).
fn check_params(seed: u64, c: usize) -> [Vec<f32>; 4] {
    let scaled = |k: u64, mid: f32, half: f32| -> Vec<f32> {
        rand_vec(seed * 4 + k, c)
            .iter()
            .map(|v| mid + half * v)
            .collect()
    };
    [
        scaled(0, 1.0, 0.5),
        scaled(1, 0.0, 0.5),
        scaled(2, 0.0, 0.2),
        scaled(3, 1.25, 0.75),
    ]
}

fn checks(env: &Env, out: Sink) -> Result<()> {
    for (i, (rps, c, max_batch, batch)) in CHECK_CASES.into_iter().enumerate() {
        let s = BnShape::new(rps, max_batch, c)?;
        check_train(env.ctx, &s, batch, i as u64, out)?;
        check_infer(env.ctx, &s, i as u64, out)?;
    }
    for (i, (name, (rps, c, max_batch, batch))) in env.models.batchnorms.iter().enumerate() {
        let s = BnShape::new(*rps, *max_batch, *c)?;
        let mut labelled = |mut o: Output| {
            o.shape += &format!(" ({name})");
            out(o)
        };
        check_train(env.ctx, &s, *batch, 50 + i as u64, &mut labelled)?;
        check_infer(env.ctx, &s, 50 + i as u64, &mut labelled)?;
    }
    Ok(())
}

fn check_shape(s: &BnShape, batch: usize) -> String {
    format!(
        "{} rows per sample x {} channels, {batch} of {} samples",
        s.rows_per_sample, s.c, s.max_batch
    )
}

/// The training forward (y, the saved statistics, the running ones) and its backward.
fn check_train(ctx: &GpuContext, s: &BnShape, batch: usize, seed: u64, out: Sink) -> Result<()> {
    let (n, c) = (s.max_rows() * s.c, s.c);
    // A per-channel offset, so that the mean matters.
    let x: Vec<f32> = rand_vec(100 + seed, n)
        .iter()
        .enumerate()
        .map(|(j, v)| v + (j % c) as f32 * 0.3)
        .collect();
    let dy = rand_vec(200 + seed, n);
    let [gamma, beta, rmean, rvar] = check_params(seed, c);
    let step = StepParams {
        batch: batch as u32,
        t: 1,
        ..Default::default()
    };
    let t = |v: &[f32], label| ctx.tensor(v, label);
    let (gx, gdy, gstep) = (t(&x, "x")?, t(&dy, "dy")?, ctx.tensor(&[step], "step")?);
    let (gg, gb) = (t(&gamma, "gamma")?, t(&beta, "beta")?);
    let (grm, grv) = (t(&rmean, "running mean")?, t(&rvar, "running var")?);
    let (gy, gdx) = (nan_tensor(ctx, n, "y")?, nan_tensor(ctx, n, "dx")?);
    let (gmean, ginv) = (nan_tensor(ctx, c, "mean")?, nan_tensor(ctx, c, "invstd")?);
    let (gdg, gdb) = (nan_tensor(ctx, c, "dgamma")?, nan_tensor(ctx, c, "dbeta")?);
    let f = forward_train(
        ctx, s, &gx, &gg, &gb, &grm, &grv, &gstep, &gy, &gmean, &ginv,
    )?;
    let ms = timed(ctx, &f.iter().collect::<Vec<_>>())?;
    let r = forward_train_ref(s, batch, &x, &gamma, &beta, &rmean, &rvar);
    let mut got = Vec::new();
    for g in [&gy, &gmean, &ginv, &grm, &grv] {
        got.extend(ctx.read_f32(g)?);
    }
    let want = [&r.y, &r.mean, &r.invstd, &r.running_mean, &r.running_var];
    out(Output {
        kernel: "batchnorm::bn_sum+bn_sqdev+bn_apply_train".into(),
        shape: format!(
            "{}: y, mean, invstd, running statistics",
            check_shape(s, batch)
        ),
        got,
        want: want.into_iter().flatten().copied().collect(),
        ms,
    });
    let b = backward(
        ctx, s, &gx, &gdy, &gg, &gmean, &ginv, &gstep, &gdx, &gdg, &gdb,
    )?;
    let ms = timed(ctx, &b.iter().collect::<Vec<_>>())?;
    let (dx, dgamma, dbeta) = backward_ref(s, batch, &x, &dy, &gamma, &r.mean, &r.invstd);
    let mut got = ctx.read_f32(&gdx)?;
    got.extend(ctx.read_f32(&gdg)?);
    got.extend(ctx.read_f32(&gdb)?);
    out(Output {
        kernel: "batchnorm::bn_bwd_sums+bn_dx".into(),
        shape: format!("{}: dx, dgamma, dbeta", check_shape(s, batch)),
        got,
        want: [dx.clone(), dgamma, dbeta].concat(),
        ms,
    });
    // dx through the gradient of the activation before (whose output is x): activations whose
    // gradient is a factor of at most 1 wherever x lies (x here is no tanh's or sigmoid's output,
    // whose factors would scale dx's rounding past the tolerance).
    for (act, name) in [(Act::Relu, "ReLU"), (Act::LeakyRelu(0.1), "leaky ReLU 0.1")] {
        let gdx = nan_tensor(ctx, n, "dx")?;
        let (io, saved) = ([&gx, &gdy, &gstep], [&gg, &gmean, &ginv]);
        let b = backward_act(ctx, s, io, saved, act, [&gdx, &gdg, &gdb])?;
        let ms = timed(ctx, &b.iter().collect::<Vec<_>>())?;
        out(Output {
            kernel: format!("batchnorm::bn_bwd_sums+bn_dx, then the {name} before"),
            shape: format!("{}: dx", check_shape(s, batch)),
            got: ctx.read_f32(&gdx)?,
            want: super::elementwise::act_backward_ref(act, &x, &dx),
            ms,
        });
    }
    Ok(())
}

/// Inference with the running statistics.
fn check_infer(ctx: &GpuContext, s: &BnShape, seed: u64, out: Sink) -> Result<()> {
    let n = s.max_rows() * s.c;
    let x = rand_vec(300 + seed, n);
    let [gamma, beta, rmean, rvar] = check_params(seed + 50, s.c);
    let t = |v: &[f32], label| ctx.tensor(v, label);
    let (gx, gg, gb) = (t(&x, "x")?, t(&gamma, "gamma")?, t(&beta, "beta")?);
    let (grm, grv) = (t(&rmean, "running mean")?, t(&rvar, "running var")?);
    let gy = nan_tensor(ctx, n, "y")?;
    let d = forward_infer(ctx, s, &gx, &gg, &gb, &grm, &grv, &gy)?;
    let ms = timed(ctx, &[&d])?;
    out(Output {
        kernel: "batchnorm::bn_infer".into(),
        shape: check_shape(s, s.max_batch),
        got: ctx.read_f32(&gy)?,
        want: forward_infer_ref(s, &x, &gamma, &beta, &rmean, &rvar),
        ms,
    });
    Ok(())
}
