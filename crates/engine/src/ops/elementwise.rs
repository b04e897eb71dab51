//! Activations (ReLU, sigmoid, tanh, ELU, leaky ReLU) forward and backward, and fill. Kernels:
//! `shaders/elementwise.wgsl`, with the activations themselves in `shaders/prelude/activate.wgsl`
//! (Conv2D and Dense fuse them into their epilogues); tests: `crates/engine/tests/ops_elementwise.rs`,
//! `crates/engine/tests/ops_activation.rs`.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use crate::error::Result;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

const SHADER: &str = "elementwise";

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    value: f32,
    act: u32,
    _pad: u32,
}

fn params(n: usize, value: f32, act: Act) -> Params {
    Params {
        n: n as u32,
        value,
        act: act.code(),
        _pad: 0,
    }
}

/// An activation as the kernels apply it after their sums (the fused epilogues of Conv2D and
/// Dense, and the elementwise passes). The final softmax is not one: the loss applies it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// `alpha * (e^x - 1)` below 0.
    Elu(f32),
    /// `alpha * x` below 0.
    LeakyRelu(f32),
}

/// `true` is ReLU and `false` linear, as the kernels' `relu` flag once was.
impl From<bool> for Act {
    fn from(relu: bool) -> Act {
        if relu {
            Act::Relu
        } else {
            Act::Linear
        }
    }
}

impl Act {
    /// The code `activate` in `shaders/prelude/activate.wgsl` switches on.
    pub fn code(self) -> u32 {
        match self {
            Act::Linear => 0,
            Act::Relu => 1,
            Act::Sigmoid => 2,
            Act::Tanh => 3,
            Act::Elu(_) => 4,
            Act::LeakyRelu(_) => 5,
        }
    }

    pub fn alpha(self) -> f32 {
        match self {
            Act::Elu(a) | Act::LeakyRelu(a) => a,
            _ => 0.0,
        }
    }

    /// The activation of `x`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Linear => x,
            Act::Relu => x.max(0.0),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
        }
    }

    /// The gradient before the activation, from its output `y` and the gradient `g` after it
    /// (every activation here is monotonic with `y > 0` exactly where `x > 0`, for alpha >= 0).
    #[inline]
    pub fn grad(self, y: f32, g: f32) -> f32 {
        match self {
            Act::Linear => g,
            Act::Relu => {
                if y > 0.0 {
                    g
                } else {
                    0.0
                }
            }
            Act::Sigmoid => g * y * (1.0 - y),
            Act::Tanh => g * (1.0 - y * y),
            Act::Elu(a) => {
                if y > 0.0 {
                    g
                } else {
                    g * (y + a)
                }
            }
            Act::LeakyRelu(a) => {
                if y > 0.0 {
                    g
                } else {
                    g * a
                }
            }
        }
    }
}

/// The activation of each element, one at a time (the oracle for the kernels).
pub fn act_forward_ref(a: Act, x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| a.apply(v)).collect()
}

/// The gradient before the activation, from its output `y` and `dy`, one element at a time.
pub fn act_backward_ref(a: Act, y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(&y, &g)| a.grad(y, g)).collect()
}

/// The CPU backend's activation of `y`, in place and in parallel.
pub fn act_forward_in_place(a: Act, y: &mut [f32]) {
    match a {
        Act::Linear => {}
        Act::Relu => apply_each(y, |x| x.max(0.0)),
        Act::Sigmoid => apply_each(y, |x| Act::Sigmoid.apply(x)),
        Act::Tanh => apply_each(y, |x| Act::Tanh.apply(x)),
        Act::Elu(alpha) => apply_each(y, move |x| Act::Elu(alpha).apply(x)),
        Act::LeakyRelu(alpha) => apply_each(y, move |x| Act::LeakyRelu(alpha).apply(x)),
    }
}

/// `y = f(y)` element by element, in parallel; generic so that each activation gets its own
/// loop, compiled (and vectorised) without a branch on the kind inside it.
fn apply_each(y: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    y.par_chunks_mut(CHUNK).for_each(|y| {
        for v in y {
            *v = f(*v);
        }
    });
}

/// The CPU backend's activation gradient, overwriting `g` (the gradient after it); `y` is the
/// activation's output.
pub fn act_backward_in_place(a: Act, y: &[f32], g: &mut [f32]) {
    assert_eq!(y.len(), g.len(), "activation backward: lengths");
    match a {
        Act::Linear => {}
        Act::Relu => relu_backward_in_place(y, g),
        Act::Sigmoid => grad_each(y, g, |y, g| Act::Sigmoid.grad(y, g)),
        Act::Tanh => grad_each(y, g, |y, g| Act::Tanh.grad(y, g)),
        Act::Elu(alpha) => grad_each(y, g, move |y, g| Act::Elu(alpha).grad(y, g)),
        Act::LeakyRelu(alpha) => grad_each(y, g, move |y, g| Act::LeakyRelu(alpha).grad(y, g)),
    }
}

/// `g = f(y, g)` element by element, in parallel; generic so that each `f` gets its own loop.
fn grad_each(y: &[f32], g: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    g.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(g, y)| {
            for (g, &y) in g.iter_mut().zip(y) {
                *g = f(y, *g);
            }
        });
}

pub fn relu_forward_ref(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    relu_forward_into(x, &mut y);
    y
}

/// `relu_forward_ref` into `y` (contents ignored).
pub fn relu_forward_into(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "relu: lengths");
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x.max(0.0);
            }
        });
}

/// `y` is the forward output; the gradient passes where it is positive.
pub fn relu_backward_ref(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut g = dy.to_vec();
    relu_backward_in_place(y, &mut g);
    g
}

/// `relu_backward_ref` overwriting `dy` with the result (the CPU backend owns its gradients).
pub fn relu_backward_in_place(y: &[f32], dy: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "relu backward: lengths");
    dy.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .for_each(|(g, y)| {
            for (g, &y) in g.iter_mut().zip(y) {
                *g = if y > 0.0 { *g } else { 0.0 };
            }
        });
}

/// Elements per parallel task in the CPU loops: big enough to amortise the task.
const CHUNK: usize = 1 << 14;

/// `y = relu(x)`.
pub fn relu_forward(ctx: &GpuContext, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    act_forward(ctx, Act::Relu, x, y)
}

/// The ReLU's input gradient; `dx` may alias nothing, `y` is the forward output.
pub fn relu_backward(
    ctx: &GpuContext,
    y: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    act_backward(ctx, Act::Relu, y, dy, dx)
}

/// `y = a(x)`.
pub fn act_forward(ctx: &GpuContext, a: Act, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    let p = params(x.len, a.alpha(), a);
    ctx.dispatch_1d(
        SHADER,
        "act_forward",
        bytemuck::bytes_of(&p),
        &[("x", x), ("y", y)],
        x.len,
    )
}

/// The gradient before activation `a` from its output `y` and `dy`; `dx` may alias nothing.
pub fn act_backward(
    ctx: &GpuContext,
    a: Act,
    y: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    let p = params(y.len, a.alpha(), a);
    ctx.dispatch_1d(
        SHADER,
        "act_backward",
        bytemuck::bytes_of(&p),
        &[("x", y), ("dy", dy), ("y", dx)],
        y.len,
    )
}

pub fn fill(ctx: &GpuContext, t: &GpuTensor, value: f32) -> Result<Dispatch> {
    let p = params(t.len, value, Act::Linear);
    ctx.dispatch_1d(SHADER, "fill", bytemuck::bytes_of(&p), &[("y", t)], t.len)
}

/// The checks of `wgnn check` and the tests: fill, and ReLU forward and backward, over one value,
/// a few workgroups, and a long tail.
pub const CHECK: OpCheck = OpCheck {
    op: "elementwise",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

const CHECK_LENGTHS: [usize; 3] = [1, 1000, 70_001];

fn checks(env: &Env, out: Sink) -> Result<()> {
    for n in CHECK_LENGTHS {
        check_one(env.ctx, n, out)?;
    }
    Ok(())
}

fn check_one(ctx: &GpuContext, n: usize, out: Sink) -> Result<()> {
    let x = rand_vec(n as u64, n);
    let dy = rand_vec(n as u64 + 1, n);
    let (gx, gdy) = (ctx.tensor(&x, "x")?, ctx.tensor(&dy, "dy")?);
    let gy = nan_tensor(ctx, n, "y")?;
    let gdx = nan_tensor(ctx, n, "dx")?;
    let gfill = nan_tensor(ctx, n, "filled")?;
    let d = fill(ctx, &gfill, 0.25)?;
    let ms = timed(ctx, &[&d])?;
    out(Output {
        kernel: "elementwise::fill".into(),
        shape: format!("{n} values"),
        got: ctx.read_f32(&gfill)?,
        want: vec![0.25; n],
        ms,
    });
    let f = relu_forward(ctx, &gx, &gy)?;
    let b = relu_backward(ctx, &gy, &gdy, &gdx)?;
    let ms = timed(ctx, &[&f, &b])?;
    let y = relu_forward_ref(&x);
    let mut got = ctx.read_f32(&gy)?;
    got.extend(ctx.read_f32(&gdx)?);
    let mut want = y.clone();
    want.extend(relu_backward_ref(&y, &dy));
    out(Output {
        kernel: "elementwise::relu_forward + relu_backward".into(),
        shape: format!("{n} values"),
        got,
        want,
        ms,
    });
    Ok(())
}
