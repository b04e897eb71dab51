//! AveragePooling2D (Keras semantics: pool size, strides, valid or same padding; a same-padded
//! window averages only the real pixels it covers, as TensorFlow does). The op is the pooling
//! family's (`layers/pool.rs`). Tests: `crates/engine/tests/layers_pool.rs`.

use super::pool::Pool2D;
use super::{Build, Built, Fields, LayerKind, Res, TomlOut};
use crate::onnx::{OnnxBuilder, OnnxCx};

pub type AvgPool2D = Pool2D<false>;

impl LayerKind for AvgPool2D {
    const CLASS: &'static str = "AveragePooling2D";
    const BASE_NAME: &'static str = "average_pooling2d";
    const TOML_TYPES: &'static [&'static str] = &["avgpool2d", "average_pooling2d"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        Self::read(f)
    }

    fn to_toml(&self, out: &mut TomlOut) {
        self.write(out)
    }

    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        self.onnx(g, cx)
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        self.compile(cx, Self::CLASS)
    }
}
