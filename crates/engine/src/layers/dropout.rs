//! Dropout (Keras semantics: inverted dropout, identity at evaluation). The mask of each step
//! comes from a counter-based hash of the seed, the step and the layer, so both backends draw the
//! same one. CPU and GPU: `ops::dropout` (`shaders/dropout.wgsl`). Tests: `crates/engine/tests/ops_dropout.rs`.

use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, LayerKind, MemoryCx, Op, Res, TomlOut};
use crate::error::Result;
use crate::onnx::{OnnxBuilder, OnnxCx};
use crate::ops::dropout;
use crate::runtime::GpuTensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub rate: f32,
}

impl LayerKind for Dropout {
    const CLASS: &'static str = "Dropout";
    const BASE_NAME: &'static str = "dropout";
    const TOML_TYPES: &'static [&'static str] = &["dropout"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        let rate = f
            .f32_opt("rate")?
            .ok_or_else(|| "missing field \"rate\"".to_string())?;
        Ok(Dropout { rate })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        out.float("rate", self.rate);
    }

    /// Nothing: dropout is the identity at inference.
    fn to_onnx(&self, _g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        Ok(cx.x.clone())
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        let rate = self.rate;
        if !(rate.is_finite() && (0.0..1.0).contains(&rate)) {
            return Err(format!("dropout rate {rate} must be in [0, 1)"));
        }
        let op = DropoutOp {
            rate,
            stream: cx.index as u32,
        };
        Ok(Built::new(cx.input.to_vec(), op))
    }
}

#[derive(Debug)]
struct DropoutOp {
    rate: f32,
    /// Separates this layer's masks from the other dropout layers' (the layer's index).
    stream: u32,
}

impl Op for DropoutOp {
    /// The step's mask (0 or 1 / (1 - rate) per element); empty at evaluation.
    type CpuSaved = Vec<f32>;
    type GpuSaved = GpuTensor;

    fn describe(&self) -> String {
        format!("dropout {}", self.rate)
    }

    fn memory(&self, m: &mut MemoryCx) {
        let what = format!("{}: dropout mask ({}x{})", m.layer, m.batch, m.out);
        m.push(what, 4 * (m.batch * m.out) as u64, 1);
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], mode: Mode) -> (Vec<f32>, Vec<f32>) {
        if mode == Mode::Eval {
            return (cx.copy(x), Vec::new());
        }
        let mut mask = cx.floats.take(x.len());
        dropout::mask_into(cx.isa, self.rate, (cx.seed, cx.t, self.stream), &mut mask);
        let mut y = cx.floats.take(x.len());
        dropout::forward_into(x, &mask, &mut y);
        (y, mask)
    }

    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        _x: &[f32],
        _y: &[f32],
        mask: Vec<f32>,
        mut g: Vec<f32>,
        _need_dx: bool,
    ) -> Vec<f32> {
        dropout::backward_in_place(&mut g, &mask);
        cx.floats.give(mask);
        g
    }

    fn cpu_discard(&self, cx: &mut CpuCx, mask: Vec<f32>) {
        cx.floats.give(mask);
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        mode: Mode,
    ) -> Result<(GpuTensor, Option<GpuTensor>)> {
        if mode == Mode::Eval {
            return Ok((x.clone(), None));
        }
        let (y, mask) = (cx.output()?, cx.buffer("mask", x.len)?);
        cx.push(dropout::forward(
            cx.ctx,
            x.len,
            self.rate,
            self.stream,
            x,
            cx.step,
            &y,
            &mask,
        )?);
        Ok((y, Some(mask)))
    }

    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        _io: (&GpuTensor, &GpuTensor),
        mask: &GpuTensor,
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        if !need_dx {
            return Ok(None);
        }
        let dx = cx.input_grad()?;
        cx.push(dropout::backward(cx.ctx, dy.len, dy, mask, &dx)?);
        Ok(Some(dx))
    }
}
