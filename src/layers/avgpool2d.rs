//! AveragePooling2D (Keras semantics: pool size, strides, valid or same padding; a same-padded
//! window averages only the real pixels it covers, as TensorFlow does). The op is the pooling
//! family's (`layers/pool.rs`). Tests: `tests/layers_pool.rs`.

use super::pool::{Strategy, Window};
use super::{Build, Built, Fields, LayerKind, Padding, Res, TomlOut};
use crate::onnx::{OnnxBuilder, OnnxCx};

#[derive(Clone, Debug, PartialEq)]
pub struct AvgPool2D {
    pub pool: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
}

impl AvgPool2D {
    fn window(&self) -> Window {
        Window {
            pool: self.pool,
            strides: self.strides,
            padding: self.padding,
        }
    }
}

impl LayerKind for AvgPool2D {
    const CLASS: &'static str = "AveragePooling2D";
    const BASE_NAME: &'static str = "average_pooling2d";
    const TOML_TYPES: &'static [&'static str] = &["avgpool2d", "average_pooling2d"];

    fn from_toml(f: &mut Fields) -> Res<Self> {
        let w = Window::from_toml(f)?;
        Ok(AvgPool2D {
            pool: w.pool,
            strides: w.strides,
            padding: w.padding,
        })
    }

    fn to_toml(&self, out: &mut TomlOut) {
        self.window().to_toml(out)
    }

    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
        self.window().to_onnx(g, cx, Strategy::Avg)
    }

    fn build(&self, cx: &mut Build) -> Res<Built> {
        self.window().build(cx, Self::CLASS, Strategy::Avg)
    }
}
