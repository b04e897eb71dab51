//! An exponential moving average of the weights: Keras' `use_ema` with `ema_momentum`. After each
//! optimizer update, `average = m * average + (1 - m) * weights`, with `m` 0 on the first step so
//! that the average starts at the weights. Only the trainable parameters are averaged (batch
//! norm's moving statistics are not, as in Keras). Kernels: `shaders/ema.wgsl`; tests:
//! `crates/engine/tests/ops_ema.rs`.

use bytemuck::{Pod, Zeroable};

use super::check_case::{rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink};
use super::step::{StepParams, STEP_WORDS};
use crate::error::{Error, Result};
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

const SHADER: &str = "ema";

/// The averaging's one setting: Keras' `ema_momentum`, in [0, 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ema {
    pub momentum: f32,
}

impl Ema {
    /// An average with `momentum`, refused outside [0, 1) (1 would never leave the first step's
    /// weights).
    pub fn new(momentum: f32) -> Result<Self> {
        match momentum.is_finite() && (0.0..1.0).contains(&momentum) {
            true => Ok(Self { momentum }),
            false => Err(Error::msg(format!(
                "the weights' moving average takes a momentum in [0, 1), such as 0.99 or 0.999; {momentum} is outside it"
            ))),
        }
    }

    /// The momentum applied after step `t` (1-based): 0 on the first.
    pub fn momentum_at(self, t: u32) -> f32 {
        match t <= 1 {
            true => 0.0,
            false => self.momentum,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    momentum: f32,
    _pad: [u32; 2],
}

/// The reference: `average` moves toward `weights` after step `t`, in the kernel's order of
/// operations.
pub fn update_cpu(ema: Ema, t: u32, weights: &[f32], average: &mut [f32]) {
    let m = ema.momentum_at(t);
    for (a, &w) in average.iter_mut().zip(weights) {
        *a = m * *a + (1.0 - m) * w;
    }
}

fn check_pair(what: &str, params: &GpuTensor, average: &GpuTensor) -> Result<u32> {
    let n = params.len;
    if n == 0 || average.len != n {
        return Err(Error::msg(format!(
            "{what}: the average has {} values, the weights {n}",
            average.len
        )));
    }
    u32::try_from(n).map_err(|_| Error::msg(format!("{what}: {n} weights exceed 32-bit indexing")))
}

/// One averaging of the whole flat `params` buffer into `average` (same length), at the step
/// count of the `step` record.
pub fn update(
    ctx: &GpuContext,
    ema: Ema,
    params: &GpuTensor,
    average: &GpuTensor,
    step: &GpuTensor,
) -> Result<Dispatch> {
    let n = check_pair("moving average", params, average)?;
    if step.len < STEP_WORDS {
        return Err(Error::msg(format!(
            "moving average: the step record has {} words, expected {STEP_WORDS}",
            step.len
        )));
    }
    let p = Params {
        n,
        momentum: Ema::new(ema.momentum)?.momentum,
        _pad: [0; 2],
    };
    let bind = [("step", step), ("params", params), ("average", average)];
    ctx.dispatch_1d(SHADER, "ema", bytemuck::bytes_of(&p), &bind, n as usize)
}

/// Exchanges `params` and `average` (same length): run twice, it restores both.
pub fn swap(ctx: &GpuContext, params: &GpuTensor, average: &GpuTensor) -> Result<Dispatch> {
    let n = check_pair("swapping in the average", params, average)?;
    let p = Params {
        n,
        momentum: 0.0,
        _pad: [0; 2],
    };
    let bind = [("params", params), ("average", average)];
    ctx.dispatch_1d(SHADER, "swap", bytemuck::bytes_of(&p), &bind, n as usize)
}

pub const CHECK: OpCheck = OpCheck {
    op: "ema",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// Parameter counts: one, and an odd count past several workgroups.
const CHECK_SIZES: [usize; 2] = [1, 34_826];
/// Steps per case: the first step's momentum is 0, the later ones carry the average.
const CHECK_STEPS: u32 = 4;

fn checks(env: &Env, out: Sink) -> Result<()> {
    for momentum in [0.9, 0.999] {
        for n in CHECK_SIZES {
            check_update(env.ctx, Ema { momentum }, n, out)?;
        }
    }
    for n in CHECK_SIZES {
        check_swap(env.ctx, n, out)?;
    }
    Ok(())
}

/// `CHECK_STEPS` averagings on both sides, the weights changing between them.
fn check_update(ctx: &GpuContext, ema: Ema, n: usize, out: Sink) -> Result<()> {
    let mut average = rand_vec(7 + n as u64, n);
    let gw = ctx.alloc(n, "weights")?;
    let ga = ctx.tensor(&average, "average")?;
    let gstep = ctx.alloc(STEP_WORDS, "step")?;
    let mut ms = 0.0;
    for t in 1..=CHECK_STEPS {
        let w = rand_vec(100 * t as u64 + n as u64, n);
        ctx.write(&gw, &w)?;
        let step = StepParams {
            batch: 1,
            t,
            ..Default::default()
        };
        ctx.write(&gstep, &[step])?;
        let d = update(ctx, ema, &gw, &ga, &gstep)?;
        ms += timed(ctx, &[&d])?;
        update_cpu(ema, t, &w, &mut average);
    }
    out(Output {
        kernel: format!("{SHADER}::ema"),
        shape: format!(
            "{n} parameters, {CHECK_STEPS} steps, momentum {}",
            ema.momentum
        ),
        got: ctx.read_f32(&ga)?,
        want: average,
        ms,
    });
    Ok(())
}

/// One swap: each buffer must hold the other's values exactly.
fn check_swap(ctx: &GpuContext, n: usize, out: Sink) -> Result<()> {
    let (w, a) = (rand_vec(n as u64, n), rand_vec(3 + n as u64, n));
    let (gw, ga) = (ctx.tensor(&w, "weights")?, ctx.tensor(&a, "average")?);
    let d = swap(ctx, &gw, &ga)?;
    let ms = timed(ctx, &[&d])?;
    let mut got = ctx.read_f32(&gw)?;
    got.extend(ctx.read_f32(&ga)?);
    out(Output {
        kernel: format!("{SHADER}::swap"),
        shape: format!("{n} parameters: weights and average exchanged"),
        got,
        want: [a, w].concat(),
        ms,
    });
    Ok(())
}
