//! Model specifications: layers, shape inference and validation, Keras-style
//! summaries, built-in presets and a TOML file format (see
//! [`ModelSpec::from_toml_str`] and `docs/model-format.md`).
//!
//! Tensors are NHWC as in Keras. Conv2D weights have shape
//! `(kh, kw, cin, cout)` plus a bias `(cout)`; Dense weights `(in, units)` plus
//! a bias `(units)`; BatchNorm has gamma, beta (trainable), moving mean and
//! moving variance (non-trainable), one each per channel of the last axis.

mod optimizer;
mod presets;
pub mod schedule;
mod summary;
mod toml_spec;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::augment::Augment;
use schedule::Schedule;

pub use crate::layers::{Activation, Layer, LayerInfo, Padding};
pub use optimizer::OptimizerKind;
pub use presets::{for_data, preset, resolve, PRESETS};
pub use summary::thousands;

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
    /// The momentum of a moving average of the weights that evaluation uses (Keras' `use_ema`
    /// with `ema_momentum`; `ops::ema`).
    #[serde(default)]
    pub ema: Option<f32>,
}

/// A sequential model: input shape, layers and training defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    /// Input shape `[H, W, C]`.
    pub input: [usize; 3],
    pub layers: Vec<Layer>,
    pub defaults: TrainDefaults,
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
            ema: None,
        }
    }
}

impl ModelSpec {
    /// Shape inference and validation. Errors name the layer, e.g.
    /// `model: layer 3 (conv2d_1): kernel 3x3 is larger than its 2x2 input`.
    pub fn infer(&self) -> Result<Vec<LayerInfo>> {
        Ok(crate::layers::compile(self.input, &self.layers, 1)?.infos)
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
        summary::summary(self)
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
