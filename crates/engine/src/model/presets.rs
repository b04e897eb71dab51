//! Built-in models.

use super::{Activation::*, Layer, ModelSpec, OptimizerKind, TrainDefaults, Validation};
use crate::error::{Error, Result};
use crate::model::schedule::Schedule;
use crate::ops::augment::Augment;

/// Names of the built-in models; the first is the default.
pub const PRESETS: &[&str] = &[
    "convnet",
    "cnn",
    "cnn-dropout",
    "cnn-bn",
    "shallow",
    "tiny",
    "deep",
    "fast",
    "best",
];

fn defaults(
    optimizer: OptimizerKind,
    batch_size: usize,
    epochs: usize,
    validation: Validation,
) -> TrainDefaults {
    TrainDefaults {
        optimizer,
        lr: 0.001,
        batch_size,
        epochs,
        validation,
        ..TrainDefaults::default()
    }
}

/// A built-in model by name (see [`PRESETS`]); unknown names are an error
/// that lists the presets.
pub fn preset(name: &str) -> Result<ModelSpec> {
    use OptimizerKind::*;
    let conv = |f| Layer::conv(f, 3, Relu);
    let pool = || Layer::maxpool(2);
    let bn = Layer::batchnorm;
    let cnn_defaults = defaults(Adam, 32, 10, Validation::LastN(10_000));
    let (layers, d) = match name {
        "convnet" => (
            vec![
                conv(32),
                pool(),
                conv(64),
                pool(),
                Layer::flatten(),
                Layer::dropout(0.5),
                Layer::dense(10, Softmax),
            ],
            defaults(Adam, 128, 15, Validation::Split(0.1)),
        ),
        "cnn" => (
            vec![
                conv(32),
                pool(),
                conv(64),
                pool(),
                Layer::flatten(),
                Layer::dense(64, Relu),
                Layer::dense(10, Softmax),
            ],
            cnn_defaults,
        ),
        "cnn-dropout" => (
            vec![
                conv(32),
                pool(),
                Layer::dropout(0.25),
                conv(64),
                pool(),
                Layer::dropout(0.25),
                Layer::flatten(),
                Layer::dense(64, Relu),
                Layer::dropout(0.5),
                Layer::dense(10, Softmax),
            ],
            cnn_defaults,
        ),
        "cnn-bn" => (
            vec![
                conv(32),
                bn(),
                pool(),
                conv(64),
                bn(),
                pool(),
                Layer::flatten(),
                Layer::dense(64, Relu),
                bn(),
                Layer::dense(10, Softmax),
            ],
            cnn_defaults,
        ),
        "shallow" => (
            vec![
                conv(32),
                pool(),
                Layer::flatten(),
                Layer::dense(64, Relu),
                Layer::dropout(0.2),
                Layer::dense(10, Softmax),
            ],
            defaults(Adam, 128, 10, Validation::Split(0.2)),
        ),
        "tiny" => (
            vec![
                conv(8),
                pool(),
                conv(16),
                pool(),
                Layer::flatten(),
                Layer::dense(64, Relu),
                Layer::dropout(0.2),
                Layer::dense(10, Softmax),
            ],
            defaults(Adam, 128, 10, Validation::Split(0.2)),
        ),
        "deep" => (
            vec![
                conv(32),
                pool(),
                conv(64),
                pool(),
                conv(64),
                Layer::flatten(),
                Layer::dense(64, Relu),
                Layer::dense(10, Softmax),
            ],
            defaults(Rmsprop, 64, 8, Validation::Split(0.1)),
        ),
        // At least 99.0% mean test accuracy in the least training: one epoch, a one-cycle
        // schedule peaking at 0.02 and label smoothing .1, chosen on validation over five seeds
        // (docs/presets-log.md).
        "fast" => (
            vec![
                Layer::conv(32, 5, Relu),
                pool(),
                conv(64),
                pool(),
                Layer::flatten(),
                Layer::dense(10, Softmax),
            ],
            TrainDefaults {
                lr: 0.02,
                schedule: Schedule::OneCycle { max_lr: None },
                label_smoothing: 0.1,
                ..defaults(Adam, 128, 1, Validation::Split(0.1))
            },
        ),
        // Issue 12: at least 99.6% test accuracy, as cheaply as possible on the CPU backend:
        // batch norm after every conv and the hidden dense layer, dropout .25, light augmentation,
        // label smoothing .1 and a one-cycle schedule over 30 epochs, chosen on validation by two
        // `wgnn tune` searches (docs/presets-log.md).
        "best" => (
            vec![
                Layer::conv(32, 5, Relu),
                bn(),
                pool(),
                Layer::conv(64, 5, Relu),
                bn(),
                pool(),
                Layer::flatten(),
                Layer::dense(128, Relu),
                bn(),
                Layer::dropout(0.25),
                Layer::dense(10, Softmax),
            ],
            TrainDefaults {
                lr: 0.005,
                schedule: Schedule::OneCycle { max_lr: None },
                label_smoothing: 0.1,
                augment: Some(Augment {
                    shift: 2.0,
                    rotate: 8.0,
                    scale: 0.08,
                }),
                ..defaults(Adam, 128, 30, Validation::Split(0.1))
            },
        ),
        _ => {
            return Err(Error::msg(format!(
                "unknown model \"{name}\" (presets: {}; or give a path to a .toml model file)",
                PRESETS.join(", ")
            )))
        }
    };
    Ok(ModelSpec {
        name: name.to_string(),
        input: [28, 28, 1],
        layers,
        defaults: d,
    })
}

/// `spec` sized for the data, `input` images in `classes` classes, when it is a preset as defined
/// (the presets take their input shape and class count from the data); a model file or a changed
/// preset keeps its own.
pub fn for_data(spec: ModelSpec, input: [usize; 3], classes: usize) -> ModelSpec {
    match preset(&spec.name) {
        Ok(p) if p == spec => {
            let mut layers = spec.layers;
            if let Some(Layer::Dense(d)) = layers.last_mut() {
                d.units = classes;
            }
            ModelSpec {
                input,
                layers,
                ..spec
            }
        }
        _ => spec,
    }
}

/// A preset name, or a path to a `.toml` model file.
pub fn resolve(model: &str) -> Result<ModelSpec> {
    if model.to_ascii_lowercase().ends_with(".toml") {
        ModelSpec::from_toml_file(std::path::Path::new(model))
    } else {
        preset(model)
    }
}
