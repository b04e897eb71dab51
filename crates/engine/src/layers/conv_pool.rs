//! A convolution followed by a max pooling, as one pass for the two ops on both backends, with
//! the bits of the two ops' own passes.
//! - CPU, when the pooling's windows tile the rows (`ops::cpu::conv_pool`): the convolution's
//!   output activation stays empty (nothing reads it); the pooling keeps its argmax.
//! - GPU, always: when the convolution's forward splits its taps, the pooling reads the slabs and
//!   the convolution's output is never written (`pool::forward_slabs`); backward, the pooling's
//!   scatter applies the activation's gradient (`pool::backward_act`), so the convolution's
//!   gradients read one tensor made in one pass.
//!
//! Tests: crates/engine/tests/ops_cpu_conv.rs (the CPU kernel), the pool checks (the fused GPU
//! entry points) and crates/engine/tests/graph_step.rs (whole steps).

use super::conv2d::{cpu_conv_grads, gpu_conv_grads};
use super::{CpuCx, GpuCx, Mode};
use crate::error::Result;
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::cpu;
use crate::ops::elementwise::{self, Act};
use crate::ops::pool::{self, ConvSlabs, PoolShape};
use crate::ops::{Threads, Variant};
use crate::runtime::GpuTensor;

/// A convolution (shape, activation, parameter indices) and the max pooling after it.
#[derive(Debug)]
pub struct ConvMaxPool {
    pub(super) s: Conv2dShape,
    pub(super) act: Act,
    pub(super) w: usize,
    pub(super) b: usize,
    pub(super) pool: PoolShape,
}

impl ConvMaxPool {
    /// For profiles: "conv 3x3 1->32 + maxpool 2x2".
    pub fn describe(&self) -> String {
        let (s, p) = (&self.s, &self.pool);
        format!(
            "conv {}x{} {}->{} + maxpool {}x{}",
            s.kh, s.kw, s.cin, s.cout, p.ph, p.pw
        )
    }

    /// Whether the CPU backend runs the pair as one pass (`ops::cpu::conv_pool`).
    pub fn fuses_on_cpu(&self) -> bool {
        cpu::conv_pool::fusable(&self.s, &self.pool)
    }

    /// The pooled output and the argmax (what the pooling op keeps).
    pub fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, Vec<u32>) {
        let mut y = cx.floats.take(self.pool.y_len());
        let mut arg = cx.indices.take(self.pool.y_len());
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        let pair = (&self.s, &self.pool);
        cpu::conv_pool::forward_into(cx.isa, pair, x, w, b, self.act, &mut y, &mut arg);
        (y, arg)
    }

    /// The convolution's input gradient from the pooled output's, adding the convolution's
    /// parameter gradients: the activation's gradient at the argmax (where the activation's value
    /// is the pooled one), the pooling's scatter, then the convolution's backward pass.
    #[allow(clippy::too_many_arguments)]
    pub fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        y: &[f32],
        argmax: Vec<u32>,
        mut dy: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32> {
        elementwise::act_backward_in_place(self.act, y, &mut dy);
        if !need_dx && cpu::conv_direct::applies(cx.isa, &self.s) {
            // A first layer: its weight gradient straight from the pooled gradient.
            let (dw, db) =
                cpu::conv_direct::weight_grad_pooled(cx.isa, &self.s, &self.pool, x, &dy, &argmax);
            (cx.grads[self.w], cx.grads[self.b]) = (dw, db);
            cx.floats.give(dy);
            cx.indices.give(argmax);
            return Vec::new();
        }
        let mut g = cx.floats.take(self.s.y_len());
        pool::backward_into(&self.pool, &dy, &argmax, &mut g);
        cx.floats.give(dy);
        cx.indices.give(argmax);
        cpu_conv_grads(cx, &self.s, (self.w, self.b), x, g, need_dx)
    }

    /// Records the pair's forward pass: the pooled output and its argmax, in `cx`'s buffers (the
    /// pair's context: the convolution's input, the pooling's output).
    pub fn gpu_forward(&self, cx: &mut GpuCx, x: &GpuTensor) -> Result<(GpuTensor, GpuTensor)> {
        let y = cx.output()?;
        let argmax = cx.buffer("argmax", self.pool.y_len())?;
        let params = cx.params;
        let (w, b) = (&params[self.w], &params[self.b]);
        let spread = (Variant::for_ctx(cx.ctx), Threads::for_ctx(cx.ctx));
        match conv2d::forward_parts_by(cx.ctx, spread, &self.s, [x, w, b])? {
            Some((parts, slabs, splits)) => {
                let conv = ConvSlabs {
                    slabs: &slabs,
                    splits,
                    bias: b,
                    act: self.act,
                };
                let pooled = pool::forward_slabs(cx.ctx, &self.pool, conv, &y, &argmax)?;
                cx.push_all(vec![parts, pooled]);
            }
            None => self.gpu_forward_whole(cx, [x, w, b], [&y, &argmax])?,
        }
        Ok((y, argmax))
    }

    /// The pair's forward pass when the convolution does not split: one pass for the first
    /// layer's shape, else the convolution's output written and then pooled.
    fn gpu_forward_whole(
        &self,
        cx: &mut GpuCx,
        [x, w, b]: [&GpuTensor; 3],
        [y, argmax]: [&GpuTensor; 2],
    ) -> Result<()> {
        let variant = Variant::for_ctx(cx.ctx);
        let io = [x, w, b];
        match conv2d::forward_pool_by(
            cx.ctx,
            variant,
            &self.s,
            io,
            &self.pool,
            self.act,
            [y, argmax],
        )? {
            Some(d) => cx.push(d),
            None => {
                let conv_y = cx.buffer("convolution output", self.s.y_len())?;
                cx.push_all(conv2d::forward(
                    cx.ctx, &self.s, x, w, b, &conv_y, self.act,
                )?);
                cx.push(pool::forward(cx.ctx, &self.pool, &conv_y, y, argmax)?);
            }
        }
        Ok(())
    }

    /// Records the pair's backward pass from the pooled output `y`'s gradient `dy`: the
    /// convolution's parameter gradients, and its input gradient when `need_dx`.
    pub fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        [x, y, argmax]: [&GpuTensor; 3],
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        let g = cx.buffer("convolution gradient", self.s.y_len())?;
        cx.push(pool::backward_act(
            cx.ctx,
            &self.pool,
            [dy, argmax, y],
            self.act,
            &g,
        )?);
        gpu_conv_grads(cx, &self.s, (self.w, self.b), x, &g, need_dx)
    }
}
