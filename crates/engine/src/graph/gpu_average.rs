//! The GPU graph's moving average of its weights (`ops::ema`): an arena laid out as the
//! parameters' one, the averaging dispatch that ends every training step, and the swap that lets
//! the forward kernels, bound to the parameters, evaluate the average.

use super::backend::Tensors;
use crate::error::Result;
use crate::ops::ema::{self, Ema};
use crate::runtime::{Dispatch, GpuContext, GpuTensor};

pub(super) struct Average {
    all: GpuTensor,
    views: Vec<GpuTensor>,
    swap: Dispatch,
}

impl Average {
    /// An average starting at the weights in `params` (the arena `alloc_arena` made for `plens`),
    /// and the dispatch that moves it after each step's update.
    pub fn new(
        ctx: &GpuContext,
        (params, plens): (&GpuTensor, &[usize]),
        ema: Ema,
        step: &GpuTensor,
    ) -> Result<(Self, Dispatch)> {
        let (all, views) = ctx.alloc_arena(plens, "moving average")?;
        let update = ema::update(ctx, ema, params, &all, step)?;
        let swap = ema::swap(ctx, params, &all)?;
        // The weights were initialised on the GPU: the arena is copied whole, padding included.
        ctx.write(&all, &ctx.read_f32(params)?)?;
        Ok((Self { all, views, swap }, update))
    }

    pub fn read(&self, ctx: &GpuContext) -> Result<Tensors> {
        ctx.read_views(&self.all, &self.views)
    }

    /// The average set to `tensors` (one per parameter; the arena's padding stays zero, as the
    /// parameters' does).
    pub fn write(&self, ctx: &GpuContext, tensors: &[Vec<f32>]) -> Result<()> {
        for (t, v) in self.views.iter().zip(tensors) {
            ctx.write(t, v)?;
        }
        Ok(())
    }

    /// Exchanges the weights and the average (an involution).
    pub fn swap(&self, ctx: &GpuContext) -> Result<()> {
        ctx.run(&[&self.swap])
    }
}
