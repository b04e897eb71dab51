//! Layers. Each kind is one file here: what it accepts in a model file, its output shape and
//! validation, its parameters (Keras names, shapes, initialisers), and its compiled op, which runs
//! its forward and backward passes on the CPU and records them for the GPU. The graphs
//! (`crates/engine/src/graph/`) are loops over these ops; nothing outside this folder matches on layer kinds.
//!
//! Adding a layer: a file implementing [`LayerKind`] and [`Op`], one line in the `layers!` list
//! below, its kernel entry point in `shaders/`, and its test file in `tests/`.

mod activation;
mod avgpool2d;
mod batchnorm;
mod build;
mod conv2d;
mod conv_pool;
mod cpu;
mod dense;
mod dropout;
pub mod export_onnx;
mod fields;
mod flatten;
mod global_avgpool2d;
mod global_maxpool2d;
mod gpu;
mod maxpool2d;
mod op;
mod param;
mod pool;
mod sequence;
mod toml_out;

use serde::{Deserialize, Serialize};

use crate::onnx::{OnnxBuilder, OnnxCx};

pub use activation::Activation;
pub use avgpool2d::AvgPool2D;
pub use batchnorm::BatchNorm;
pub use build::{dims_str, elements, shape_str, Build, Built, MAX_ELEMENTS};
pub use conv2d::Conv2D;
pub use conv_pool::ConvMaxPool;
pub use cpu::CpuCx;
pub use dense::Dense;
pub use dropout::Dropout;
pub use fields::{type_name, Fields, Res};
pub use flatten::Flatten;
pub use global_avgpool2d::GlobalAvgPool2D;
pub use global_maxpool2d::GlobalMaxPool2D;
pub use gpu::GpuCx;
pub use maxpool2d::MaxPool2D;
pub use op::{MemoryCx, MemoryItem, Mode, Node, Op};
pub use param::{Init, ParamSpec};
pub use sequence::{compile, LayerInfo, Sequence};
pub use toml_out::TomlOut;

/// What a layer kind is: its names, its model-file fields and how it compiles.
pub trait LayerKind: Clone + std::fmt::Debug + PartialEq + Sized {
    /// Keras class name, shown by `wgnn summary`: "Conv2D".
    const CLASS: &'static str;
    /// Base of Keras' automatic layer names: conv2d, conv2d_1, ...
    const BASE_NAME: &'static str;
    /// Values of `type` in model files that mean this kind; the first is the one written.
    const TOML_TYPES: &'static [&'static str];
    /// Reads the layer's fields from its `[[layers]]` table (`type` already matched).
    fn from_toml(f: &mut Fields) -> Res<Self>;
    /// Writes the fields that [`LayerKind::from_toml`] reads, after the `type` line.
    fn to_toml(&self, out: &mut TomlOut);
    /// Checks the layer against its input and compiles it: output shape, parameters, op.
    fn build(&self, cx: &mut Build) -> Res<Built>;
    /// Adds the layer's ONNX nodes over `cx.x` (NCHW for an image, `[N, n]` when flat) and returns
    /// the tensor holding its output; a layer that does nothing at inference returns `cx.x`.
    fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String>;
    /// Whether the layer's output is a softmax (only the last layer may be one).
    fn is_softmax(&self) -> bool {
        false
    }
}

/// Convolution and pooling padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: `out = (in - k) / s + 1` (floor).
    Valid,
    /// Zero padding so that `out = ceil(in / s)`.
    Same,
}

impl Padding {
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

crate::util::text::display_from_str!(Padding, "padding", [Padding::Valid, Padding::Same]);

macro_rules! layers {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// One layer of a sequential model.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Layer {
            $($variant($ty)),*
        }

        impl Layer {
            /// Keras class name of the layer.
            pub fn kind(&self) -> &'static str {
                match self { $(Layer::$variant(_) => <$ty>::CLASS),* }
            }

            /// Keras base name used for automatic layer names.
            pub fn base_name(&self) -> &'static str {
                match self { $(Layer::$variant(_) => <$ty>::BASE_NAME),* }
            }

            /// Whether the layer ends in a softmax.
            pub fn is_softmax(&self) -> bool {
                match self { $(Layer::$variant(l) => l.is_softmax()),* }
            }

            /// The layer's ONNX nodes (`LayerKind::to_onnx`).
            pub fn to_onnx(&self, g: &mut OnnxBuilder, cx: &OnnxCx) -> Res<String> {
                match self { $(Layer::$variant(l) => l.to_onnx(g, cx)),* }
            }

            pub(crate) fn build(&self, cx: &mut Build) -> Res<Built> {
                match self { $(Layer::$variant(l) => l.build(cx)),* }
            }

            /// The layer's `[[layers]]` table, `type` first.
            pub(crate) fn to_toml(&self, out: &mut TomlOut) {
                match self {
                    $(Layer::$variant(l) => {
                        out.str("type", <$ty>::TOML_TYPES[0]);
                        l.to_toml(out)
                    }),*
                }
            }

            /// The layer a `[[layers]]` table of type `ty` describes; None for an unknown type.
            pub(crate) fn from_toml(ty: &str, f: &mut Fields) -> Option<Res<Layer>> {
                $(if <$ty>::TOML_TYPES.contains(&ty) {
                    return Some(<$ty>::from_toml(f).map(Layer::$variant));
                })*
                None
            }

            /// Every `type` a model file may give: "conv2d, maxpool2d (max_pooling2d), ...".
            pub fn toml_types() -> String {
                let kinds: &[&[&str]] = &[$(<$ty>::TOML_TYPES),*];
                kinds
                    .iter()
                    .map(|names| match names {
                        [first, rest @ ..] if !rest.is_empty() => {
                            format!("{first} ({})", rest.join(", "))
                        }
                        names => names.join(", "),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }

        $(impl From<$ty> for Layer {
            fn from(l: $ty) -> Layer {
                Layer::$variant(l)
            }
        })*
    };
}

layers! {
    Conv2D(Conv2D),
    MaxPool2D(MaxPool2D),
    AvgPool2D(AvgPool2D),
    GlobalAvgPool2D(GlobalAvgPool2D),
    GlobalMaxPool2D(GlobalMaxPool2D),
    Flatten(Flatten),
    Dense(Dense),
    Dropout(Dropout),
    BatchNorm(BatchNorm),
    Activation(Activation),
}

impl Layer {
    /// Conv2D with square kernel, stride 1, valid padding.
    pub fn conv(filters: usize, kernel: usize, activation: Activation) -> Layer {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: [kernel, kernel],
            strides: [1, 1],
            padding: Padding::Valid,
            activation,
        })
    }

    /// MaxPool2D with square pool, strides = pool, valid padding.
    pub fn maxpool(pool: usize) -> Layer {
        Layer::MaxPool2D(MaxPool2D {
            pool: [pool, pool],
            strides: [pool, pool],
            padding: Padding::Valid,
        })
    }

    pub fn flatten() -> Layer {
        Layer::Flatten(Flatten)
    }

    pub fn dense(units: usize, activation: Activation) -> Layer {
        Layer::Dense(Dense { units, activation })
    }

    pub fn dropout(rate: f32) -> Layer {
        Layer::Dropout(Dropout { rate })
    }

    /// BatchNormalization with Keras defaults (momentum 0.99, epsilon 0.001).
    pub fn batchnorm() -> Layer {
        Layer::BatchNorm(BatchNorm {
            momentum: 0.99,
            epsilon: 0.001,
        })
    }
}
