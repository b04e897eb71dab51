//! Per-epoch training history, saved as CSV.

use std::path::Path;

use wgnn_engine::error::{Error, Result};

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
    /// Learning rate of the epoch's last step (absent in histories written before it was kept).
    pub lr: Option<f32>,
}

/// Training history, one record per epoch.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct History {
    pub records: Vec<EpochRecord>,
}

/// CSV header written by [`History::to_csv`].
pub const CSV_HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,lr";
/// The header of histories written before the learning rate was recorded (still read).
const CSV_HEADER_NO_LR: &str = "epoch,loss,accuracy,val_loss,val_accuracy,seconds";

fn opt(v: Option<f32>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    pub fn push(&mut self, r: EpochRecord) {
        self.records.push(r);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether any epoch has validation metrics.
    pub fn has_validation(&self) -> bool {
        self.records
            .iter()
            .any(|r| r.val_loss.is_some() || r.val_accuracy.is_some())
    }

    /// CSV with header `epoch,loss,accuracy,val_loss,val_accuracy,seconds,lr`;
    /// missing values are empty fields.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(CSV_HEADER);
        s.push('\n');
        for r in &self.records {
            s.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.epoch,
                r.loss,
                r.accuracy,
                opt(r.val_loss),
                opt(r.val_accuracy),
                r.seconds,
                opt(r.lr)
            ));
        }
        s
    }

    /// Parses CSV written by [`History::to_csv`]. `origin` names the source in
    /// errors (`"<origin>: line 3: ..."`).
    pub fn from_csv_named(text: &str, origin: &str) -> Result<History> {
        let err = |m: String| Error::file(origin, m);
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let fields = match lines.next() {
            Some((_, h)) if h.trim() == CSV_HEADER => 7,
            Some((_, h)) if h.trim() == CSV_HEADER_NO_LR => 6,
            Some((_, h)) => {
                return Err(err(format!(
                    "line 1: expected header \"{CSV_HEADER}\", found \"{}\"",
                    h.trim()
                )))
            }
            None => return Err(err("empty history file (no header)".into())),
        };
        let mut records = Vec::new();
        for (i, line) in lines {
            let ln = i + 1;
            let f: Vec<&str> = line.trim().split(',').map(str::trim).collect();
            if f.len() != fields {
                return Err(err(format!(
                    "line {ln}: expected {fields} fields, found {}",
                    f.len()
                )));
            }
            let num = |j: usize, name: &str| -> Result<f64> {
                f[j].parse::<f64>()
                    .map_err(|_| err(format!("line {ln}: {name} \"{}\" is not a number", f[j])))
            };
            let optn = |j: usize, name: &str| -> Result<Option<f32>> {
                if f[j].is_empty() {
                    Ok(None)
                } else {
                    num(j, name).map(|v| Some(v as f32))
                }
            };
            records.push(EpochRecord {
                epoch: f[0].parse().map_err(|_| {
                    err(format!(
                        "line {ln}: epoch \"{}\" is not a whole number",
                        f[0]
                    ))
                })?,
                loss: num(1, "loss")? as f32,
                accuracy: num(2, "accuracy")? as f32,
                val_loss: optn(3, "val_loss")?,
                val_accuracy: optn(4, "val_accuracy")?,
                seconds: num(5, "seconds")?,
                lr: if fields == 7 { optn(6, "lr")? } else { None },
            });
        }
        Ok(History { records })
    }

    /// Parses CSV written by [`History::to_csv`].
    pub fn from_csv(text: &str) -> Result<History> {
        Self::from_csv_named(text, "history")
    }

    /// Reads a history CSV file.
    pub fn read_csv(path: &Path) -> Result<History> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_csv_named(&text, &path.display().to_string())
    }

    /// Writes the history CSV atomically.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        wgnn_engine::util::fs::write_atomic(path, self.to_csv().as_bytes())
    }
}
