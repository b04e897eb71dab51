//! What the training loop watches between epochs: Keras' ReduceLROnPlateau and EarlyStopping,
//! and the monitored value they share.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use wgnn_engine::error::{Error, Result};

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
                "`{s}`: expected PATIENCE[,FACTOR], a whole number of epochs and a factor in (0, 1)"
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
                "`{s}`: expected PATIENCE[,MIN_DELTA], a whole number of epochs and a number >= 0"
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
                "`{s}`: expected val_loss or val_accuracy"
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
