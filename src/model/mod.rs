//! Model specifications: layers, shape inference and validation, Keras-style
//! summaries, built-in presets and a TOML file format (see
//! [`ModelSpec::from_toml_str`] and `docs/model-format.md`).
//!
//! Tensors are NHWC as in Keras. Conv2D weights have shape
//! `(kh, kw, cin, cout)` plus a bias `(cout)`; Dense weights `(in, units)` plus
//! a bias `(units)`; BatchNorm has gamma, beta (trainable), moving mean and
//! moving variance (non-trainable), one each per channel of the last axis.

mod infer;
mod presets;
mod toml_spec;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::augment::Augment;
use crate::train::Schedule;

pub use infer::thousands;
pub use presets::{preset, resolve, PRESETS};

/// Convolution / pooling padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: `out = (in - k) / s + 1` (floor).
    Valid,
    /// Zero padding so that `out = ceil(in / s)`.
    Same,
}

/// Activation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Linear,
    Relu,
    Softmax,
}

/// One layer of a sequential model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    Conv2D {
        filters: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
        activation: Activation,
    },
    /// Only `Padding::Valid` is supported by the kernels for now.
    MaxPool2D {
        pool: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
    },
    Flatten,
    Dense {
        units: usize,
        activation: Activation,
    },
    Dropout {
        rate: f32,
    },
    /// Normalises the last axis. Keras defaults: momentum 0.99, epsilon 0.001.
    BatchNorm {
        momentum: f32,
        epsilon: f32,
    },
    Activation(Activation),
}

/// Optimisers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Rmsprop,
}

/// How the validation set is taken from the end of the training data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Validation {
    /// Last fraction of the training data (Keras `validation_split`).
    Split(f32),
    /// Last N training images.
    LastN(usize),
}

/// Training settings a model comes with (overridable on the command line). The fields after
/// `validation` are off by default (constant rate, no warm-up, no weight decay, no label
/// smoothing, no augmentation); a preset or a model file's `[train]` table may set them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainDefaults {
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub batch_size: usize,
    pub epochs: usize,
    pub validation: Validation,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub warmup_epochs: f64,
    #[serde(default)]
    pub weight_decay: f32,
    #[serde(default)]
    pub label_smoothing: f32,
    #[serde(default)]
    pub augment: Option<Augment>,
}

/// A sequential model: input shape, layers and training defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    /// Input shape `[H, W, C]`.
    pub input: [usize; 3],
    pub layers: Vec<Layer>,
    pub defaults: TrainDefaults,
}

/// One layer after shape inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// Keras-style unique name: conv2d, conv2d_1, max_pooling2d, flatten,
    /// dense, dense_1, dropout, batch_normalization, activation, ...
    pub name: String,
    /// Keras class name: Conv2D, MaxPooling2D, Flatten, Dense, Dropout,
    /// BatchNormalization, Activation.
    pub kind: &'static str,
    /// Input shape without the batch axis.
    pub input_shape: Vec<usize>,
    /// Output shape without the batch axis.
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub trainable: usize,
}

impl Default for TrainDefaults {
    /// adam, lr 0.001, batch 128, 10 epochs, validation split 0.1, constant rate, nothing else.
    fn default() -> Self {
        TrainDefaults {
            optimizer: OptimizerKind::Adam,
            lr: 0.001,
            batch_size: 128,
            epochs: 10,
            validation: Validation::Split(0.1),
            schedule: Schedule::Constant,
            warmup_epochs: 0.0,
            weight_decay: 0.0,
            label_smoothing: 0.0,
            augment: None,
        }
    }
}

impl Padding {
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

impl Activation {
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
        }
    }
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Rmsprop => "rmsprop",
        }
    }
}

macro_rules! display_from_str {
    ($t:ty, $what:literal, [$($v:expr),*]) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let all = [$($v),*];
                all.iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let names: Vec<&str> = all.iter().map(|v| v.as_str()).collect();
                        Error::msg(format!(
                            "unknown {} \"{}\" (expected one of: {})",
                            $what,
                            s,
                            names.join(", ")
                        ))
                    })
            }
        }
    };
}

display_from_str!(Padding, "padding", [Padding::Valid, Padding::Same]);
display_from_str!(
    Activation,
    "activation",
    [Activation::Linear, Activation::Relu, Activation::Softmax]
);
display_from_str!(
    OptimizerKind,
    "optimizer",
    [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop
    ]
);

impl Layer {
    /// Keras class name of the layer.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2D { .. } => "Conv2D",
            Layer::MaxPool2D { .. } => "MaxPooling2D",
            Layer::Flatten => "Flatten",
            Layer::Dense { .. } => "Dense",
            Layer::Dropout { .. } => "Dropout",
            Layer::BatchNorm { .. } => "BatchNormalization",
            Layer::Activation(_) => "Activation",
        }
    }

    /// Keras base name used for automatic layer names.
    pub fn base_name(&self) -> &'static str {
        match self {
            Layer::Conv2D { .. } => "conv2d",
            Layer::MaxPool2D { .. } => "max_pooling2d",
            Layer::Flatten => "flatten",
            Layer::Dense { .. } => "dense",
            Layer::Dropout { .. } => "dropout",
            Layer::BatchNorm { .. } => "batch_normalization",
            Layer::Activation(_) => "activation",
        }
    }

    /// Conv2D with square kernel, stride 1, valid padding.
    pub fn conv(filters: usize, kernel: usize, activation: Activation) -> Layer {
        Layer::Conv2D {
            filters,
            kernel: [kernel, kernel],
            strides: [1, 1],
            padding: Padding::Valid,
            activation,
        }
    }

    /// MaxPool2D with square pool, strides = pool, valid padding.
    pub fn maxpool(pool: usize) -> Layer {
        Layer::MaxPool2D {
            pool: [pool, pool],
            strides: [pool, pool],
            padding: Padding::Valid,
        }
    }

    pub fn dense(units: usize, activation: Activation) -> Layer {
        Layer::Dense { units, activation }
    }

    pub fn dropout(rate: f32) -> Layer {
        Layer::Dropout { rate }
    }

    /// BatchNormalization with Keras defaults (momentum 0.99, epsilon 0.001).
    pub fn batchnorm() -> Layer {
        Layer::BatchNorm {
            momentum: 0.99,
            epsilon: 0.001,
        }
    }
}

impl ModelSpec {
    /// Shape inference and validation. Errors name the layer, e.g.
    /// `model: layer 3 (conv2d_1): kernel 3x3 is larger than its 2x2 input`.
    pub fn infer(&self) -> Result<Vec<LayerInfo>> {
        infer::infer(self)
    }

    /// `(total, trainable)` parameter counts.
    pub fn param_counts(&self) -> Result<(usize, usize)> {
        let infos = self.infer()?;
        Ok((
            infos.iter().map(|l| l.params).sum(),
            infos.iter().map(|l| l.trainable).sum(),
        ))
    }

    /// Number of classes (units of the final softmax).
    pub fn classes(&self) -> Result<usize> {
        let infos = self.infer()?;
        infos
            .last()
            .and_then(|l| l.output_shape.first().copied())
            .ok_or_else(|| Error::model("model has no layers"))
    }

    /// Keras `model.summary()`-style table.
    pub fn summary(&self) -> Result<String> {
        infer::summary(self)
    }

    /// Parses a model from TOML text; `origin` (usually the file path) is
    /// used in error messages. The model is validated. See
    /// `docs/model-format.md` for the format:
    ///
    /// ```toml
    /// name = "small"
    /// input = [28, 28, 1]          # optional, default [28, 28, 1]
    /// [train]                      # optional
    /// optimizer = "adam"           # sgd | adam | rmsprop   (default adam)
    /// lr = 0.001                   # alias learning_rate    (default 0.001)
    /// batch_size = 128             # default 128
    /// epochs = 10                  # default 10
    /// validation_split = 0.1       # or validation_last = 10000 (default split 0.1)
    /// [[layers]]
    /// type = "conv2d"              # conv2d | maxpool2d (max_pooling2d) | flatten | dense
    ///                              # | dropout | batchnorm (batch_normalization) | activation
    /// filters = 32
    /// kernel_size = 3              # int or [h, w]
    /// strides = 1                  # optional, int or [h, w]
    /// padding = "valid"            # optional: valid | same
    /// activation = "relu"          # optional, default linear
    /// [[layers]]
    /// type = "maxpool2d"
    /// pool_size = 2                # optional (default 2); strides default to pool_size
    /// [[layers]]
    /// type = "flatten"
    /// [[layers]]
    /// type = "dropout"
    /// rate = 0.5
    /// [[layers]]
    /// type = "dense"
    /// units = 10
    /// activation = "softmax"
    /// ```
    pub fn from_toml_str(s: &str, origin: &str) -> Result<ModelSpec> {
        toml_spec::from_toml_str(s, origin)
    }

    /// Reads and parses a TOML model file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<ModelSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Writes the model in the TOML format read by [`ModelSpec::from_toml_str`].
    pub fn to_toml(&self) -> String {
        toml_spec::to_toml(self)
    }
}
