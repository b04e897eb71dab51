//! MaxPooling2D (Keras semantics: pool size, strides, valid or same padding; a same-padded window
//! takes the maximum of the real pixels it covers). The op is the pooling family's
//! (`layers/pool.rs`). Tests: `tests/ops_pool.rs`, `tests/layers_pool.rs`.

use super::pool::{Strategy, Window};
use super::{Build, Built, Fields, LayerKind, Padding, Res, TomlOut};
use crate::onnx::{OnnxBuilder, OnnxCx};

#[derive(Clone, Debug, PartialEq)]
pub struct MaxPool2D {
    pub pool: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
}

impl MaxPool2D {
    fn window(&self) -> Window {
        Window {
            pool: self.pool,
            strides: self.strides,
            padding: self.padding,
        }
    }
}

impl LayerKind for MaxPool2D {
    const CLASS: &'static str = "MaxPooling2D";
    const BASE_NAME: &'static str = "max_pooling2d";
    const TOML_TYPES: &'static [&'static str] = &["maxpool2d", "max_pooling2d"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        let w = Window::from_toml(f)?;
        Ok(MaxPool2D {
            pool: w.pool,
            strides: w.strides,
            padding: w.padding,
        })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        self.window().to_toml(out)
    }

    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        self.window().to_onnx(g, cx, Strategy::Max)
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        self.window().build(cx, Self::CLASS, Strategy::Max)
    }
}
