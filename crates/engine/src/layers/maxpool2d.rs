//! MaxPooling2D (Keras semantics: pool size, strides, valid or same padding; a same-padded window
//! takes the maximum of the real pixels it covers). The op is the pooling family's
//! (`layers/pool.rs`). Tests: `crates/engine/tests/ops_pool.rs`, `crates/engine/tests/layers_pool.rs`.

use super::pool::Pool2D;
use super::{Build, Built, Fields, LayerKind, Res, TomlOut};
use crate::onnx::{OnnxBuilder, OnnxCx};

pub type MaxPool2D = Pool2D<true>;

impl LayerKind for MaxPool2D {
    const CLASS: &'static str = "MaxPooling2D";
    const BASE_NAME: &'static str = "max_pooling2d";
    const TOML_TYPES: &'static [&'static str] = &["maxpool2d", "max_pooling2d"];

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
