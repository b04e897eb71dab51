//! Optimizers over one flat parameter buffer (every layer's parameters; padding elements have zero
//! gradient and stay put). Keras 3 update rules. Kernels: `shaders/optim.wgsl`; tests:
//! `crates/engine/tests/ops_optim.rs`.

use bytemuck::{Pod, Zeroable};

use super::check_case::{rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink};
use super::step::StepParams;
use crate::bail;
use crate::error::Result;
use crate::ops::step::STEP_WORDS;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

const SHADER: &str = "optim";

#[derive(Clone, Copy, Debug, PartialEq)]
/// Every kind takes Keras 3's decoupled `weight_decay` (AdamW's): before its update, each
/// parameter loses `p * (weight_decay * lr)`.
/// The hyperparameters of an update, without its learning rate: that comes each step from the
/// schedule (the step record on the GPU, an argument on the CPU), its only source.
pub enum Optimizer {
    /// Keras SGD: momentum 0 gives p -= lr*g; else v = momentum*v - lr*g; p += v.
    Sgd { momentum: f32, weight_decay: f32 },
    /// Keras 3 Adam: alpha = lr*sqrt(1-beta2^t)/(1-beta1^t); m += (g-m)(1-beta1);
    /// v += (g²-v)(1-beta2); p -= m*alpha/(sqrt(v)+eps).
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    /// Keras 3 RMSprop (no momentum, not centered): v = rho*v + (1-rho)g²; p -= lr*g/sqrt(v+eps).
    Rmsprop {
        rho: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl Optimizer {
    /// SGD without momentum.
    pub fn sgd() -> Self {
        Self::Sgd {
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// Adam with Keras defaults beta1 0.9, beta2 0.999, epsilon 1e-7.
    pub fn adam() -> Self {
        Self::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0,
        }
    }

    /// RMSprop with Keras defaults rho 0.9, epsilon 1e-7.
    pub fn rmsprop() -> Self {
        Self::Rmsprop {
            rho: 0.9,
            eps: 1e-7,
            weight_decay: 0.0,
        }
    }

    /// The same optimizer with decoupled weight decay `wd`.
    pub fn with_weight_decay(self, wd: f32) -> Self {
        match self {
            Self::Sgd { momentum, .. } => Self::Sgd {
                momentum,
                weight_decay: wd,
            },
            Self::Adam {
                beta1, beta2, eps, ..
            } => Self::Adam {
                beta1,
                beta2,
                eps,
                weight_decay: wd,
            },
            Self::Rmsprop { rho, eps, .. } => Self::Rmsprop {
                rho,
                eps,
                weight_decay: wd,
            },
        }
    }

    pub fn weight_decay(&self) -> f32 {
        match *self {
            Self::Sgd { weight_decay, .. }
            | Self::Adam { weight_decay, .. }
            | Self::Rmsprop { weight_decay, .. } => weight_decay,
        }
    }

    /// State buffers of the parameter buffer's size: SGD 0 (1 with momentum), RMSprop 1, Adam 2.
    pub fn state_buffers(&self) -> usize {
        self.slot_names().len()
    }

    /// The names of the state buffers, as Keras calls its optimizer variables.
    pub fn slot_names(&self) -> &'static [&'static str] {
        match *self {
            Self::Sgd { momentum: 0.0, .. } => &[],
            Self::Sgd { .. } => &["momentum"],
            Self::Adam { .. } => &["momentum", "velocity"],
            Self::Rmsprop { .. } => &["velocity"],
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = |v: f32| v.is_finite() && (0.0..1.0).contains(&v);
        let wd = self.weight_decay();
        if !(wd.is_finite() && wd >= 0.0) {
            bail!("weight decay {wd} must be a number >= 0");
        }
        match *self {
            Self::Sgd { momentum, .. } if !ok(momentum) => {
                bail!("sgd: momentum {momentum} must be in [0, 1)")
            }
            Self::Adam {
                beta1, beta2, eps, ..
            } if !ok(beta1) || !ok(beta2) || eps.is_nan() || eps < 0.0 => {
                bail!("adam: beta1 {beta1} and beta2 {beta2} must be in [0, 1), epsilon {eps} >= 0")
            }
            Self::Rmsprop { rho, eps, .. } if !ok(rho) || eps.is_nan() || eps < 0.0 => {
                bail!("rmsprop: rho {rho} must be in [0, 1), epsilon {eps} >= 0")
            }
            _ => Ok(()),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    a: f32,
    b: f32,
    eps: f32,
    wd: f32,
    _pad: [u32; 3],
}

/// One update of step `t` (1-based) with learning rate `lr` (on the GPU, lr comes from the step
/// record). `s1`/`s2` are the state buffers
/// (`state_buffers()` of them are used; unused ones may be empty).
pub fn update_cpu(
    opt: &Optimizer,
    t: u32,
    lr: f32,
    params: &mut [f32],
    grads: &[f32],
    s1: &mut [f32],
    s2: &mut [f32],
) {
    let wd = opt.weight_decay();
    if wd != 0.0 {
        // The same product as the kernel's, so both backends decay to the same bits.
        let k = wd * lr;
        for p in params.iter_mut() {
            *p -= *p * k;
        }
    }
    match *opt {
        Optimizer::Sgd { momentum: 0.0, .. } => {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= lr * g;
            }
        }
        Optimizer::Sgd { momentum, .. } => {
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(s1.iter_mut()) {
                *v = momentum * *v - lr * g;
                *p += *v;
            }
        }
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => {
            let tf = t as f32;
            let alpha = lr * (1.0 - beta2.powf(tf)).sqrt() / (1.0 - beta1.powf(tf));
            for (((p, &g), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(s1.iter_mut())
                .zip(s2.iter_mut())
            {
                *m += (g - *m) * (1.0 - beta1);
                *v += (g * g - *v) * (1.0 - beta2);
                *p -= (*m * alpha) / (v.sqrt() + eps);
            }
        }
        Optimizer::Rmsprop { rho, eps, .. } => {
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(s1.iter_mut()) {
                *v = rho * *v + (1.0 - rho) * (g * g);
                *p -= (lr * g) / (*v + eps).sqrt();
            }
        }
    }
}

/// The entry point of `opt` and its parameters for `n` values.
fn kernel_params(opt: &Optimizer, n: u32) -> (&'static str, Params) {
    let p = |a: f32, b: f32, eps: f32| Params {
        n,
        a,
        b,
        eps,
        wd: opt.weight_decay(),
        _pad: [0; 3],
    };
    match *opt {
        Optimizer::Sgd { momentum: 0.0, .. } => ("sgd", p(0.0, 0.0, 0.0)),
        Optimizer::Sgd { momentum, .. } => ("sgd_momentum", p(momentum, 0.0, 0.0)),
        Optimizer::Adam {
            beta1, beta2, eps, ..
        } => ("adam", p(beta1, beta2, eps)),
        Optimizer::Rmsprop { rho, eps, .. } => ("rmsprop", p(rho, 0.0, eps)),
    }
}

/// One update of the whole flat `params` buffer from `grads` (same length). lr and t come from the
/// `step` record. `s1` (and `s2` for Adam) must have the parameters' length when used; unused ones
/// may be 1-element dummies and are not bound. `s1` and `s2` must be different buffers or ranges.
pub fn update(
    ctx: &GpuContext,
    opt: &Optimizer,
    params: &GpuTensor,
    grads: &GpuTensor,
    s1: &GpuTensor,
    s2: &GpuTensor,
    step: &GpuTensor,
) -> Result<Dispatch> {
    opt.validate()?;
    let n = params.len;
    if n == 0 {
        bail!("optimizer: empty parameter buffer");
    }
    if n > u32::MAX as usize {
        bail!("optimizer: {n} parameters do not fit 32-bit indexing");
    }
    if grads.len != n {
        bail!(
            "optimizer: gradients have {} elements, parameters {n}",
            grads.len
        );
    }
    let states = opt.state_buffers();
    if states >= 1 && s1.len != n {
        bail!(
            "optimizer: first state buffer has {} elements, parameters {n}",
            s1.len
        );
    }
    if states >= 2 && s2.len != n {
        bail!(
            "optimizer: second state buffer has {} elements, parameters {n}",
            s2.len
        );
    }
    if step.len < STEP_WORDS {
        bail!(
            "optimizer: step record has {} words, expected {STEP_WORDS}",
            step.len
        );
    }
    let (entry, p) = kernel_params(opt, n as u32);
    ctx.dispatch_1d(
        SHADER,
        entry,
        bytemuck::bytes_of(&p),
        &[
            ("step", step),
            ("grads", grads),
            ("params", params),
            ("s1", s1),
            ("s2", s2),
        ],
        n,
    )
}

pub const CHECK: OpCheck = OpCheck {
    op: "optim",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// Every kernel (plain and momentum SGD, Adam, RMSprop), with and without decoupled weight decay,
/// each with a learning rate of its kind's usual size.
fn check_optimizers() -> [(Optimizer, f32); 6] {
    let momentum = |weight_decay| Optimizer::Sgd {
        momentum: 0.9,
        weight_decay,
    };
    [
        (Optimizer::sgd(), 0.05),
        (momentum(0.0), 0.05),
        (Optimizer::adam(), 0.001),
        (Optimizer::rmsprop(), 0.001),
        (Optimizer::adam().with_weight_decay(0.004), 0.001),
        (momentum(0.1), 0.05),
    ]
}

/// Parameter counts: one, and an odd count past several workgroups.
const CHECK_SIZES: [usize; 2] = [1, 34_826];
/// Steps per case: Adam's bias correction and the slots' carry show after the first.
const CHECK_STEPS: u32 = 3;

fn checks(env: &Env, out: Sink) -> Result<()> {
    for (opt, lr) in check_optimizers() {
        for n in CHECK_SIZES {
            check_one(env.ctx, (&opt, lr), n, out)?;
        }
    }
    Ok(())
}

/// `CHECK_STEPS` updates on both sides, the learning rate changing every step through the step
/// record; the parameters and every slot compared after the last.
fn check_one(
    ctx: &GpuContext,
    (opt, base_lr): (&Optimizer, f32),
    n: usize,
    out: Sink,
) -> Result<()> {
    let slots = opt.state_buffers();
    let mut p = rand_vec(n as u64, n);
    let (mut s1, mut s2) = (vec![0f32; n], vec![0f32; n]);
    let gp = ctx.tensor(&p, "params")?;
    let gg = ctx.alloc(n, "grads")?;
    let gs1 = ctx.alloc(if slots >= 1 { n } else { 1 }, "s1")?;
    let gs2 = ctx.alloc(if slots >= 2 { n } else { 1 }, "s2")?;
    let gstep = ctx.alloc(STEP_WORDS, "step")?;
    let mut ms = 0.0;
    for t in 1..=CHECK_STEPS {
        let lr = base_lr * (1.0 - 0.1 * t as f32);
        let g = rand_vec(1000 * t as u64 + n as u64, n);
        ctx.write(&gg, &g)?;
        let step = StepParams {
            batch: 1,
            t,
            lr,
            ..Default::default()
        };
        ctx.write(&gstep, &[step])?;
        let d = update(ctx, opt, &gp, &gg, &gs1, &gs2, &gstep)?;
        ms += timed(ctx, &[&d])?;
        update_cpu(opt, t, lr, &mut p, &g, &mut s1, &mut s2);
    }
    let mut got = ctx.read_f32(&gp)?;
    let mut want = p;
    for (slot, gpu, cpu) in [(1, &gs1, &s1), (2, &gs2, &s2)] {
        if slots >= slot {
            got.extend(ctx.read_f32(gpu)?);
            want.extend(cpu);
        }
    }
    let (entry, _) = kernel_params(opt, n as u32);
    out(Output {
        kernel: format!("{SHADER}::{entry}"),
        shape: format!(
            "{n} parameters, {CHECK_STEPS} steps, weight decay {}: params and {slots} slots",
            opt.weight_decay()
        ),
        got,
        want,
        ms,
    });
    Ok(())
}
