//! A compiled layer: fixed shapes, parameter indices, and its passes on both backends.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::conv_pool::ConvMaxPool;
use super::cpu::CpuCx;
use super::gpu::GpuCx;
use crate::error::Result;
use crate::ops::elementwise::Act;
use crate::ops::pool::PoolShape;
use crate::runtime::GpuTensor;

/// Which pass a layer runs: training (dropout drops, batch norm uses the batch's statistics) or
/// inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// One buffer (or group of same-sized buffers) a backend keeps for a training step.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryItem {
    /// What it is, naming the layer: "layer 3 (dense): output activations (128x10)".
    pub what: String,
    /// Bytes of one buffer.
    pub bytes: u64,
    /// How many such buffers (an activation and its gradient: 2).
    pub count: u64,
}

/// One layer compiled for a batch size. The CPU passes are the backend's production code; the GPU
/// passes record dispatches once, which the graph then replays every step.
pub trait Op: fmt::Debug + Send + Sync + 'static {
    /// What the CPU forward pass keeps for the backward pass.
    type CpuSaved: Send + 'static;
    /// The GPU buffers the forward pass writes for the backward pass.
    type GpuSaved: 'static;

    /// A short description for profiles: "conv 3x3 32->64".
    fn describe(&self) -> String;

    /// Buffers the op needs besides its output and its gradient, for the memory check.
    fn memory(&self, _m: &mut MemoryCx) {}

    /// `y` for the padded batch `x`.
    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], mode: Mode) -> (Vec<f32>, Self::CpuSaved);

    /// `dx` from `dy` (train mode only), adding parameter gradients to `cx.grads`. An empty vector
    /// when `need_dx` is false and nothing needs it.
    #[allow(clippy::too_many_arguments)]
    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        y: &[f32],
        saved: Self::CpuSaved,
        dy: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32>;

    /// Hands back what an evaluation forward pass kept.
    fn cpu_discard(&self, _cx: &mut CpuCx, _saved: Self::CpuSaved) {}

    /// The max pooling this op is, for the op before it to fuse.
    fn max_pool(&self) -> Option<PoolShape> {
        None
    }

    /// The activation this op's kernels apply to its output (Linear: none), whose gradient the
    /// op after it may apply for it on the GPU.
    fn fused_act(&self) -> Act {
        Act::Linear
    }

    /// Whether this op's GPU backward pass applies `cx.act_before` to its input gradient.
    fn applies_act_before(&self) -> bool {
        false
    }

    /// This op followed by max pooling `p` as one pass, when the op can fuse it (each backend
    /// then asks the pair whether it fuses there).
    fn fuse_max_pool(&self, _p: &PoolShape) -> Option<ConvMaxPool> {
        None
    }

    /// Records the forward pass into `cx`'s list and returns the output tensor (`x` itself for an
    /// op that only renames its input) and, in train mode, what the backward pass reads.
    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        mode: Mode,
    ) -> Result<(GpuTensor, Option<Self::GpuSaved>)>;

    /// Records the backward pass; returns the input gradient (`dy` itself when it is the same),
    /// or None when `need_dx` is false.
    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        io: (&GpuTensor, &GpuTensor),
        saved: &Self::GpuSaved,
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>>;
}

/// [`Op`] with its saved state behind `Any`, so a plan can hold ops of every kind.
pub trait DynOp: fmt::Debug + Send + Sync {
    fn describe(&self) -> String;
    fn memory(&self, m: &mut MemoryCx);
    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], mode: Mode)
        -> (Vec<f32>, Box<dyn Any + Send>);
    #[allow(clippy::too_many_arguments)]
    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        y: &[f32],
        saved: Box<dyn Any + Send>,
        dy: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32>;
    fn cpu_discard(&self, cx: &mut CpuCx, saved: Box<dyn Any + Send>);
    fn max_pool(&self) -> Option<PoolShape>;
    fn fused_act(&self) -> Act;
    fn applies_act_before(&self) -> bool;
    fn fuse_max_pool(&self, p: &PoolShape) -> Option<ConvMaxPool>;
    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        mode: Mode,
    ) -> Result<(GpuTensor, Option<Box<dyn Any>>)>;
    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        io: (&GpuTensor, &GpuTensor),
        saved: &dyn Any,
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>>;
}

fn typed<T: 'static>(saved: Box<dyn Any + Send>) -> T {
    *saved
        .downcast::<T>()
        .expect("an op gets back the state its own forward pass saved")
}

impl<T: Op> DynOp for T {
    fn describe(&self) -> String {
        Op::describe(self)
    }
    fn memory(&self, m: &mut MemoryCx) {
        Op::memory(self, m)
    }
    fn cpu_forward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        mode: Mode,
    ) -> (Vec<f32>, Box<dyn Any + Send>) {
        let (y, saved) = Op::cpu_forward(self, cx, x, mode);
        (y, Box::new(saved))
    }
    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        y: &[f32],
        saved: Box<dyn Any + Send>,
        dy: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32> {
        Op::cpu_backward(self, cx, x, y, typed(saved), dy, need_dx)
    }
    fn cpu_discard(&self, cx: &mut CpuCx, saved: Box<dyn Any + Send>) {
        Op::cpu_discard(self, cx, typed(saved))
    }
    fn max_pool(&self) -> Option<PoolShape> {
        Op::max_pool(self)
    }
    fn fused_act(&self) -> Act {
        Op::fused_act(self)
    }
    fn applies_act_before(&self) -> bool {
        Op::applies_act_before(self)
    }
    fn fuse_max_pool(&self, p: &PoolShape) -> Option<ConvMaxPool> {
        Op::fuse_max_pool(self, p)
    }
    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        mode: Mode,
    ) -> Result<(GpuTensor, Option<Box<dyn Any>>)> {
        let (y, saved) = Op::gpu_forward(self, cx, x, mode)?;
        Ok((y, saved.map(|s| Box::new(s) as Box<dyn Any>)))
    }
    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        io: (&GpuTensor, &GpuTensor),
        saved: &dyn Any,
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        let saved = saved
            .downcast_ref::<T::GpuSaved>()
            .expect("an op gets back the buffers its own forward pass saved");
        Op::gpu_backward(self, cx, io, saved, dy, need_dx)
    }
}

/// A compiled layer in a plan.
#[derive(Clone, Debug)]
pub struct Node(pub Arc<dyn DynOp>);

impl std::ops::Deref for Node {
    type Target = dyn DynOp;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// What an op's [`Op::memory`] sees and adds to.
pub struct MemoryCx<'a> {
    /// "layer 3 (dense)", for the messages.
    pub layer: &'a str,
    pub batch: usize,
    /// Elements per sample of the op's output.
    pub out: usize,
    /// Whether the GPU graph is the one whose memory is estimated (it makes no im2col patches).
    pub arena: bool,
    pub items: &'a mut Vec<MemoryItem>,
}

impl MemoryCx<'_> {
    pub fn push(&mut self, what: String, bytes: u64, count: u64) {
        self.items.push(MemoryItem { what, bytes, count });
    }
}
