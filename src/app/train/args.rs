//! The flags of `wgnn train`, typed once: clap parses and checks each into its value, and a run's
//! settings are the model's defaults with the settings the flags give ([`RunFlags::overrides`])
//! applied.

use std::path::PathBuf;

use crate::app::backend::BackendKind;
use crate::app::choice::choice;
use crate::model::{OptimizerKind, Validation};
use crate::ops::augment::Augment;
use crate::train::{EarlyStop, Monitor, Overrides, Plateau, RunConfig, Schedule};

/// The settings of a run that flags can give (None: the model's or the saved run's).
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct RunFlags {
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, value_parser = choice::<OptimizerKind>())]
    pub optimizer: Option<OptimizerKind>,
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Fraction of the training data (from its end) held out for validation
    #[arg(long, allow_negative_numbers = true)]
    pub validation_split: Option<f32>,
    /// [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Use only the first N training images
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub data: crate::app::data::DataArgs,
    /// Also write a checkpoint every N optimizer steps (every epoch ends with one anyway)
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Also write the running loss to TensorBoard's event files every N optimizer steps (Keras'
    /// `update_freq`; the epoch values are always written)
    #[arg(long, value_name = "N")]
    pub log_every: Option<usize>,
    /// Learning-rate schedule: constant, step:EVERY:GAMMA, exponential:GAMMA, cosine or
    /// onecycle[:MAX_LR] [default: the model's; constant for most presets]
    #[arg(long)]
    pub schedule: Option<Schedule>,
    /// Ramp the learning rate up linearly over the first F epochs
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub warmup_epochs: Option<f64>,
    /// Multiply the learning rate by FACTOR (default 0.1) after PATIENCE epochs without
    /// improvement of the monitored value (Keras' ReduceLROnPlateau)
    #[arg(long, value_name = "PATIENCE[,FACTOR]")]
    pub reduce_lr_on_plateau: Option<Plateau>,
    /// Stop after PATIENCE epochs without an improvement of more than MIN_DELTA (default 0),
    /// and restore the best epoch's weights (Keras' EarlyStopping)
    #[arg(long, value_name = "PATIENCE[,MIN_DELTA]")]
    pub early_stopping: Option<EarlyStop>,
    /// What early stopping and reduce-on-plateau watch: val_loss or val_accuracy
    /// [default: val_loss]
    #[arg(long)]
    pub monitor: Option<Monitor>,
    /// Decoupled weight decay (AdamW-style; Keras 3's `weight_decay`) for any optimizer
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Train against smoothed labels (Keras' label_smoothing); losses reported for
    /// validation and test stay the plain cross-entropy
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub label_smoothing: Option<f32>,
    /// Random affine transforms of each training image, drawn per image and step:
    /// shift=PIXELS,rotate=DEGREES,scale=FRACTION (any of them; `none` turns off a model's
    /// default augmentation) [default: the model's; off for most presets]
    #[arg(long, value_name = "shift=2,rotate=10,scale=0.1")]
    pub augment: Option<Augment>,
    /// Keep an exponential moving average of the weights with this momentum (Keras'
    /// use_ema and ema_momentum, such as 0.99 or 0.999), updated after every step; validation,
    /// the test set, eval, predict, serve and export then use the average (0: keep none)
    #[arg(long, value_name = "MOMENTUM")]
    pub ema: Option<f32>,
    /// Benchmark: evaluate on the test set after each epoch (off the training clock) and stop
    /// once test accuracy reaches this fraction, reporting the training time it took
    #[arg(long, value_name = "ACCURACY")]
    pub time_to_accuracy: Option<f32>,
}

/// The flags of `wgnn train`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct TrainArgs {
    /// A preset (convnet, cnn, cnn-dropout, cnn-bn, shallow, tiny, deep, fast, best) or a
    /// .toml file [default: convnet, or the model of --init-from]
    #[arg(long)]
    pub model: Option<String>,
    /// Start from the weights of a saved run (a folder written by `train --out`) instead of
    /// a fresh initialisation
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// Continue the run in DIR from its last checkpoint, exactly as if it had never stopped
    /// (its model, settings and data come from the checkpoint; --epochs may be raised)
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunFlags,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Output folder (default: a new folder under runs/)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also print GPU memory in use after each epoch
    #[arg(long, short)]
    pub verbose: bool,
}

/// How a setting reads in messages, per flag that a resumed run may not change.
type Text = fn(&RunConfig) -> String;

fn split_text(r: &RunConfig) -> String {
    match r.validation {
        Validation::Split(f) => f.to_string(),
        Validation::LastN(n) => format!("the last {n} images"),
    }
}

fn pair(v: Option<(String, String)>) -> String {
    v.map_or("none".into(), |(a, b)| format!("{a},{b}"))
}

/// The settings fixed for the life of a run (by their [`RunConfig`] names), with how each reads.
pub const FIXED: &[(&str, Text)] = &[
    ("batch_size", |r| r.batch_size.to_string()),
    ("optimizer", |r| r.optimizer.to_string()),
    ("lr", |r| r.lr.to_string()),
    ("seed", |r| r.seed.to_string()),
    ("validation", split_text),
    ("limit", |r| {
        r.limit.map_or("no limit".into(), |l| l.to_string())
    }),
    ("schedule", |r| r.schedule.to_string()),
    ("warmup_epochs", |r| r.warmup_epochs.to_string()),
    ("plateau", |r| {
        pair(
            r.plateau
                .map(|p| (p.patience.to_string(), p.factor.to_string())),
        )
    }),
    ("early_stopping", |r| {
        pair(
            r.early_stopping
                .map(|e| (e.patience.to_string(), e.min_delta.to_string())),
        )
    }),
    ("monitor", |r| r.monitor.to_string()),
    ("weight_decay", |r| r.weight_decay.to_string()),
    ("label_smoothing", |r| r.label_smoothing.to_string()),
    ("augment", |r| {
        r.augment
            .map_or("no augmentation".into(), |a| a.to_string())
    }),
    ("ema", |r| {
        r.ema.map_or("no moving average".into(), |m| m.to_string())
    }),
];

/// The flags whose names differ from the run setting they give (`RunConfig`'s field names);
/// every other flag has its setting's name.
const RENAMED: [(&str, &str); 3] = [
    ("target_accuracy", "time_to_accuracy"),
    ("validation", "validation_split"),
    ("plateau", "reduce_lr_on_plateau"),
];

impl RunFlags {
    /// The flag that gives run setting `setting`, as clap spells it (`--batch-size`); None for a
    /// setting no flag gives.
    pub fn flag_for(setting: &str) -> Option<String> {
        use clap::Args as _;
        let id = RENAMED
            .iter()
            .find(|(s, _)| *s == setting)
            .map_or(setting, |(_, flag)| flag);
        let cmd = Self::augment_args(clap::Command::new("train"));
        let arg = cmd.get_arguments().find(|a| a.get_id() == id)?;
        Some(format!("--{}", arg.get_long()?))
    }

    /// The settings these flags give, by the names the run calls them.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            lr: self.lr,
            validation: self.validation_split.map(Validation::Split),
            seed: self.seed,
            limit: self.limit,
            checkpoint_every: self.checkpoint_every,
            log_every: self.log_every,
            target_accuracy: self.time_to_accuracy,
            schedule: self.schedule,
            warmup_epochs: self.warmup_epochs,
            plateau: self.reduce_lr_on_plateau,
            early_stopping: self.early_stopping,
            monitor: self.monitor,
            weight_decay: self.weight_decay,
            label_smoothing: self.label_smoothing,
            augment: self.augment,
            ema: self.ema,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run names a setting it refuses by its flag, so each fixed setting needs one.
    #[test]
    fn every_fixed_setting_has_a_flag() {
        for (setting, _) in FIXED {
            assert!(
                RunFlags::flag_for(setting).is_some(),
                "no flag gives the setting {setting}"
            );
        }
    }

    #[test]
    fn renamed_settings_reach_their_flags() {
        assert_eq!(
            RunFlags::flag_for("validation").as_deref(),
            Some("--validation-split")
        );
        assert_eq!(
            RunFlags::flag_for("plateau").as_deref(),
            Some("--reduce-lr-on-plateau")
        );
        assert_eq!(RunFlags::flag_for("model"), None);
    }
}
