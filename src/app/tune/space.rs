//! The search space of `wgnn tune`: axes given as `--grid NAME=...`, the trials they make (the full
//! grid, or random draws with `--trials N`), and how a trial's values become a run's settings.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Layer, ModelSpec};
use crate::util::rng::Rng;

/// The axes a search can vary: training flags, and three model hyperparameters.
pub const AXES: &[&str] = &[
    "lr",
    "batch-size",
    "epochs",
    "optimizer",
    "weight-decay",
    "label-smoothing",
    "schedule",
    "warmup-epochs",
    "augment",
    "early-stopping",
    "ema",
    "dropout",
    "filters",
    "units",
];

/// Axes whose values are whole numbers.
const INTEGER: &[&str] = &["batch-size", "epochs"];

/// What one axis takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Listed values (each a flag value as typed).
    List(Vec<String>),
    /// Uniform in [lo, hi], or log-uniform (`log:lo..hi`): only with `--trials`.
    Range { lo: f64, hi: f64, log: bool },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Values,
}

impl std::str::FromStr for Axis {
    type Err = Error;

    /// `NAME=V1,V2,...`, `NAME=LO..HI` or `NAME=log:LO..HI`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Error::msg(format!("--grid `{s}`: {why}"));
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=VALUES, e.g. lr=1e-3,3e-4".into()))?;
        let name = name.trim().to_string();
        if !AXES.contains(&name.as_str()) {
            return Err(bad(format!(
                "`{name}` is not an axis (one of: {})",
                AXES.join(", ")
            )));
        }
        let rest = rest.trim();
        let (log, range) = match rest.strip_prefix("log:") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let values = match range.split_once("..") {
            Some((lo, hi)) => {
                let num = |v: &str| -> Result<f64> {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(format!("`{v}` is not a number")))
                };
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo >= hi || (log && lo <= 0.0) {
                    return Err(bad(format!(
                        "the range {lo}..{hi} must rise{}",
                        if log { " and start above 0" } else { "" }
                    )));
                }
                Values::Range { lo, hi, log }
            }
            None if log => return Err(bad("`log:` takes a range LO..HI".into())),
            None => {
                let list: Vec<String> = split_values(rest);
                if list.is_empty() {
                    return Err(bad("no values".into()));
                }
                Values::List(list)
            }
        };
        Ok(Axis { name, values })
    }
}

/// Values separated by commas, except inside a value that itself takes commas (augment's
/// `shift=2,rotate=10` and early stopping's `3,0.01`): those are separated by `;`.
fn split_values(s: &str) -> Vec<String> {
    let sep = if s.contains(';') { ';' } else { ',' };
    s.split(sep)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// One trial: a value for every axis, in axis order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub values: Vec<(String, String)>,
}

impl Trial {
    /// `lr=0.001 batch-size=64`
    pub fn label(&self) -> String {
        let parts: Vec<String> = self
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.join(" ")
    }

    pub fn get(&self, axis: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == axis)
            .map(|(_, v)| v.as_str())
    }
}

/// The trials of a search: every combination, or `trials` random draws from the seed.
pub fn trials(axes: &[Axis], draw: Option<usize>, seed: u64) -> Result<Vec<Trial>> {
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.name == a.name) {
            return Err(Error::msg(format!(
                "--grid: axis `{}` is given twice",
                a.name
            )));
        }
    }
    match draw {
        None => {
            let mut out = vec![Trial { values: Vec::new() }];
            for a in axes {
                let Values::List(list) = &a.values else {
                    return Err(Error::msg(format!(
                        "--grid {}: a range is drawn from, so it needs --trials N",
                        a.name
                    )));
                };
                out = out
                    .into_iter()
                    .flat_map(|t| {
                        list.iter().map(move |v| {
                            let mut t = t.clone();
                            t.values.push((a.name.clone(), v.clone()));
                            t
                        })
                    })
                    .collect();
            }
            Ok(out)
        }
        Some(0) => Err(Error::msg("--trials must be at least 1")),
        Some(n) => {
            let mut rng = Rng::new(seed ^ 0x7475_6e65);
            Ok((0..n)
                .map(|_| Trial {
                    values: axes
                        .iter()
                        .map(|a| (a.name.clone(), sample(a, &mut rng)))
                        .collect(),
                })
                .collect())
        }
    }
}

fn sample(a: &Axis, rng: &mut Rng) -> String {
    match &a.values {
        Values::List(list) => list[rng.below(list.len())].clone(),
        Values::Range { lo, hi, log } => {
            let u = rng.next_u64() as f64 / u64::MAX as f64;
            let v = if *log {
                (lo.ln() + u * (hi.ln() - lo.ln())).exp()
            } else {
                lo + u * (hi - lo)
            };
            if INTEGER.contains(&a.name.as_str()) {
                format!("{}", v.round() as u64)
            } else {
                // Four significant digits: readable in the results, exact to parse back.
                format!("{}", format!("{v:.3e}").parse::<f64>().unwrap_or(v))
            }
        }
    }
}

/// `spec` with the trial's model hyperparameters: `dropout` sets every dropout rate, `filters`
/// and `units` scale every convolution's filters and every hidden dense layer's units.
pub fn apply_to_model(spec: &ModelSpec, trial: &Trial) -> Result<ModelSpec> {
    let num = |axis: &str| -> Result<Option<f64>> {
        match trial.get(axis) {
            None => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .map(Some)
                .ok_or_else(|| {
                    Error::msg(format!("--grid {axis}: `{v}` is not a positive number"))
                }),
        }
    };
    let (dropout, filters, units) = (num("dropout")?, num("filters")?, num("units")?);
    if let Some(d) = dropout {
        if d >= 1.0 {
            return Err(Error::msg(format!("--grid dropout: {d} is not below 1")));
        }
        if !spec.layers.iter().any(|l| matches!(l, Layer::Dropout(_))) {
            return Err(Error::msg(format!(
                "--grid dropout: model `{}` has no Dropout layer",
                spec.name
            )));
        }
    }
    let scale =
        |n: usize, f: Option<f64>| f.map_or(n, |f| ((n as f64 * f).round() as usize).max(1));
    let last_dense = spec
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense(_)));
    let mut out = spec.clone();
    for (i, l) in out.layers.iter_mut().enumerate() {
        match l {
            Layer::Dropout(d) => d.rate = dropout.map_or(d.rate, |r| r as f32),
            Layer::Conv2D(c) => c.filters = scale(c.filters, filters),
            // The last dense layer gives the classes: its width is not a hyperparameter.
            Layer::Dense(d) if Some(i) != last_dense => d.units = scale(d.units, units),
            _ => {}
        }
    }
    Ok(out)
}
