//! `wgnn train`: fit a model, evaluate it on the test set, write the run folder.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::backend::{with_backend, BackendKind};
use crate::data::load_dir;
use crate::error::{Error, Result};
use crate::graph::{MemoryUse, Plan, Progress};
use crate::model::{thousands, ModelSpec, OptimizerKind, Validation};
use crate::ops::optim::Optimizer;
use crate::report::{confusion_png, curves_png, write_atomic, Confusion, EpochRecord};
use crate::runtime::AdapterChoice;
use crate::train::{checkpoint, fit, FitConfig, Reporter};

pub struct TrainArgs {
    pub model: ModelSpec,
    /// Start from this run folder's weights instead of a fresh initialisation.
    pub init_from: Option<PathBuf>,
    /// Print GPU memory in use after each epoch.
    pub verbose: bool,
    /// Benchmark: stop once test accuracy (checked after each epoch) reaches this.
    pub time_to_accuracy: Option<f32>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f32>,
    pub validation_split: Option<f32>,
    pub seed: u64,
    pub limit: Option<usize>,
    pub data_dir: PathBuf,
    pub backend: BackendKind,
    pub adapter: AdapterChoice,
    pub out: Option<PathBuf>,
}

const MIB: f64 = 1024.0 * 1024.0;

pub fn optimizer(kind: OptimizerKind, lr: f32) -> Optimizer {
    match kind {
        OptimizerKind::Sgd => Optimizer::sgd(lr),
        OptimizerKind::Adam => Optimizer::adam(lr),
        OptimizerKind::Rmsprop => Optimizer::rmsprop(lr),
    }
}

/// Keras-style progress: a bar per epoch on a terminal, then one line per epoch.
struct Console {
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
    steps: usize,
    verbose: bool,
}

impl Reporter for Console {
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
        if let (true, Some(m)) = (self.verbose, memory) {
            println!(
                "  GPU memory: {:.1} MiB allocated, {:.1} MiB reserved",
                m.allocated as f64 / MIB,
                m.reserved as f64 / MIB
            );
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
}

fn default_out(model: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut dir = PathBuf::from("runs").join(format!("{model}-{secs}"));
    let mut k = 1;
    while dir.exists() {
        dir = PathBuf::from("runs").join(format!("{model}-{secs}-{k}"));
        k += 1;
    }
    dir
}

pub fn run(a: TrainArgs) -> Result<()> {
    let d = &a.model.defaults;
    let epochs = a.epochs.unwrap_or(d.epochs);
    let batch = a.batch_size.unwrap_or(d.batch_size);
    let kind = a.optimizer.unwrap_or(d.optimizer);
    let lr = a.lr.unwrap_or(d.lr);
    if batch == 0 {
        return Err(Error::msg("--batch-size must be at least 1"));
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::msg(format!(
            "--lr must be a positive number (got {lr})"
        )));
    }
    if epochs == 0 {
        return Err(Error::msg("--epochs must be at least 1"));
    }
    if let Some(t) = a.time_to_accuracy {
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::msg(format!(
                "--time-to-accuracy must be a fraction in (0, 1] (got {t})"
            )));
        }
    }
    let validation = match a.validation_split {
        Some(f) if !(0.0..1.0).contains(&f) => {
            return Err(Error::msg(format!(
                "--validation-split must be in [0, 1) (got {f})"
            )))
        }
        Some(f) => Validation::Split(f),
        None => d.validation,
    };
    let out = a.out.clone().unwrap_or_else(|| default_out(&a.model.name));
    let data = load_dir(&a.data_dir)?;
    let plan = Plan::new(a.model.input, &a.model.layers, batch)?;
    if plan.input_len() != data.train.image_size() {
        return Err(Error::msg(format!(
            "model `{}` takes {:?} inputs but {} holds {}x{} images",
            a.model.name,
            a.model.input,
            a.data_dir.display(),
            data.train.height,
            data.train.width
        )));
    }
    data.check_labels(plan.classes)?;
    if plan.classes != data.classes {
        return Err(Error::msg(format!(
            "model `{}` has {} output classes but the data in {} has {}",
            a.model.name,
            plan.classes,
            a.data_dir.display(),
            data.classes
        )));
    }
    let cfg = FitConfig {
        epochs,
        validation,
        seed: a.seed,
        limit: a.limit,
        target_accuracy: a.time_to_accuracy,
    };
    let spec = a.model.clone();
    let (total, trainable) = spec.param_counts()?;
    // Read the starting weights before training, so a bad folder fails fast.
    let start = match &a.init_from {
        Some(dir) => Some(checkpoint::load_params(dir, &plan).map_err(|e| {
            Error::msg(format!(
                "--init-from {}: {e} (it must hold a run of model `{}`)",
                dir.display(),
                spec.name
            ))
        })?),
        None => None,
    };
    with_backend(
        a.backend,
        &a.adapter,
        plan.clone(),
        optimizer(kind, lr),
        a.seed,
        |backend| {
            if let Some((params, stats)) = &start {
                backend.set_params(params, stats)?;
            }
            println!(
                "Training `{}` ({} parameters, {} trainable) on {}: {} epochs, batch {}, {} lr {}",
                spec.name,
                thousands(total),
                thousands(trainable),
                backend.describe(),
                epochs,
                batch,
                kind,
                lr
            );
            let mut console = Console {
                bar: None,
                epoch: 0,
                epochs,
                steps: 0,
                verbose: a.verbose,
            };
            let r = fit(backend, &data, &cfg, &mut console)?;
            println!(
                "{} training images, {} validation images; {:.1}s of training, {:.0} images/s",
                r.train_samples, r.val_samples, r.train_seconds, r.images_per_second
            );
            println!(
                "Test loss: {:.4} - test accuracy: {:.4}",
                r.test.loss, r.test.accuracy
            );
            if let Some(target) = a.time_to_accuracy {
                match r.reached {
                    Some(t) => println!(
                        "Reached {target} test accuracy after {} epochs: {:.2}s of training",
                        t.epoch, t.train_seconds
                    ),
                    None => println!("Did not reach {target} test accuracy in {epochs} epochs"),
                }
            }
            let (params, stats) = backend.params()?;
            checkpoint::save(&out, &spec, &plan, &params, &stats)?;
            write_atomic(&out.join("history.csv"), r.history.to_csv().as_bytes())?;
            curves_png(&r.history, &out.join("curves.png"))?;
            let confusion =
                Confusion::from_predictions(&data.test.labels, &r.test.preds, plan.classes)?;
            confusion_png(&confusion, &out.join("confusion.png"))?;
            let metrics = serde_json::json!({
                "model": spec.name,
                "test_accuracy": r.test.accuracy,
                "test_loss": r.test.loss,
                "epochs": r.history.len(),
                "batch_size": batch,
                "optimizer": kind.to_string(),
                "lr": lr,
                "seed": a.seed,
                "train_images": r.train_samples,
                "validation_images": r.val_samples,
                "train_seconds": r.train_seconds,
                "train_images_per_second": r.images_per_second,
                "device": backend.describe(),
                "backend": backend.name(),
                "params": total,
                "trainable_params": trainable,
                "init_from": a.init_from.as_ref().map(|d| d.display().to_string()),
                "gpu_memory_per_epoch": r.memory,
                "time_to_accuracy": a.time_to_accuracy.map(|t| serde_json::json!({
                    // As typed (0.99), not as the nearest f32 widened (0.9900000095).
                    "target": t.to_string().parse::<f64>().unwrap_or(t as f64),
                    "reached": r.reached,
                    "test_accuracy_per_epoch": r.test_accuracy_per_epoch,
                })),
            });
            let text =
                serde_json::to_string_pretty(&metrics).map_err(|e| Error::msg(e.to_string()))?;
            write_atomic(&out.join("metrics.json"), text.as_bytes())?;
            println!(
                "Saved the model, history.csv, curves.png, confusion.png and metrics.json to {}",
                out.display()
            );
            Ok(())
        },
    )
}
