//! Dense (Keras semantics: kernel `[inputs, units]`, bias, an activation fused into the GEMM's
//! epilogue). CPU: the packed GEMM (`ops::cpu::gemm`); GPU: `ops::gemm` (`shaders/gemm.wgsl`) and
//! the bias gradient's column sum (`ops::reduce`). Tests: `crates/engine/tests/ops_gemm.rs`,
//! `crates/engine/tests/ops_cpu_gemm.rs`, `crates/engine/tests/ops_reduce.rs`.

use super::activation::{self, Activation};
use super::build::{elements, mul, shape_str};
use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, Init, LayerKind, Op, Res, TomlOut};
use crate::error::Result;
use crate::onnx::{OnnxBuilder, OnnxCx};
use crate::ops::elementwise::{self, Act};
use crate::ops::gemm::{self, GemmShape};
use crate::ops::{cpu, reduce};
use crate::runtime::GpuTensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub units: usize,
    pub activation: Activation,
}

impl LayerKind for Dense {
    const CLASS: &'static str = "Dense";
    const BASE_NAME: &'static str = "dense";
    const TOML_TYPES: &'static [&'static str] = &["dense"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        Ok(Dense {
            units: f.usize_req("units")?,
            activation: Activation::from_fields(f, Some(Activation::Linear))?,
        })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        out.int("units", self.units);
        self.activation.to_fields(out);
    }

    /// Gemm (x · kernel + bias, the kernel as stored: `[inputs, units]`), then the activation.
    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        let name = cx.name;
        let wt = g.param(&format!("{name}.kernel"))?;
        let b = g.param(&format!("{name}.bias"))?;
        let y = g.node("Gemm", name, &[&cx.x, &wt, &b], vec![]);
        let act = format!("{name}_{}", self.activation);
        Ok(self.activation.to_onnx_node(g, &act, y))
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        let Dense { units, activation } = *self;
        let inputs = match cx.input {
            [n] => *n,
            other => {
                return Err(format!(
                    "Dense needs a flat input but gets {}; add a Flatten layer before it",
                    shape_str(other)
                ))
            }
        };
        if units == 0 {
            return Err("units must be at least 1".into());
        }
        cx.check_activation(activation)?;
        mul(inputs, units, "weights")?
            .checked_add(units)
            .ok_or("parameter count overflows")?;
        for (what, dims) in [
            ("the kernel", [inputs, units]),
            ("the output", [cx.max_batch, units]),
            ("the input", [cx.max_batch, inputs]),
        ] {
            elements(&dims, what)?;
        }
        let shapes = GemmShape::dense(cx.max_batch, inputs, units);
        shapes.forward.validate().map_err(|e| e.to_string())?;
        let w = cx.param(
            "kernel",
            vec![inputs, units],
            Init::Glorot {
                fan_in: inputs,
                fan_out: units,
            },
        );
        let b = cx.param("bias", vec![units], Init::Zeros);
        let op = DenseOp {
            inputs,
            units,
            act: activation.fused(),
            w,
            b,
        };
        Ok(Built::new(vec![units], op))
    }

    fn is_softmax(&self) -> bool {
        self.activation == Activation::Softmax
    }
}

#[derive(Debug)]
struct DenseOp {
    inputs: usize,
    units: usize,
    act: Act,
    w: usize,
    b: usize,
}

impl DenseOp {
    /// Whether the GEMM's epilogue applies the activation (on the CPU it fuses only ReLU).
    fn fused_on_cpu(&self) -> bool {
        self.act == Act::Relu
    }

    fn shapes(&self, batch: usize) -> gemm::DenseGemms {
        GemmShape::dense(batch, self.inputs, self.units)
    }
}

impl Op for DenseOp {
    type CpuSaved = ();
    type GpuSaved = ();

    fn describe(&self) -> String {
        format!("dense {}->{}", self.inputs, self.units)
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, ()) {
        let gs = self.shapes(cx.max_batch).forward;
        let mut y = cx.floats.take(gs.m * gs.n);
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        cpu::gemm::gemm_into(cx.isa, &gs, (x, w), Some(b), self.fused_on_cpu(), &mut y);
        if !self.fused_on_cpu() {
            elementwise::act_forward_in_place(self.act, &mut y);
        }
        (y, ())
    }

    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        y: &[f32],
        _saved: (),
        mut g: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32> {
        elementwise::act_backward_in_place(self.act, y, &mut g);
        let shapes = self.shapes(cx.max_batch);
        cx.grads[self.w] = cpu::gemm::gemm(cx.isa, &shapes.weights, (x, &g), None, false);
        cx.grads[self.b] = reduce::col_sum_cpu(cx.max_batch, self.units, &g);
        let dx = if need_dx {
            let mut dx = cx.floats.take(x.len());
            let w = &cx.params[self.w];
            cpu::gemm::gemm_into(cx.isa, &shapes.input, (&g, w), None, false, &mut dx);
            dx
        } else {
            Vec::new()
        };
        cx.floats.give(g);
        dx
    }

    fn fused_act(&self) -> Act {
        self.act
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        _mode: Mode,
    ) -> Result<(GpuTensor, Option<()>)> {
        let y = cx.output()?;
        let gs = self.shapes(cx.batch).forward;
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        cx.push_all(gemm::matmul(cx.ctx, &gs, x, w, Some(b), &y, self.act)?);
        Ok((y, Some(())))
    }

    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        (x, y): (&GpuTensor, &GpuTensor),
        _saved: &(),
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        let g = activation::gpu_fused_grad(cx, self.act, y, dy)?;
        let shapes = self.shapes(cx.batch);
        let (dw, db) = (&cx.grads[self.w], &cx.grads[self.b]);
        cx.push_all(gemm::weight_grads(
            cx.ctx,
            &shapes.weights,
            [x, &g],
            [dw, db],
        )?);
        if !need_dx {
            return Ok(None);
        }
        let dx = cx.input_grad()?;
        cx.push_all(gemm::matmul(
            cx.ctx,
            &shapes.input,
            &g,
            &cx.params[self.w],
            None,
            &dx,
            false,
        )?);
        Ok(Some(dx))
    }
}
