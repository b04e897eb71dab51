//! Column sums (bias gradients). Kernel: `shaders/reduce.wgsl`; tests: `crates/engine/tests/ops_reduce.rs`.

use bytemuck::{Pod, Zeroable};

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use crate::error::{Error, Result};
use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

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
    let d = ctx.dispatch(
        "reduce",
        "col_sum",
        bytemuck::bytes_of(&p),
        &[("x", x), ("out", out)],
        [cols as u32, 1, 1],
    )?;
    // One workgroup per column strides its rows WG at a time, then halves its partial sums.
    let wg = d.cost.workgroup.max(1) as usize;
    let work = Work {
        serial: (rows.div_ceil(wg) + wg.ilog2() as usize) as u64,
        loads: 1,
        flops: (rows * cols) as u64,
        ..Work::default()
    };
    Ok(d.with_work(work))
}

/// The checks of `wgnn check` and the tests: column sums of one value, of a dense layer's bias
/// gradient, and of a long column.
pub const CHECK: OpCheck = OpCheck {
    op: "reduce",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// (rows, cols).
const CHECK_CASES: [(usize, usize); 3] = [(1, 1), (130, 10), (1000, 33)];

fn checks(env: &Env, out: Sink) -> Result<()> {
    let ctx = env.ctx;
    for (rows, cols) in CHECK_CASES {
        let x = rand_vec(rows as u64, rows * cols);
        let gx = ctx.tensor(&x, "x")?;
        let go = nan_tensor(ctx, cols, "out")?;
        let d = col_sum(ctx, rows, cols, &gx, &go)?;
        let ms = timed(ctx, &[&d])?;
        out(Output {
            kernel: "reduce::col_sum".into(),
            shape: format!("{rows} x {cols}"),
            got: ctx.read_f32(&go)?,
            want: col_sum_cpu(rows, cols, &x),
            ms,
        });
    }
    Ok(())
}
