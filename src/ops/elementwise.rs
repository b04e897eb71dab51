//! ReLU and fill. Kernels: `shaders/elementwise.wgsl`; tests: `tests/ops_elementwise.rs`.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use crate::error::Result;
use crate::runtime::{grid_1d, Dispatch, GpuContext, GpuTensor};

const SHADER: &str = "elementwise";

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    value: f32,
    _pad: [u32; 2],
}

fn params(n: usize, value: f32) -> Params {
    Params {
        n: n as u32,
        value,
        _pad: [0; 2],
    }
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

pub fn relu_forward(ctx: &GpuContext, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    let p = params(x.len, 0.0);
    ctx.dispatch(
        SHADER,
        "relu_forward",
        bytemuck::bytes_of(&p),
        &[("x", x), ("y", y)],
        grid_1d(x.len, 256),
    )
}

/// `dx` may alias nothing; `y` is the forward output.
pub fn relu_backward(
    ctx: &GpuContext,
    y: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    let p = params(y.len, 0.0);
    ctx.dispatch(
        SHADER,
        "relu_backward",
        bytemuck::bytes_of(&p),
        &[("x", y), ("dy", dy), ("y", dx)],
        grid_1d(y.len, 256),
    )
}

pub fn fill(ctx: &GpuContext, t: &GpuTensor, value: f32) -> Result<Dispatch> {
    let p = params(t.len, value);
    ctx.dispatch(
        SHADER,
        "fill",
        bytemuck::bytes_of(&p),
        &[("y", t)],
        grid_1d(t.len, 256),
    )
}
