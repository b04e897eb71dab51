//! Learning-rate schedules, evaluated by the training loop for every optimizer step.
//!
//! A schedule maps the run's position (fractional epochs done before a step) to a multiple of
//! the base learning rate. `--warmup-epochs F` ramps linearly from near 0 to the scheduled value
//! over the first F epochs. Reduce-on-plateau multiplies the result by a factor the loop keeps.

use std::f64::consts::PI;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Schedule {
    /// The base learning rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `every` epochs (a staircase).
    Step { every: f64, gamma: f64 },
    /// Multiplied by `gamma` after every epoch (a staircase).
    Exponential { gamma: f64 },
    /// Half a cosine from the base rate down to 0 over the run.
    Cosine,
    /// One cycle: up from max/25 to `max_lr` (the base rate when not given) over the first 30%
    /// of the run, then a cosine down to max/25e4, as PyTorch's OneCycleLR.
    OneCycle { max_lr: Option<f64> },
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::msg(format!(
                "--schedule `{s}`: {why} (constant, step:EVERY:GAMMA, exponential:GAMMA, cosine or onecycle[:MAX_LR])"
            ))
        };
        let num = |v: &str, what: &str| -> Result<f64> {
            match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(bad(&format!("{what} `{v}` is not a positive number"))),
            }
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts.as_slice() {
            ["constant"] => Ok(Self::Constant),
            ["cosine"] => Ok(Self::Cosine),
            ["onecycle"] => Ok(Self::OneCycle { max_lr: None }),
            ["onecycle", m] => Ok(Self::OneCycle {
                max_lr: Some(num(m, "MAX_LR")?),
            }),
            ["exponential", g] => Ok(Self::Exponential {
                gamma: num(g, "GAMMA")?,
            }),
            ["step", e, g] => Ok(Self::Step {
                every: num(e, "EVERY")?,
                gamma: num(g, "GAMMA")?,
            }),
            _ => Err(bad("unknown schedule")),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Constant => write!(f, "constant"),
            Self::Cosine => write!(f, "cosine"),
            Self::OneCycle { max_lr: None } => write!(f, "onecycle"),
            Self::OneCycle { max_lr: Some(m) } => write!(f, "onecycle:{m}"),
            Self::Exponential { gamma } => write!(f, "exponential:{gamma}"),
            Self::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
        }
    }
}

/// A schedule with its base rate, warm-up and the run's length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    pub base: f32,
    pub schedule: Schedule,
    pub warmup_epochs: f64,
    pub steps_per_epoch: usize,
    pub epochs: usize,
}

impl LrSchedule {
    /// The learning rate of optimizer step `t` (1-based) of the run.
    pub fn at(&self, t: u32) -> f32 {
        let per = self.steps_per_epoch.max(1) as f64;
        let total = (per * self.epochs.max(1) as f64).max(1.0);
        // Epochs completed before this step, and the fraction of the run.
        let done = (t.max(1) - 1) as f64 / per;
        let frac = (((t.max(1) - 1) as f64) / total).min(1.0);
        let base = self.base as f64;
        let lr = match self.schedule {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powf((done / every).floor()),
            Schedule::Exponential { gamma } => base * gamma.powf(done.floor()),
            Schedule::Cosine => base * 0.5 * (1.0 + (PI * frac).cos()),
            Schedule::OneCycle { max_lr } => {
                let max = max_lr.unwrap_or(base);
                let (start, end, up) = (max / 25.0, max / 25e4, 0.3);
                let cos = |a: f64, b: f64, p: f64| b + (a - b) * 0.5 * (1.0 + (PI * p).cos());
                if frac < up {
                    cos(start, max, frac / up)
                } else {
                    cos(max, end, (frac - up) / (1.0 - up))
                }
            }
        };
        let warm = if self.warmup_epochs > 0.0 {
            ((done + 1.0 / per) / self.warmup_epochs).min(1.0)
        } else {
            1.0
        };
        (lr * warm) as f32
    }
}

/// Keras' ReduceLROnPlateau: after `patience` epochs without improvement of the monitored value
/// by more than `min_delta`, multiply the learning rate by `factor`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    pub patience: usize,
    pub factor: f32,
    pub min_delta: f32,
}

impl FromStr for Plateau {
    type Err = Error;

    /// `PATIENCE[,FACTOR]`; FACTOR defaults to Keras' 0.1, min_delta is Keras' 1e-4.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::msg(format!(
                "--reduce-lr-on-plateau `{s}`: expected PATIENCE[,FACTOR], a whole number of epochs and a factor in (0, 1)"
            ))
        };
        let mut it = s.split(',');
        let patience = it
            .next()
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(bad)?;
        let factor = match it.next() {
            Some(f) => f.trim().parse::<f32>().map_err(|_| bad())?,
            None => 0.1,
        };
        if it.next().is_some() || !(factor > 0.0 && factor < 1.0) {
            return Err(bad());
        }
        Ok(Self {
            patience,
            factor,
            min_delta: 1e-4,
        })
    }
}

/// Keras' EarlyStopping with `restore_best_weights`: stop after `patience` epochs without an
/// improvement of more than `min_delta`, and go back to the best epoch's weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub patience: usize,
    pub min_delta: f32,
}

impl FromStr for EarlyStop {
    type Err = Error;

    /// `PATIENCE[,MIN_DELTA]`; MIN_DELTA defaults to Keras' 0.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::msg(format!(
                "--early-stopping `{s}`: expected PATIENCE[,MIN_DELTA], a whole number of epochs and a number >= 0"
            ))
        };
        let mut it = s.split(',');
        let patience = it
            .next()
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(bad)?;
        let min_delta = match it.next() {
            Some(f) => f.trim().parse::<f32>().map_err(|_| bad())?,
            None => 0.0,
        };
        if it.next().is_some() || !(min_delta >= 0.0 && min_delta.is_finite()) {
            return Err(bad());
        }
        Ok(Self {
            patience,
            min_delta,
        })
    }
}

/// The value early stopping and reduce-on-plateau watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Monitor {
    #[default]
    ValLoss,
    ValAccuracy,
}

impl FromStr for Monitor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "val_loss" => Ok(Self::ValLoss),
            "val_accuracy" => Ok(Self::ValAccuracy),
            _ => Err(Error::msg(format!(
                "--monitor `{s}`: expected val_loss or val_accuracy"
            ))),
        }
    }
}

impl std::fmt::Display for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ValLoss => "val_loss",
            Self::ValAccuracy => "val_accuracy",
        })
    }
}

impl Monitor {
    /// Whether `now` improves on `best` by more than `min_delta` (lower loss, higher accuracy).
    pub fn improves(self, now: f32, best: Option<f32>, min_delta: f32) -> bool {
        match (self, best) {
            (_, None) => true,
            (Self::ValLoss, Some(b)) => now < b - min_delta,
            (Self::ValAccuracy, Some(b)) => now > b + min_delta,
        }
    }
}

/// What the two watchers remember between epochs (saved with the training state).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    /// Reduce-on-plateau: the best value seen, epochs since, and the factor applied so far.
    pub plateau_best: Option<f32>,
    pub plateau_wait: usize,
    pub lr_scale: Option<f32>,
    /// Early stopping: the best value, its epoch, epochs since, and where it stopped.
    pub best: Option<f32>,
    pub best_epoch: usize,
    pub wait: usize,
    pub stopped_epoch: Option<usize>,
}

impl Watch {
    /// The factor reduce-on-plateau has applied to the learning rate so far.
    pub fn scale(&self) -> f32 {
        self.lr_scale.unwrap_or(1.0)
    }
}
