//! What a run writes to TensorBoard, in Keras' layout and tags: `logs/train/` gets
//! `epoch_loss`, `epoch_accuracy` and `epoch_learning_rate` per epoch (at step epoch - 1, as
//! Keras counts), `batch_loss` and `batch_accuracy` (the epoch's running means, as Keras logs
//! them) every N steps, a histogram of each parameter per epoch (tagged as Keras tags a
//! `Sequential` model's weights) and, at the end, the report's images; `logs/validation/` gets
//! `epoch_loss` and `epoch_accuracy`.
//!
//! Events wait for the checkpoint of the state they describe and are written just before it. A
//! run killed after its events but before its checkpoint resumes from the checkpoint before and
//! redoes those steps; it reads the event files first and leaves out every step they hold (a
//! resumed run repeats the same values bit for bit, so nothing is lost). Every step appears once.

use std::path::Path;

use wgnn_engine::error::Result;
use wgnn_engine::graph::Progress;

use prost::Message;

use super::proto::{Event, SummaryValue};
use super::record::records;
use super::writer::{histo_value, histogram, image, scalar, EventFile};
use crate::{EpochRecord, TrainState};

/// Which of the two event files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Train,
    Validation,
}

pub struct RunLogs {
    train: EventFile,
    validation: EventFile,
    /// Log the running loss every this many steps (none: per epoch only).
    every: Option<usize>,
    /// The last epoch whose records are written.
    written_epoch: usize,
    /// The last batch step the files held when this run began.
    last_written: usize,
    /// The step of the last batch record (or where the run began): the next comes `every`
    /// steps on.
    last_batch: usize,
    pending: Vec<(Set, i64, Vec<SummaryValue>)>,
    /// The histogram tag of each parameter, in the state's order.
    histogram_tags: Vec<String>,
}

impl RunLogs {
    /// New event files in `run_dir/logs/{train,validation}`, beside any that a stopped run left.
    /// A resumed run (`resumed`: its saved state) reads those first and writes only what they
    /// lack: the epochs of its history that are missing (a run started before wgnn wrote event
    /// files, or whose `logs` folder was removed), and batch records past the last one written. `params` names the
    /// parameters, in the state's order.
    pub fn create(
        run_dir: &Path,
        host: &str,
        every: Option<usize>,
        (params, resumed): (&[String], Option<&TrainState>),
    ) -> Result<RunLogs> {
        let logs = run_dir.join("logs");
        let (written_epoch, last_written) = logged(&logs.join("train"));
        let mut me = RunLogs {
            train: EventFile::create(&logs.join("train"), host)?,
            validation: EventFile::create(&logs.join("validation"), host)?,
            every: every.filter(|&n| n > 0),
            written_epoch,
            last_written,
            last_batch: resumed.map_or(0, |s| s.graph.t as usize),
            pending: Vec::new(),
            histogram_tags: params.iter().map(|p| histogram_tag(p)).collect(),
        };
        if let Some(state) = resumed {
            let done = state.progress.epoch;
            for r in &state.progress.history.records {
                if r.epoch > me.written_epoch && r.epoch <= done {
                    me.epoch_records(r, Vec::new());
                }
            }
            me.write_pending()?;
        }
        Ok(me)
    }

    /// The event files (train, validation).
    pub fn paths(&self) -> [&Path; 2] {
        [self.train.path(), self.validation.path()]
    }

    /// Progress in epoch `epoch` (1-based): the running loss and accuracy every `every` steps.
    pub fn progress(&mut self, epoch: usize, p: &Progress) {
        let (Some(every), Some(loss)) = (self.every, p.loss) else {
            return;
        };
        let step = (epoch - 1) * p.steps + p.step;
        if step / every == self.last_batch / every {
            return;
        }
        self.last_batch = step;
        if step <= self.last_written {
            return;
        }
        let mut v = vec![scalar("batch_loss", loss)];
        v.extend(p.accuracy.map(|a| scalar("batch_accuracy", a)));
        self.pending.push((Set::Train, step as i64, v));
    }

    /// `state` is about to be saved: at an epoch's end, its records and the histograms of
    /// its parameters join what waits, then everything waiting is written.
    pub fn saving(&mut self, state: &TrainState) -> Result<()> {
        let p = &state.progress;
        let record = p.history.records.last().filter(|r| r.epoch == p.epoch);
        if let (0, Some(r)) = (p.step, record) {
            if r.epoch > self.written_epoch {
                let histograms = self
                    .histogram_tags
                    .iter()
                    .zip(&state.graph.params)
                    .map(|(tag, t)| histo_value(tag, histogram(t)))
                    .collect();
                self.epoch_records(r, histograms);
            }
        }
        self.write_pending()
    }

    /// The records of epoch `r` (with `extra` values in the training file) join what waits.
    fn epoch_records(&mut self, r: &EpochRecord, extra: Vec<SummaryValue>) {
        self.written_epoch = r.epoch;
        let step = r.epoch as i64 - 1;
        let mut train = vec![
            scalar("epoch_loss", r.loss),
            scalar("epoch_accuracy", r.accuracy),
        ];
        train.extend(r.lr.map(|lr| scalar("epoch_learning_rate", lr)));
        train.extend(extra);
        self.pending.push((Set::Train, step, train));
        let val: Vec<SummaryValue> = [
            ("epoch_loss", r.val_loss),
            ("epoch_accuracy", r.val_accuracy),
        ]
        .into_iter()
        .filter_map(|(tag, v)| v.map(|v| scalar(tag, v)))
        .collect();
        if !val.is_empty() {
            self.pending.push((Set::Validation, step, val));
        }
    }

    fn write_pending(&mut self) -> Result<()> {
        for (set, step, values) in std::mem::take(&mut self.pending) {
            let file = match set {
                Set::Train => &mut self.train,
                Set::Validation => &mut self.validation,
            };
            file.summary(step, values)?;
        }
        Ok(())
    }

    /// The report's PNG images (`tag`, file), at the step of the last epoch.
    pub fn images(&mut self, images: &[(&str, &Path)]) -> Result<()> {
        let step = self.written_epoch.saturating_sub(1) as i64;
        let mut values = Vec::new();
        for &(tag, path) in images {
            let png = std::fs::read(path).map_err(|e| wgnn_engine::error::Error::io(path, e))?;
            if let Some([w, h]) = png_size(&png) {
                values.push(image(tag, png, h, w));
            }
        }
        self.train.summary(step, values)
    }
}

/// The tag of a parameter's histogram, as Keras' callback names the weights of a `Sequential`
/// model (`sequential/conv2d/kernel/histogram` for `conv2d.kernel`), so that TensorBoard draws a
/// wgnn run's and a Keras run's in one chart.
fn histogram_tag(param: &str) -> String {
    format!("sequential/{}/histogram", param.replace('.', "/"))
}

/// The last epoch and the last batch step that the event files in `dir` hold (0 for none).
fn logged(dir: &Path) -> (usize, usize) {
    let (mut epoch, mut batch) = (0, 0);
    for event in read_dir_events(dir) {
        let Some(summary) = &event.summary else {
            continue;
        };
        let step = usize::try_from(event.step).unwrap_or(0);
        for v in &summary.value {
            match v.tag.as_str() {
                "epoch_loss" => epoch = epoch.max(step + 1),
                "batch_loss" => batch = batch.max(step),
                _ => {}
            }
        }
    }
    (epoch, batch)
}

/// Every event of the event files in `dir`, file by file in name order.
pub fn read_dir_events(dir: &Path) -> Vec<Event> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents."))
    });
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .flat_map(|bytes| {
            records(&bytes)
                .into_iter()
                .filter_map(|r| Event::decode(r).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(png: &[u8]) -> Option<[u32; 2]> {
    let ihdr = png.get(12..24).filter(|_| png.starts_with(b"\x89PNG"))?;
    (&ihdr[..4] == b"IHDR").then_some(())?;
    let at = |i: usize| u32::from_be_bytes([ihdr[i], ihdr[i + 1], ihdr[i + 2], ihdr[i + 3]]);
    Some([at(4), at(8)])
}
