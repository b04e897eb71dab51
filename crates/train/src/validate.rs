//! A run's settings checked once, here, whoever built them (the command line's flags, a saved
//! run, a program): each error names the setting as [`RunConfig`] calls it, so the command line
//! can name its own flag for it.

use wgnn_engine::error::Error;
use wgnn_engine::model::Validation;

use crate::RunConfig;

/// A setting out of its range: `setting` is the [`RunConfig`] field, `problem` what is wrong
/// with its value ("must be at least 1").
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidSetting {
    pub setting: &'static str,
    pub problem: String,
}

impl std::fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the setting {} {}", self.setting, self.problem)
    }
}

impl From<InvalidSetting> for Error {
    fn from(e: InvalidSetting) -> Self {
        Error::msg(e.to_string())
    }
}

fn bad(setting: &'static str, problem: String) -> Result<(), InvalidSetting> {
    Err(InvalidSetting { setting, problem })
}

impl RunConfig {
    /// Every setting in its range, or the first that is not.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let at_least_one = || "must be at least 1".to_string();
        if self.batch_size == 0 {
            return bad("batch_size", at_least_one());
        }
        if self.epochs == 0 {
            return bad("epochs", at_least_one());
        }
        if self.limit == Some(0) {
            return bad("limit", at_least_one());
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every", at_least_one());
        }
        if self.log_every == Some(0) {
            return bad("log_every", at_least_one());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("must be a positive number (got {})", self.lr));
        }
        if let Validation::Split(f) = self.validation {
            if !(0.0..1.0).contains(&f) {
                return bad("validation", format!("must be in [0, 1) (got {f})"));
            }
        }
        self.validate_fractions()
    }

    fn validate_fractions(&self) -> Result<(), InvalidSetting> {
        if let Some(t) = self.target_accuracy {
            if !(t > 0.0 && t <= 1.0) {
                return bad(
                    "target_accuracy",
                    format!("must be a fraction in (0, 1] (got {t})"),
                );
            }
        }
        let smoothing = self.label_smoothing;
        if !(0.0..1.0).contains(&smoothing) {
            return bad(
                "label_smoothing",
                format!("must be in [0, 1) (got {smoothing})"),
            );
        }
        let wd = self.weight_decay;
        if !(wd >= 0.0 && wd.is_finite()) {
            return bad("weight_decay", format!("must be a number >= 0 (got {wd})"));
        }
        if let Some(m) = self.ema {
            if !(m.is_finite() && m > 0.0 && m < 1.0) {
                return bad(
                    "ema",
                    format!("must be a momentum in (0, 1), such as 0.99 or 0.999 (got {m})"),
                );
            }
        }
        let warmup = self.warmup_epochs;
        if !(warmup >= 0.0 && warmup.is_finite()) {
            return bad(
                "warmup_epochs",
                format!("must be a number of epochs >= 0 (got {warmup})"),
            );
        }
        Ok(())
    }
}
