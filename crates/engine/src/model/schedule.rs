//! Learning-rate schedules: the optimizer's rate for every step of a run.
//!
//! A schedule maps the run's position (fractional epochs done before a step) to a multiple of
//! the base learning rate. A warm-up of F epochs ramps linearly from near 0 to the scheduled
//! value over the first F epochs. Reduce-on-plateau (`train::watch`) multiplies the result by a
//! factor the training loop keeps.

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
                "`{s}`: {why} (constant, step:EVERY:GAMMA, exponential:GAMMA, cosine or onecycle[:MAX_LR])"
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
