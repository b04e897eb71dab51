//! Confusion matrix and per-class metrics.

use wgnn_engine::error::{Error, Result};

/// Class `c` as a row of a table or plot names it: "3 Dress" where `names` say more than the
/// number (its first 16 characters), else "3".
pub fn class_label(names: &[String], c: usize) -> String {
    match names.get(c).filter(|n| **n != c.to_string()) {
        Some(n) => format!("{c} {}", n.chars().take(16).collect::<String>()),
        None => c.to_string(),
    }
}

/// Confusion matrix: `counts[true * classes + pred]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    pub classes: usize,
    /// Row = true class, column = predicted class.
    pub counts: Vec<u64>,
}

fn to_index<T: Copy + TryInto<usize>>(v: T, what: &str, i: usize, classes: usize) -> Result<usize> {
    match v.try_into() {
        Ok(c) if c < classes => Ok(c),
        _ => Err(Error::msg(format!(
            "{what} at index {i} is not a class in 0..{classes}"
        ))),
    }
}

impl Confusion {
    /// An all-zero matrix.
    pub fn new(classes: usize) -> Self {
        Confusion {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts (label, prediction) pairs. Lengths must agree and every value
    /// must be a class in `0..classes`.
    pub fn from_predictions<L, P>(labels: &[L], preds: &[P], classes: usize) -> Result<Self>
    where
        L: Copy + TryInto<usize>,
        P: Copy + TryInto<usize>,
    {
        if labels.len() != preds.len() {
            return Err(Error::msg(format!(
                "confusion matrix: {} labels but {} predictions",
                labels.len(),
                preds.len()
            )));
        }
        let mut m = Confusion::new(classes);
        for (i, (&l, &p)) in labels.iter().zip(preds).enumerate() {
            let t = to_index(l, "label", i, classes)?;
            let p = to_index(p, "prediction", i, classes)?;
            m.counts[t * classes + p] += 1;
        }
        Ok(m)
    }

    /// Adds one observation (ignored when out of range).
    pub fn add(&mut self, truth: usize, pred: usize) {
        if truth < self.classes && pred < self.classes {
            self.counts[truth * self.classes + pred] += 1;
        }
    }

    /// Count of samples of class `truth` predicted as `pred`.
    pub fn get(&self, truth: usize, pred: usize) -> u64 {
        if truth < self.classes && pred < self.classes {
            self.counts[truth * self.classes + pred]
        } else {
            0
        }
    }

    /// Number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Number of correct predictions.
    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.get(c, c)).sum()
    }

    /// Fraction of correct predictions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let t = self.total();
        if t == 0 {
            0.0
        } else {
            self.correct() as f64 / t as f64
        }
    }

    /// Of the samples predicted as `c`, the fraction that really are `c`
    /// (0 when nothing was predicted as `c`).
    pub fn precision(&self, c: usize) -> f64 {
        let predicted: u64 = (0..self.classes).map(|t| self.get(t, c)).sum();
        if predicted == 0 {
            0.0
        } else {
            self.get(c, c) as f64 / predicted as f64
        }
    }

    /// Of the samples of class `c`, the fraction predicted as `c` (0 when
    /// there are none).
    pub fn recall(&self, c: usize) -> f64 {
        let actual: u64 = (0..self.classes).map(|p| self.get(c, p)).sum();
        if actual == 0 {
            0.0
        } else {
            self.get(c, c) as f64 / actual as f64
        }
    }

    /// The matrix as text: rows = true class, columns = predicted class,
    /// followed by per-class precision and recall columns and the accuracy.
    pub fn table(&self) -> String {
        self.table_named(&[])
    }

    /// `table` with each row named by its class ("3 Dress") where `names` say more than the
    /// class number.
    pub fn table_named(&self, names: &[String]) -> String {
        let k = self.classes;
        let cw = self
            .counts
            .iter()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(k.saturating_sub(1).to_string().len())
            .max(3);
        let row = |t: usize| class_label(names, t);
        let lw = (0..k)
            .map(|t| row(t).chars().count())
            .max()
            .unwrap_or(0)
            .max("true\\pred".len());
        let mut s = format!("{:>lw$}", "true\\pred");
        for p in 0..k {
            s.push_str(&format!(" {p:>cw$}"));
        }
        s.push_str(" | precision  recall\n");
        let line_len = lw + k * (cw + 1);
        s.push_str(&"-".repeat(line_len));
        s.push_str("-+------------------\n");
        for t in 0..k {
            s.push_str(&format!("{:>lw$}", row(t)));
            for p in 0..k {
                s.push_str(&format!(" {:>cw$}", self.get(t, p)));
            }
            s.push_str(&format!(
                " | {:>8.2}%  {:>5.2}%\n",
                100.0 * self.precision(t),
                100.0 * self.recall(t)
            ));
        }
        s.push_str(&format!(
            "accuracy: {:.2}% ({} of {})\n",
            100.0 * self.accuracy(),
            self.correct(),
            self.total()
        ));
        s
    }
}
