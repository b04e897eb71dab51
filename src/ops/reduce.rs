//! Column sums (bias gradients). Kernel: `shaders/reduce.wgsl`; tests: `tests/ops_reduce.rs`.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

/// out[c] = sum over r of x[r * cols + c], summed in row order.
pub fn col_sum_cpu(rows: usize, cols: usize, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; cols];
    for row in x.chunks_exact(cols).take(rows) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    out
}

pub fn col_sum(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    x: &GpuTensor,
    out: &GpuTensor,
) -> Result<Dispatch> {
    if rows == 0 || cols == 0 || x.len < rows * cols || out.len < cols {
        return Err(Error::Msg(format!(
            "col_sum: [{rows}, {cols}] over tensors of {} and {} elements",
            x.len, out.len
        )));
    }
    let p = Params {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
    };
    ctx.dispatch(
        "reduce",
        "col_sum",
        bytemuck::bytes_of(&p),
        &[("x", x), ("out", out)],
        [cols as u32, 1, 1],
    )
}
