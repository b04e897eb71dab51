//! A convolution followed by a max pooling, fused on the CPU backend when the pooling's windows
//! tile the rows (`ops::cpu::conv_pool`): the graph runs this one pass for the two ops, forward
//! and backward, with the same results as the two ops' own passes. The convolution's output
//! activation stays empty (nothing reads it); the pooling keeps its argmax as its own pass would.
//! The GPU graph runs the two ops unfused. Tests: crates/engine/tests/ops_cpu_conv.rs (the kernel) and
//! crates/engine/tests/graph_step.rs (whole steps).

use super::conv2d::cpu_conv_grads;
use super::{CpuCx, Mode};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::cpu;
use crate::ops::elementwise::{self, Act};
use crate::ops::pool::{self, PoolShape};

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

    /// The pooled output and the argmax (what the pooling op keeps).
    pub fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, Vec<u32>) {
        let mut y = cx.floats.take(self.pool.y_len());
        let mut arg = cx.indices.take(self.pool.y_len());
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        cpu::conv_pool::forward_into(&self.s, &self.pool, x, w, b, self.act, &mut y, &mut arg);
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
        if !need_dx && cpu::conv_direct::applies(&self.s) {
            // A first layer: its weight gradient straight from the pooled gradient.
            let (dw, db) =
                cpu::conv_direct::weight_grad_pooled(&self.s, &self.pool, x, &dy, &argmax);
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
}
