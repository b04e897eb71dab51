//! The settings a person gave for a run, over the layers below them. A run's [`RunConfig`] is
//! built in layers: the model's training defaults (a preset's, or a model file's `[train]`
//! table) or a resumed run's saved settings, then these. The command line fills them from its
//! flags, a search from each trial's values, a program by hand; none of them builds another's.

use wgnn_engine::model::schedule::Schedule;
use wgnn_engine::model::{OptimizerKind, Validation};
use wgnn_engine::ops::augment::Augment;

use crate::watch::{EarlyStop, Monitor, Plateau};
use crate::RunConfig;

/// Each field is the [`RunConfig`] setting of the same name; None keeps the layer below.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f32>,
    pub validation: Option<Validation>,
    pub seed: Option<u64>,
    pub limit: Option<usize>,
    pub checkpoint_every: Option<usize>,
    pub log_every: Option<usize>,
    pub target_accuracy: Option<f32>,
    pub schedule: Option<Schedule>,
    pub warmup_epochs: Option<f64>,
    pub plateau: Option<Plateau>,
    pub early_stopping: Option<EarlyStop>,
    pub monitor: Option<Monitor>,
    pub weight_decay: Option<f32>,
    pub label_smoothing: Option<f32>,
    /// An augmentation whose every amount is 0 turns a model's default augmentation off.
    pub augment: Option<Augment>,
    /// A momentum of 0 turns a model's default moving average off.
    pub ema: Option<f32>,
}

impl Overrides {
    /// `run` with every given setting applied.
    pub fn apply(&self, run: RunConfig) -> RunConfig {
        RunConfig {
            batch_size: self.batch_size.unwrap_or(run.batch_size),
            optimizer: self.optimizer.unwrap_or(run.optimizer),
            lr: self.lr.unwrap_or(run.lr),
            validation: self.validation.unwrap_or(run.validation),
            seed: self.seed.unwrap_or(run.seed),
            limit: self.limit.or(run.limit),
            epochs: self.epochs.unwrap_or(run.epochs),
            checkpoint_every: self.checkpoint_every.or(run.checkpoint_every),
            log_every: self.log_every.or(run.log_every),
            target_accuracy: self.target_accuracy.or(run.target_accuracy),
            schedule: self.schedule.unwrap_or(run.schedule),
            warmup_epochs: self.warmup_epochs.unwrap_or(run.warmup_epochs),
            plateau: self.plateau.or(run.plateau),
            early_stopping: self.early_stopping.or(run.early_stopping),
            monitor: self.monitor.unwrap_or(run.monitor),
            weight_decay: self.weight_decay.unwrap_or(run.weight_decay),
            label_smoothing: self.label_smoothing.unwrap_or(run.label_smoothing),
            augment: match self.augment {
                Some(g) if g.is_off() => None,
                Some(g) => Some(g),
                None => run.augment,
            },
            ema: match self.ema {
                Some(0.0) => None,
                Some(m) => Some(m),
                None => run.ema,
            },
            ..run
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_given_keeps_every_setting() {
        let run = RunConfig::default();
        assert_eq!(Overrides::default().apply(run.clone()), run);
    }

    #[test]
    fn a_given_setting_wins_and_the_rest_stay() {
        let run = RunConfig::default();
        let o = Overrides {
            lr: Some(0.5),
            validation: Some(Validation::Split(0.25)),
            ..Overrides::default()
        };
        let got = o.apply(run.clone());
        assert_eq!((got.lr, got.validation), (0.5, Validation::Split(0.25)));
        assert_eq!(got.batch_size, run.batch_size);
        assert_eq!(got.seed, run.seed);
    }

    #[test]
    fn an_augmentation_of_nothing_turns_the_default_off() {
        let on: Augment = "shift=2".parse().unwrap();
        let off: Augment = "none".parse().unwrap();
        let run = RunConfig {
            augment: Some(on),
            ..RunConfig::default()
        };
        let o = Overrides {
            augment: Some(off),
            ..Overrides::default()
        };
        assert_eq!(o.apply(run).augment, None);
    }
}
