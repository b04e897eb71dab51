//! What `wgnn train` shows while it runs: Keras' progress bar per epoch on a terminal, one line
//! per epoch, and the checkpoints it writes into the run folder.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::app::signals::StopSignals;
use crate::error::Result;
use crate::graph::{MemoryUse, Plan, Progress};
use crate::model::ModelSpec;
use crate::train::events::RunLogs;
use crate::train::{checkpoint, Callbacks, EpochRecord, RunConfig, TrainState};
use crate::util::fs::write_atomic;

const MIB: f64 = 1024.0 * 1024.0;

/// Keras-style progress (a bar per epoch on a terminal, then one line per epoch), checkpoints
/// into the run folder, and stops on Ctrl-C or SIGTERM.
pub struct Console<'a> {
    pub bar: Option<ProgressBar>,
    pub epoch: usize,
    pub epochs: usize,
    pub steps: usize,
    pub verbose: bool,
    pub run_dir: &'a Path,
    pub spec: &'a ModelSpec,
    pub plan: &'a Plan,
    pub run: &'a RunConfig,
    pub signals: &'a StopSignals,
    /// TensorBoard's event files in the run folder.
    pub logs: RunLogs,
}

impl Callbacks for Console<'_> {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        (self.epoch, self.epochs, self.steps) = (epoch, epochs, steps);
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(steps as u64);
            let style =
                ProgressStyle::with_template("{prefix} {pos}/{len} [{bar:30}] ETA {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("Epoch {epoch}/{epochs}"));
            self.bar = Some(bar);
        }
    }

    fn progress(&mut self, p: Progress) {
        self.logs.progress(self.epoch, &p);
        if let Some(bar) = &self.bar {
            bar.set_position(p.step as u64);
            if let (Some(l), Some(a)) = (p.loss, p.accuracy) {
                bar.set_message(format!("- loss: {l:.4} - accuracy: {a:.4}"));
            }
        }
    }

    fn epoch_end(&mut self, r: &EpochRecord, memory: Option<MemoryUse>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let mut line = format!(
            "Epoch {}/{} - {}/{} - {:.1}s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, self.epochs, self.steps, self.steps, r.seconds, r.loss, r.accuracy
        );
        if let (Some(l), Some(a)) = (r.val_loss, r.val_accuracy) {
            line += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
        }
        println!("{line}");
        if self.verbose {
            match memory {
                Some(m) => println!(
                    "  GPU memory: {:.1} MiB allocated, {:.1} MiB reserved",
                    m.allocated as f64 / MIB,
                    m.reserved as f64 / MIB
                ),
                None => println!("  GPU memory: not reported by this backend"),
            }
        }
    }

    fn residency(&mut self, sets: &[(&str, String)]) {
        if self.verbose {
            for (set, how) in sets {
                println!("  {set} set: {how}");
            }
        }
    }

    fn phase(&mut self, what: &str) {
        eprintln!("{what}...");
    }

    fn test_accuracy(&mut self, epoch: usize, accuracy: f32, train_seconds: f64) {
        println!(
            "  test accuracy after epoch {epoch}: {accuracy:.4} ({train_seconds:.2}s of training so far)"
        );
    }

    fn checkpoint(&mut self, state: &TrainState) -> Result<()> {
        crate::app::mapped::check()?;
        self.logs.saving(state)?;
        checkpoint::save(self.run_dir, self.spec, self.plan, self.run, state)?;
        // A copy for people and plots; the checkpoint's header holds the authoritative history,
        // which changes only at epoch boundaries.
        if state.progress.step != 0 {
            return Ok(());
        }
        write_atomic(
            &self.run_dir.join("history.csv"),
            state.progress.history.to_csv().as_bytes(),
        )
    }

    fn stop_requested(&self) -> bool {
        self.signals.received().is_some() || crate::app::mapped::check().is_err()
    }
}
