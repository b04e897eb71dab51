//! Conv2D (Keras semantics: NHWC input, kernel `[kh, kw, cin, cout]`, valid or same padding,
//! strides, an activation fused into the kernels' epilogue). CPU: implicit GEMM without patch
//! matrices (`ops::cpu::conv`); GPU: `ops::conv2d` (`shaders/conv2d_tiled.wgsl`,
//! `shaders/conv2d_blocked.wgsl`). Tests: `crates/engine/tests/ops_conv2d.rs`, `crates/engine/tests/ops_cpu_conv.rs`.

use super::activation::{self, Activation};
use super::build::mul;
use super::conv_pool::ConvMaxPool;
use super::Mode;
use super::{
    Build, Built, CpuCx, Fields, GpuCx, Init, LayerKind, MemoryCx, Op, Padding, Res, TomlOut,
};
use crate::error::Result;
use crate::onnx::{self, Attr, OnnxBuilder, OnnxCx};
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::cpu;
use crate::ops::elementwise::{self, Act};
use crate::ops::pool::PoolShape;
use crate::runtime::GpuTensor;

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2D {
    pub filters: usize,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
    pub activation: Activation,
}

impl LayerKind for Conv2D {
    const CLASS: &'static str = "Conv2D";
    const BASE_NAME: &'static str = "conv2d";
    const TOML_TYPES: &'static [&'static str] = &["conv2d"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        let filters = f.usize_req("filters")?;
        let kernel = f
            .pair_opt("kernel_size")?
            .ok_or_else(|| "missing field \"kernel_size\"".to_string())?;
        Ok(Conv2D {
            filters,
            kernel,
            strides: f.pair_opt("strides")?.unwrap_or([1, 1]),
            padding: f.parsed("padding")?.unwrap_or(Padding::Valid),
            activation: Activation::from_fields(f, Some(Activation::Linear))?,
        })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        out.int("filters", self.filters);
        out.pair("kernel_size", self.kernel);
        out.pair("strides", self.strides);
        out.str("padding", self.padding);
        self.activation.to_fields(out);
    }

    /// Conv with the kernel transposed to OIHW, strides and explicit pads (TensorFlow's same
    /// padding: the odd pixel at the bottom / right), then the fused activation.
    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        let [h, w, c] = onnx::image(cx.input)?;
        let [kh, kw] = self.kernel;
        let co = self.filters;
        let s = Conv2dShape::new(
            1,
            h,
            w,
            c,
            co,
            self.kernel,
            self.strides,
            self.padding == Padding::Same,
        )
        .map_err(|e| e.to_string())?;
        let name = cx.name;
        let (dims, k) = g.tensor(&format!("{name}.kernel"))?;
        if dims != [kh, kw, c, co] {
            return Err(format!(
                "kernel is {dims:?}, the layer needs [{kh}, {kw}, {c}, {co}]"
            ));
        }
        let mut oihw = vec![0f32; k.len()];
        for i in 0..kh {
            for j in 0..kw {
                for ci in 0..c {
                    for o in 0..co {
                        oihw[((o * c + ci) * kh + i) * kw + j] =
                            k[((i * kw + j) * c + ci) * co + o];
                    }
                }
            }
        }
        let wt = g.initializer(&format!("{name}.kernel_oihw"), &[co, c, kh, kw], &oihw);
        let b = g.param(&format!("{name}.bias"))?;
        let pads = onnx::pads(
            [h, w],
            self.kernel,
            self.strides,
            [s.oh, s.ow],
            [s.pad_top, s.pad_left],
        );
        let ints = |v: [usize; 2]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
        let y = g.node(
            "Conv",
            name,
            &[&cx.x, &wt, &b],
            vec![
                ("kernel_shape", ints(self.kernel)),
                ("strides", ints(self.strides)),
                ("dilations", ints([1, 1])),
                ("pads", Attr::Ints(pads)),
                ("group", Attr::Int(1)),
            ],
        );
        let act = format!("{name}_{}", self.activation);
        Ok(self.activation.to_onnx_node(g, &act, y))
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        let Conv2D {
            filters,
            kernel,
            strides,
            padding,
            activation,
        } = self.clone();
        let [h, w, c] = cx.image("Conv2D")?;
        if filters == 0 {
            return Err("filters must be at least 1".into());
        }
        if kernel[0] == 0 || kernel[1] == 0 {
            return Err(format!(
                "kernel {}x{} must be at least 1x1",
                kernel[0], kernel[1]
            ));
        }
        if strides[0] == 0 || strides[1] == 0 {
            return Err(format!(
                "strides {}x{} must be at least 1x1",
                strides[0], strides[1]
            ));
        }
        if padding == Padding::Valid && (kernel[0] > h || kernel[1] > w) {
            return Err(format!(
                "kernel {}x{} is larger than its {h}x{w} input",
                kernel[0], kernel[1]
            ));
        }
        cx.check_activation(activation)?;
        let weights = mul(
            mul(mul(kernel[0], kernel[1], "kernel")?, c, "kernel")?,
            filters,
            "kernel",
        )?;
        weights
            .checked_add(filters)
            .ok_or("parameter count overflows")?;
        let s = Conv2dShape::new(
            cx.max_batch,
            h,
            w,
            c,
            filters,
            kernel,
            strides,
            padding == Padding::Same,
        )
        .map_err(|e| e.to_string())?;
        let (fan_in, fan_out) = (kernel[0] * kernel[1] * c, kernel[0] * kernel[1] * filters);
        let wi = cx.param(
            "kernel",
            vec![kernel[0], kernel[1], c, filters],
            Init::Glorot { fan_in, fan_out },
        );
        let bi = cx.param("bias", vec![filters], Init::Zeros);
        let op = ConvOp {
            s,
            act: activation.fused(),
            w: wi,
            b: bi,
        };
        Ok(Built::new(vec![s.oh, s.ow, filters], op))
    }
}

#[derive(Debug)]
struct ConvOp {
    s: Conv2dShape,
    act: Act,
    w: usize,
    b: usize,
}

impl ConvOp {
    /// Whether the GEMM's epilogue applies the activation (on the CPU it fuses only ReLU).
    fn fused_on_cpu(&self) -> bool {
        self.act == Act::Relu
    }
}

impl Op for ConvOp {
    /// Nothing: the weight gradient reads the input in place.
    type CpuSaved = ();
    type GpuSaved = ();

    fn describe(&self) -> String {
        let s = &self.s;
        format!("conv {}x{} {}->{}", s.kh, s.kw, s.cin, s.cout)
    }

    fn memory(&self, m: &mut MemoryCx) {
        let floats = cpu::conv::padded_input_len(&self.s);
        if !m.arena && floats > 0 {
            // Same padding: the CPU passes read a zero-padded copy of the input.
            let s = &self.s;
            m.push(
                format!(
                    "{}: zero-padded input ({}x{}x{})",
                    m.layer,
                    s.n,
                    floats / s.n / s.cin,
                    s.cin
                ),
                floats as u64 * 4,
                1,
            );
        }
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, ()) {
        let s = &self.s;
        let mut y = cx.floats.take(s.y_len());
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        cpu::conv::forward_into(cx.isa, s, (x, w, b), self.fused_on_cpu(), &mut y);
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
        cpu_conv_grads(cx, &self.s, (self.w, self.b), x, g, need_dx)
    }

    fn fused_act(&self) -> Act {
        self.act
    }

    fn fuse_max_pool(&self, p: &PoolShape) -> Option<ConvMaxPool> {
        Some(ConvMaxPool {
            s: self.s,
            act: self.act,
            w: self.w,
            b: self.b,
            pool: *p,
        })
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        _mode: Mode,
    ) -> Result<(GpuTensor, Option<()>)> {
        let y = cx.output()?;
        let (w, b) = (&cx.params[self.w], &cx.params[self.b]);
        cx.push_all(conv2d::forward(cx.ctx, &self.s, x, w, b, &y, self.act)?);
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
        gpu_conv_grads(cx, &self.s, (self.w, self.b), x, &g, need_dx)
    }
}

/// The convolution's backward pass from `g`, the gradient before its activation: the parameter
/// gradients into `cx.grads` (`wb`: the kernel's and the bias' indices), and the input gradient
/// into `cx.input_grad()` when `need_dx`.
pub(super) fn gpu_conv_grads(
    cx: &mut GpuCx,
    s: &Conv2dShape,
    (w, b): (usize, usize),
    x: &GpuTensor,
    g: &GpuTensor,
    need_dx: bool,
) -> Result<Option<GpuTensor>> {
    let (dw, db) = (&cx.grads[w], &cx.grads[b]);
    cx.push_all(conv2d::backward_weights(cx.ctx, s, x, g, dw, db)?);
    if !need_dx {
        return Ok(None);
    }
    let dx = cx.input_grad()?;
    cx.push_all(conv2d::backward_input(cx.ctx, s, &cx.params[w], g, &dx)?);
    Ok(Some(dx))
}

/// The convolution's backward pass from `g`, the gradient after the activation's backward: the
/// parameter gradients into `cx.grads` (`wb`: the kernel's and the bias' indices), and `dx`
/// (empty unless `need_dx`). `g` goes back to the recycler.
pub(super) fn cpu_conv_grads(
    cx: &mut CpuCx,
    s: &Conv2dShape,
    (w, b): (usize, usize),
    x: &[f32],
    g: Vec<f32>,
    need_dx: bool,
) -> Vec<f32> {
    let (dw, db) = cpu::conv::backward_weights(cx.isa, s, x, &g);
    cx.grads[w] = dw;
    cx.grads[b] = db;
    let dx = if need_dx {
        let mut dx = cx.floats.take(x.len());
        cpu::conv::backward_input_into(cx.isa, s, &cx.params[w], &g, &mut dx);
        dx
    } else {
        Vec::new()
    };
    cx.floats.give(g);
    dx
}
