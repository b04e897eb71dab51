//! BatchNormalization over the last axis (Keras semantics: biased batch variance in training,
//! moving statistics at evaluation, momentum 0.99 and epsilon 0.001 by default). CPU and GPU:
//! `ops::batchnorm` (`shaders/batchnorm.wgsl`). Tests: `crates/engine/tests/ops_batchnorm.rs`.

use super::build::mul;
use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, Init, LayerKind, Op, Res, TomlOut};
use crate::error::Result;
use crate::onnx::{Attr, OnnxBuilder, OnnxCx};
use crate::ops::batchnorm::{self, BnShape};
use crate::runtime::GpuTensor;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub momentum: f32,
    pub epsilon: f32,
}

impl LayerKind for BatchNorm {
    const CLASS: &'static str = "BatchNormalization";
    const BASE_NAME: &'static str = "batch_normalization";
    const TOML_TYPES: &'static [&'static str] = &["batchnorm", "batch_normalization"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        Ok(BatchNorm {
            momentum: f.f32_opt("momentum")?.unwrap_or(0.99),
            epsilon: f.f32_opt("epsilon")?.unwrap_or(0.001),
        })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        out.float("momentum", self.momentum);
        out.float("epsilon", self.epsilon);
    }

    /// BatchNormalization over the channel axis (axis 1 in NCHW and in `[N, n]`) with the moving
    /// statistics and the layer's epsilon.
    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        let name = cx.name;
        let inputs = ["gamma", "beta", "moving_mean", "moving_variance"]
            .iter()
            .map(|t| g.param(&format!("{name}.{t}")))
            .collect::<Res<Vec<_>>>()?;
        let [gamma, beta, mean, var] = &inputs[..] else {
            unreachable!()
        };
        Ok(g.node(
            "BatchNormalization",
            name,
            &[&cx.x, gamma, beta, mean, var],
            vec![("epsilon", Attr::Float(self.epsilon))],
        ))
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        let BatchNorm { momentum, epsilon } = *self;
        if !(momentum.is_finite() && (0.0..1.0).contains(&momentum)) {
            return Err(format!("momentum {momentum} must be in [0, 1)"));
        }
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(format!("epsilon {epsilon} must be positive"));
        }
        let c = cx.input.last().copied().unwrap_or(0);
        mul(4, c, "parameters")?;
        let s = BnShape {
            rows_per_sample: cx.input.iter().product::<usize>() / c.max(1),
            max_batch: cx.max_batch,
            c,
            momentum,
            eps: epsilon,
        };
        s.validate().map_err(|e| e.to_string())?;
        let op = BatchNormOp {
            s,
            gamma: cx.param("gamma", vec![c], Init::Ones),
            beta: cx.param("beta", vec![c], Init::Zeros),
            mean: cx.stat("moving_mean", vec![c], Init::Zeros),
            var: cx.stat("moving_variance", vec![c], Init::Ones),
        };
        Ok(Built::new(cx.input.to_vec(), op))
    }
}

/// `gamma`, `beta` index the parameters; `mean`, `var` the statistics.
#[derive(Debug)]
struct BatchNormOp {
    s: BnShape,
    gamma: usize,
    beta: usize,
    mean: usize,
    var: usize,
}

/// The batch's mean and inverse standard deviation, per channel.
#[derive(Default)]
struct BatchStats<T> {
    mean: T,
    invstd: T,
}

impl Op for BatchNormOp {
    type CpuSaved = BatchStats<Vec<f32>>;
    type GpuSaved = BatchStats<GpuTensor>;

    fn describe(&self) -> String {
        format!("batchnorm {}", self.s.c)
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], mode: Mode) -> (Vec<f32>, Self::CpuSaved) {
        let (g, b) = (&cx.params[self.gamma], &cx.params[self.beta]);
        let mut y = cx.floats.take(x.len());
        if mode == Mode::Eval {
            let (rm, rv) = (&cx.stats[self.mean], &cx.stats[self.var]);
            batchnorm::forward_infer_into(&self.s, x, g, b, rm, rv, &mut y);
            return (y, BatchStats::default());
        }
        let (rm, rv) = (&cx.stats[self.mean], &cx.stats[self.var]);
        let st = batchnorm::forward_train_into(&self.s, cx.batch, x, g, b, rm, rv, &mut y);
        cx.stats[self.mean] = st.running_mean;
        cx.stats[self.var] = st.running_var;
        let saved = BatchStats {
            mean: st.mean,
            invstd: st.invstd,
        };
        (y, saved)
    }

    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        _y: &[f32],
        saved: Self::CpuSaved,
        dy: Vec<f32>,
        _need_dx: bool,
    ) -> Vec<f32> {
        let mut dx = cx.floats.take(x.len());
        let g = &cx.params[self.gamma];
        let (dg, db) = batchnorm::backward_into(
            &self.s,
            cx.batch,
            x,
            &dy,
            g,
            &saved.mean,
            &saved.invstd,
            &mut dx,
        );
        cx.grads[self.gamma] = dg;
        cx.grads[self.beta] = db;
        cx.floats.give(dy);
        dx
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        mode: Mode,
    ) -> Result<(GpuTensor, Option<Self::GpuSaved>)> {
        let y = cx.output()?;
        let (g, b) = (&cx.params[self.gamma], &cx.params[self.beta]);
        let (rm, rv) = (&cx.stats[self.mean], &cx.stats[self.var]);
        if mode == Mode::Eval {
            cx.push(batchnorm::forward_infer(
                cx.ctx, &self.s, x, g, b, rm, rv, &y,
            )?);
            return Ok((y, None));
        }
        let saved = BatchStats {
            mean: cx.buffer("batch mean", self.s.c)?,
            invstd: cx.buffer("batch invstd", self.s.c)?,
        };
        cx.list.extend(batchnorm::forward_train(
            cx.ctx,
            &self.s,
            x,
            g,
            b,
            rm,
            rv,
            cx.step,
            &y,
            &saved.mean,
            &saved.invstd,
        )?);
        Ok((y, Some(saved)))
    }

    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        (x, _y): (&GpuTensor, &GpuTensor),
        saved: &Self::GpuSaved,
        dy: &GpuTensor,
        _need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        // The kernels give the input gradient with gamma's and beta's: it is always written.
        let dx = cx.input_grad()?;
        let params = [&cx.params[self.gamma], &saved.mean, &saved.invstd];
        let grads = [&dx, &cx.grads[self.gamma], &cx.grads[self.beta]];
        let (x_dy, act) = ([x, dy, cx.step], cx.act_before);
        cx.push_all(batchnorm::backward_act(
            cx.ctx, &self.s, x_dy, params, act, grads,
        )?);
        Ok(Some(dx))
    }

    fn applies_act_before(&self) -> bool {
        true
    }
}
