//! Flatten: NHWC activations are already flat in memory, in Keras' flatten order, so the op only
//! renames its input.

use super::Mode;
use super::{Build, Built, CpuCx, Fields, GpuCx, LayerKind, Op, Res, TomlOut};
use crate::error::Result;
use crate::onnx::{Attr, OnnxBuilder, OnnxCx};
use crate::runtime::GpuTensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten;

impl LayerKind for Flatten {
    const CLASS: &'static str = "Flatten";
    const BASE_NAME: &'static str = "flatten";
    const TOML_TYPES: &'static [&'static str] = &["flatten"];

    fn from_toml(_f: &mut Fields) -> Res<Self> {
        Ok(Flatten)
    }

    fn to_toml(&self, _out: &mut TomlOut) {}

    /// Keras' order (H·W·C): a Transpose back to NHWC, then Flatten to `[N, H·W·C]`. Nothing for
    /// an input that is already flat.
    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        if cx.input.len() != 3 {
            return Ok(cx.x.clone());
        }
        let name = cx.name;
        let nhwc = g.node(
            "Transpose",
            &format!("{name}_nhwc"),
            &[&cx.x],
            vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))],
        );
        Ok(g.node("Flatten", name, &[&nhwc], vec![("axis", Attr::Int(1))]))
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        let n = cx
            .input
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("flattened size overflows")?;
        Ok(Built::new(vec![n], FlattenOp))
    }
}

#[derive(Debug)]
struct FlattenOp;

impl Op for FlattenOp {
    type CpuSaved = ();
    type GpuSaved = ();

    fn describe(&self) -> String {
        "flatten".into()
    }

    fn cpu_forward(&self, cx: &mut CpuCx, x: &[f32], _mode: Mode) -> (Vec<f32>, ()) {
        (cx.copy(x), ())
    }

    fn cpu_backward(
        &self,
        _cx: &mut CpuCx,
        _x: &[f32],
        _y: &[f32],
        _saved: (),
        dy: Vec<f32>,
        _need_dx: bool,
    ) -> Vec<f32> {
        dy
    }

    fn gpu_forward(
        &self,
        _cx: &mut GpuCx,
        x: &GpuTensor,
        _mode: Mode,
    ) -> Result<(GpuTensor, Option<()>)> {
        Ok((x.clone(), Some(())))
    }

    fn gpu_backward(
        &self,
        _cx: &mut GpuCx,
        _io: (&GpuTensor, &GpuTensor),
        _saved: &(),
        dy: &GpuTensor,
        need_dx: bool,
    ) -> Result<Option<GpuTensor>> {
        Ok(need_dx.then(|| dy.clone()))
    }
}
