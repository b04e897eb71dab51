//! GlobalMaxPooling2D: the maximum of each channel over the whole image, `[H, W, C]` to `[C]`.
//! The op is the pooling family's (`layers/pool.rs`). Tests: `crates/engine/tests/layers_pool.rs`.

use super::pool::{build_global, global_to_onnx, Strategy};
use super::{Build, Built, Fields, LayerKind, Res, TomlOut};
use crate::onnx::{OnnxBuilder, OnnxCx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalMaxPool2D;

impl LayerKind for GlobalMaxPool2D {
    const CLASS: &'static str = "GlobalMaxPooling2D";
    const BASE_NAME: &'static str = "global_max_pooling2d";
    const TOML_TYPES: &'static [&'static str] = &["global_maxpool2d", "global_max_pooling2d"];

    fn from_toml(_f: &mut Fields) -> Res<Self> {
        Ok(GlobalMaxPool2D)
    }

    fn to_toml(&self, _out: &mut TomlOut) {}

    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        global_to_onnx(g, cx, Strategy::Max)
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        build_global(cx, Self::CLASS, Strategy::Max)
    }
}
