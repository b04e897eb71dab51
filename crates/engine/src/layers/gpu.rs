//! What an op's GPU recording sees: the context, the graph's tensors, and the list it adds
//! dispatches to. Buffers are made here once, when the graph is built.

use std::collections::HashMap;

use crate::error::Result;
use crate::ops::elementwise::Act;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

/// The GPU graph while it records one op's passes.
pub struct GpuCx<'a> {
    pub ctx: &'a GpuContext,
    /// Rows of every batch tensor (the compiled batch size).
    pub batch: usize,
    /// The step record (batch, t, seed, lr, ...), rewritten before every replayed step.
    pub step: &'a GpuTensor,
    pub params: &'a [GpuTensor],
    /// Parameter gradients (empty in a forward-only graph).
    pub grads: &'a [GpuTensor],
    pub stats: &'a [GpuTensor],
    /// Where the recorded dispatches go: the training step or the evaluation step.
    pub list: &'a mut Vec<Dispatch>,
    pub(crate) node: usize,
    /// Elements per sample of the op's input and output.
    pub(crate) in_len: usize,
    pub(crate) out_len: usize,
    pub(crate) buffers: &'a mut HashMap<(usize, &'static str), GpuTensor>,
    /// Backward: the activation of the op before, whose gradient this op applies to its input
    /// gradient (Linear: none), where it said it can ([`super::Op::applies_act_before`]).
    pub act_before: Act,
    /// Backward: whether the op after this one already applied this op's activation gradient
    /// to `dy`.
    pub dy_gated: bool,
}

impl GpuCx<'_> {
    /// The op's buffer called `name`: made on first use, then the same buffer for both the
    /// training and the evaluation step (and kept alive with the graph).
    pub fn buffer(&mut self, name: &'static str, len: usize) -> Result<GpuTensor> {
        if let Some(t) = self.buffers.get(&(self.node, name)) {
            return Ok(t.clone());
        }
        let t = self
            .ctx
            .alloc(len, &format!("layer {} {name}", self.node + 1))?;
        self.buffers.insert((self.node, name), t.clone());
        Ok(t)
    }

    /// The op's output for the whole batch.
    pub fn output(&mut self) -> Result<GpuTensor> {
        self.buffer("output", self.out_len * self.batch)
    }

    /// The gradient of the op's input for the whole batch.
    pub fn input_grad(&mut self) -> Result<GpuTensor> {
        self.buffer("input gradient", self.in_len * self.batch)
    }

    pub fn push(&mut self, d: Dispatch) {
        self.list.push(d);
    }

    /// Dispatches that run in this order.
    pub fn push_all(&mut self, d: Vec<Dispatch>) {
        self.list.extend(d);
    }
}
