//! The pooling family's op, shared by the pooling layers: a window strategy (max or average) over
//! a `PoolShape`, the global poolings being one window over the whole image. CPU and GPU:
//! `ops::pool` (`shaders/pool.wgsl`).

use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, MemoryCx, Op, Padding, Res, TomlOut};
use crate::error::Result;
use crate::onnx::{self, Attr, OnnxBuilder, OnnxCx};
use crate::ops::pool::{self, PoolShape};
use crate::runtime::GpuTensor;

/// What a window gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Max,
    Avg,
}

/// A windowed pooling layer: `MAX` picks the strategy (`MaxPool2D` and `AvgPool2D` name the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2D<const MAX: bool> {
    pub pool: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
}

impl<const MAX: bool> Pool2D<MAX> {
    /// `pool_size` (default 2), `strides` (default the pool size) and `padding` (default valid).
    pub fn read(f: &mut Fields) -> Res<Self> {
        let pool = f.pair_opt("pool_size")?.unwrap_or([2, 2]);
        Ok(Pool2D {
            pool,
            strides: f.pair_opt("strides")?.unwrap_or(pool),
            padding: f.parsed("padding")?.unwrap_or(Padding::Valid),
        })
    }

    pub fn write(&self, out: &mut TomlOut) {
        out.pair("pool_size", self.pool);
        out.pair("strides", self.strides);
        out.str("padding", self.padding);
    }

    /// Checks the window against the input and compiles the layer `class`.
    pub fn compile(&self, cx: &mut Build, class: &str) -> Res<Built> {
        let Pool2D {
            pool,
            strides,
            padding,
        } = *self;
        let strategy = if MAX { Strategy::Max } else { Strategy::Avg };
        let [h, w, c] = cx.image(class)?;
        if pool[0] == 0 || pool[1] == 0 {
            return Err(format!(
                "pool size {}x{} must be at least 1x1",
                pool[0], pool[1]
            ));
        }
        if strides[0] == 0 || strides[1] == 0 {
            return Err(format!(
                "strides {}x{} must be at least 1x1",
                strides[0], strides[1]
            ));
        }
        if padding == Padding::Valid && (pool[0] > h || pool[1] > w) {
            return Err(format!(
                "pool size {}x{} is larger than its {h}x{w} input (padding \"same\" allows it)",
                pool[0], pool[1]
            ));
        }
        let same = padding == Padding::Same;
        let s = PoolShape::padded(cx.max_batch, h, w, c, pool, strides, same)
            .map_err(|e| e.to_string())?;
        let op = PoolOp {
            s,
            strategy,
            global: false,
        };
        Ok(Built::new(vec![s.oh, s.ow, c], op))
    }

    /// MaxPool or AveragePool (`count_include_pad = 0`: a same-padded window averages only the
    /// real pixels it covers, as wgnn and Keras do) with explicit pads.
    pub fn onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        let [h, w, c] = onnx::image(cx.input)?;
        let s = PoolShape::padded(
            1,
            h,
            w,
            c,
            self.pool,
            self.strides,
            self.padding == Padding::Same,
        )
        .map_err(|e| e.to_string())?;
        let ints = |v: [usize; 2]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
        let pads = onnx::pads(
            [h, w],
            self.pool,
            self.strides,
            [s.oh, s.ow],
            [s.pad_top, s.pad_left],
        );
        let mut attrs = vec![
            ("kernel_shape", ints(self.pool)),
            ("strides", ints(self.strides)),
            ("pads", Attr::Ints(pads)),
        ];
        let op = if MAX {
            "MaxPool"
        } else {
            attrs.push(("count_include_pad", Attr::Int(0)));
            "AveragePool"
        };
        Ok(g.node(op, cx.name, &[&cx.x], attrs))
    }
}

/// A global pooling in ONNX: GlobalMaxPool or GlobalAveragePool (`[N, C, 1, 1]`), then Flatten
/// to `[N, C]`.
pub fn global_to_onnx(g: &mut OnnxBuilder, cx: &OnnxCx, strategy: Strategy) -> Res<String> {
    onnx::image(cx.input)?;
    let op = match strategy {
        Strategy::Max => "GlobalMaxPool",
        Strategy::Avg => "GlobalAveragePool",
    };
    let name = cx.name;
    let y = g.node(op, &format!("{name}_pool"), &[&cx.x], vec![]);
    Ok(g.node("Flatten", name, &[&y], vec![("axis", Attr::Int(1))]))
}

/// A global pooling: one window over the whole image, giving `[C]`.
pub fn build_global(cx: &mut Build, class: &str, strategy: Strategy) -> Res<Built> {
    let [h, w, c] = cx.image(class)?;
    let s = PoolShape::new(cx.max_batch, h, w, c, [h, w], [h, w]).map_err(|e| e.to_string())?;
    let op = PoolOp {
        s,
        strategy,
        global: true,
    };
    Ok(Built::new(vec![c], op))
}

#[derive(Debug)]
struct PoolOp {
    s: PoolShape,
    strategy: Strategy,
    global: bool,
}

impl Op for PoolOp {
    /// Max: where each output's maximum came from; average: nothing.
    type CpuSaved = Vec<u32>;
    type GpuSaved = Option<GpuTensor>;

    fn max_pool(&self) -> Option<PoolShape> {
        (self.strategy == Strategy::Max).then_some(self.s)
    }

    fn describe(&self) -> String {
        let what = match self.strategy {
            Strategy::Max => "maxpool",
            Strategy::Avg => "avgpool",
        };
        match self.global {
            true => format!("global {what}"),
            false => format!("{what} {}x{}", self.s.ph, self.s.pw),
        }
    }

    fn memory(&self, m: &mut MemoryCx) {
        if self.strategy == Strategy::Max {
            let what = format!("{}: argmax indices ({}x{})", m.layer, m.batch, m.out);
            m.push(what, 4 * self.s.y_len() as u64, 1);
        }
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, Vec<u32>) {
        let mut y = cx.floats.take(self.s.y_len());
        match self.strategy {
            Strategy::Max => {
                let mut arg = cx.indices.take(self.s.y_len());
                pool::forward_into(cx.isa, &self.s, x, &mut y, &mut arg);
                (y, arg)
            }
            Strategy::Avg => {
                pool::avg_forward_into(&self.s, x, &mut y);
                (y, Vec::new())
            }
        }
    }

    fn cpu_backward(
        &self,
        cx: &mut CpuCx,
        x: &[f32],
        _y: &[f32],
        argmax: Vec<u32>,
        dy: Vec<f32>,
        need_dx: bool,
    ) -> Vec<f32> {
        let dx = if need_dx {
            let mut dx = cx.floats.take(x.len());
            match self.strategy {
                Strategy::Max => pool::backward_into(&self.s, &dy, &argmax, &mut dx),
                Strategy::Avg => pool::avg_backward_into(&self.s, &dy, &mut dx),
            }
            dx
        } else {
            Vec::new()
        };
        cx.floats.give(dy);
        cx.indices.give(argmax);
        dx
    }

    fn cpu_discard(&self, cx: &mut CpuCx, argmax: Vec<u32>) {
        cx.indices.give(argmax);
    }

    fn gpu_forward(
        &self,
        cx: &mut GpuCx,
        x: &GpuTensor,
        _mode: Mode,
    ) -> Result<(GpuTensor, Option<Self::GpuSaved>)> {
        let y = cx.output()?;
        match self.strategy {
            Strategy::Max => {
                let argmax = cx.buffer("argmax", self.s.y_len())?;
                cx.push(pool::forward(cx.ctx, &self.s, x, &y, &argmax)?);
                Ok((y, Some(Some(argmax))))
            }
            Strategy::Avg => {
                cx.push(pool::avg_forward(cx.ctx, &self.s, x, &y)?);
                Ok((y, Some(None)))
            }
        }
    }

    fn gpu_backward(
        &self,
        cx: &mut GpuCx,
        _io: (&GpuTensor, &GpuTensor),
        argmax: &Option<GpuTensor>,
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        if !need_dx {
            return Ok(None);
        }
        let dx = cx.input_grad()?;
        let d = match argmax {
            Some(argmax) => pool::backward(cx.ctx, &self.s, dy, argmax, &dx)?,
            None => pool::avg_backward(cx.ctx, &self.s, dy, &dx)?,
        };
        cx.push(d);
        Ok(Some(dx))
    }
}
