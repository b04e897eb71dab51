//! Activation functions: the `Activation` layer, the `activation` (and `alpha`) fields Conv2D and
//! Dense read, and the backward step of the activations those two fuse into their kernels'
//! epilogues. The arithmetic is `ops::elementwise::Act` (`shaders/prelude/activate.wgsl`); tests:
//! `crates/engine/tests/ops_activation.rs`.

use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, LayerKind, Op, Res, TomlOut};
use crate::error::{Error, Result};
use crate::onnx::{Attr, OnnxBuilder, OnnxCx};
use crate::ops::elementwise::{self, Act};
use crate::runtime::GpuTensor;

/// Activation functions, with Keras' names and defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// `alpha * (e^x - 1)` below 0; Keras' alpha is 1.
    Elu(f32),
    /// `alpha * x` below 0; Keras' `activation="leaky_relu"` has alpha 0.2.
    LeakyRelu(f32),
    /// Only as the final activation (the loss applies it).
    Softmax,
}

const NAMES: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "elu",
    "leaky_relu",
    "softmax",
];

impl Activation {
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu(_) => "elu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Softmax => "softmax",
        }
    }

    /// The activation's `alpha`, for the two that have one.
    pub fn alpha(self) -> Option<f32> {
        match self {
            Activation::Elu(a) | Activation::LeakyRelu(a) => Some(a),
            _ => None,
        }
    }

    /// The same activation with `alpha` (an error for one that has none).
    pub fn with_alpha(self, alpha: f32) -> Res<Activation> {
        match self {
            Activation::Elu(_) => Ok(Activation::Elu(alpha)),
            Activation::LeakyRelu(_) => Ok(Activation::LeakyRelu(alpha)),
            a => Err(format!(
                "field \"alpha\" applies to elu and leaky_relu, not to {}",
                a.as_str()
            )),
        }
    }

    /// `activation` (default `default`) and `alpha` from a layer's table.
    pub fn from_fields(f: &mut Fields, default: Option<Activation>) -> Res<Activation> {
        let a = match (f.parsed::<Activation>("activation")?, default) {
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err("missing field \"activation\"".into()),
        };
        match f.f32_opt("alpha")? {
            Some(alpha) => a.with_alpha(alpha),
            None => Ok(a),
        }
    }

    /// The `activation` (and `alpha`) lines of a layer's table.
    pub fn to_fields(self, out: &mut TomlOut) {
        out.str("activation", self);
        if let Some(a) = self.alpha() {
            out.float("alpha", a);
        }
    }

    /// The activation's ONNX node over `x`, named `name`; `x` itself for a linear one. The final
    /// softmax, which the loss applies in training, is a Softmax node over the classes.
    pub(crate) fn to_onnx_node(self, g: &mut OnnxBuilder, name: &str, x: String) -> String {
        let (op, attrs) = match self {
            Activation::Linear => return x,
            Activation::Relu => ("Relu", vec![]),
            Activation::Sigmoid => ("Sigmoid", vec![]),
            Activation::Tanh => ("Tanh", vec![]),
            Activation::Elu(a) => ("Elu", vec![("alpha", Attr::Float(a))]),
            Activation::LeakyRelu(a) => ("LeakyRelu", vec![("alpha", Attr::Float(a))]),
            Activation::Softmax => ("Softmax", vec![("axis", Attr::Int(-1))]),
        };
        g.node(op, name, &[&x], attrs)
    }

    /// What a layer's kernels apply after their sums: the final softmax is left to the loss.
    pub(crate) fn fused(self) -> Act {
        match self {
            Activation::Linear | Activation::Softmax => Act::Linear,
            Activation::Relu => Act::Relu,
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Tanh => Act::Tanh,
            Activation::Elu(a) => Act::Elu(a),
            Activation::LeakyRelu(a) => Act::LeakyRelu(a),
        }
    }

    /// A layer's activation is valid there: softmax only at the end, alpha finite and not
    /// negative (the backward pass reads the sign of the output).
    pub(crate) fn check(self, last: bool) -> Res<()> {
        if self == Activation::Softmax && !last {
            return Err("softmax is only supported as the activation of the final layer".into());
        }
        match self.alpha() {
            Some(a) if !(a.is_finite() && a >= 0.0) => Err(format!(
                "{} alpha {a} must be a number of at least 0",
                self.as_str()
            )),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "elu" => Activation::Elu(1.0),
            "leaky_relu" => Activation::LeakyRelu(0.2),
            "softmax" => Activation::Softmax,
            _ => {
                return Err(Error::Msg(format!(
                    "unknown activation \"{s}\" (expected one of: {})",
                    NAMES.join(", ")
                )))
            }
        })
    }
}

impl LayerKind for Activation {
    const CLASS: &'static str = "Activation";
    const BASE_NAME: &'static str = "activation";
    const TOML_TYPES: &'static [&'static str] = &["activation"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        Activation::from_fields(f, None)
    }

    fn to_toml(&self, out: &mut TomlOut) {
        self.to_fields(out);
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        self.check(cx.last)?;
        Ok(Built::new(cx.input.to_vec(), ActivationOp(*self)))
    }

    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        Ok(self.to_onnx_node(g, cx.name, cx.x.clone()))
    }

    fn is_softmax(&self) -> bool {
        *self == Activation::Softmax
    }
}

/// Records the gradient before a fused activation into the buffer `into` gives; `dy` itself for
/// a linear one.
pub(crate) fn gpu_grad(
    cx: &mut GpuCx,
    a: Act,
    y: &GpuTensor,
    dy: &GpuTensor,
    into: impl FnOnce(&mut GpuCx) -> Result<GpuTensor>,
) -> Result<GpuTensor> {
    if a == Act::Linear {
        return Ok(dy.clone());
    }
    let g = into(cx)?;
    cx.push(elementwise::act_backward(cx.ctx, a, y, dy, &g)?);
    Ok(g)
}

/// The gradient before the activation a Conv2D or Dense kernel fused, in the op's own buffer;
/// `dy` itself when the op after applied it (`cx.dy_gated`).
pub(crate) fn gpu_fused_grad(
    cx: &mut GpuCx,
    a: Act,
    y: &GpuTensor,
    dy: &GpuTensor,
) -> Result<GpuTensor> {
    if cx.dy_gated {
        return Ok(dy.clone());
    }
    let len = dy.len;
    gpu_grad(cx, a, y, dy, |cx| cx.buffer("pre-activation gradient", len))
}

/// An activation on its own. A linear one, or the final softmax the loss applies, only renames
/// its input.
#[derive(Debug)]
struct ActivationOp(Activation);

impl Op for ActivationOp {
    type CpuSaved = ();
    type GpuSaved = ();

    fn describe(&self) -> String {
        self.0.as_str().to_string()
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, ()) {
        let y = match self.0.fused() {
            Act::Relu => {
                let mut y = cx.floats.take(x.len());
                elementwise::relu_forward_into(x, &mut y);
                y
            }
            a => {
                let mut y = cx.copy(x);
                elementwise::act_forward_in_place(a, &mut y);
                y
            }
        };
        (y, ())
    }

    fn cpu_backward(
        &self,
        _cx: &mut CpuCx,
        _x: &[f32],
        y: &[f32],
        _saved: (),
        mut dy: Vec<f32>,
        _need_dx: bool,
    ) -> Vec<f32> {
        elementwise::act_backward_in_place(self.0.fused(), y, &mut dy);
        dy
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        _mode: Mode,
    ) -> Result<(GpuTensor, Option<()>)> {
        let a = self.0.fused();
        if a == Act::Linear {
            return Ok((x.clone(), Some(())));
        }
        let y = cx.output()?;
        cx.push(elementwise::act_forward(cx.ctx, a, x, &y)?);
        Ok((y, Some(())))
    }

    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        (_x, y): (&GpuTensor, &GpuTensor),
        _saved: &(),
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        if !need_dx {
            return Ok(None);
        }
        gpu_grad(cx, self.0.fused(), y, dy, |cx| cx.input_grad()).map(Some)
    }
}
