//! The end of a finished run: the summary lines, the plots and `metrics.json` ([`RunMetrics`],
//! which `compare` and `tune` read back).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{MemoryUse, Plan};
use crate::model::{ModelSpec, OptimizerKind};
use crate::report::{confusion_png_named, curves_png, Confusion};
use crate::train::{FitResult, Plateau, Reached, RunConfig};
use crate::util::fs::write_atomic;

/// The file a finished run writes last: its presence means the run finished.
pub const METRICS: &str = "metrics.json";

/// Early stopping as configured, and where it stopped the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingMetrics {
    pub patience: usize,
    pub min_delta: f32,
    pub monitor: String,
    /// Set when it stopped the run: the last epoch trained and the one restored.
    pub stopped: Option<StoppedMetrics>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoppedMetrics {
    pub stopped_epoch: usize,
    pub restored_epoch: usize,
    pub best: f32,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeToAccuracy {
    /// As typed (0.99), not as the nearest f32 widened (0.9900000095).
    pub target: f64,
    pub reached: Option<Reached>,
    pub test_accuracy_per_epoch: Vec<f32>,
}

/// A finished run's `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub model: String,
    /// Absent (null) when the test set was left for later (a search's trials).
    pub test_accuracy: Option<f32>,
    pub test_loss: Option<f32>,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub seed: u64,
    pub train_images: usize,
    pub validation_images: usize,
    pub train_seconds: f64,
    pub train_images_per_second: f64,
    pub device: String,
    pub backend: String,
    pub params: usize,
    pub trainable_params: usize,
    pub init_from: Option<String>,
    pub resumed: bool,
    pub schedule: String,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub augment: Option<String>,
    /// The momentum of the weights' moving average, which the validation and test figures used.
    pub ema: Option<f32>,
    pub warmup_epochs: f64,
    pub reduce_lr_on_plateau: Option<Plateau>,
    pub early_stopping: Option<EarlyStoppingMetrics>,
    pub gpu_memory_per_epoch: Vec<MemoryUse>,
    pub time_to_accuracy: Option<TimeToAccuracy>,
}

impl RunMetrics {
    /// The metrics of the run in `dir`; an error naming the file when it is missing or is not a
    /// run's metrics.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(METRICS);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("is not the metrics of a wgnn run ({e})")))
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::msg(e.to_string()))?;
        write_atomic(&dir.join(METRICS), text.as_bytes())
    }
}

/// Where the run ran and how it started, besides its settings and result.
pub struct Origin<'a> {
    pub device: String,
    pub backend: &'static str,
    pub init_from: Option<&'a Path>,
    pub resumed: bool,
}

fn metrics(r: &FitResult, run: &RunConfig, spec: &ModelSpec, o: &Origin) -> Result<RunMetrics> {
    let (total, trainable) = spec.param_counts()?;
    let tested = r.test.samples > 0;
    let early_stopping = run.early_stopping.map(|es| EarlyStoppingMetrics {
        patience: es.patience,
        min_delta: es.min_delta,
        monitor: run.monitor.to_string(),
        stopped: r.early_stopped.map(|s| StoppedMetrics {
            stopped_epoch: s.stopped_epoch,
            restored_epoch: s.best_epoch,
            best: s.best,
            reason: format!(
                "{} did not improve by more than {} for {} epochs",
                s.monitor, s.min_delta, s.patience
            ),
        }),
    });
    Ok(RunMetrics {
        model: spec.name.clone(),
        test_accuracy: tested.then_some(r.test.accuracy),
        test_loss: tested.then_some(r.test.loss),
        epochs: r.history.len(),
        batch_size: run.batch_size,
        optimizer: run.optimizer,
        lr: run.lr,
        seed: run.seed,
        train_images: r.train_samples,
        validation_images: r.val_samples,
        train_seconds: r.train_seconds,
        train_images_per_second: r.images_per_second,
        device: o.device.clone(),
        backend: o.backend.to_string(),
        params: total,
        trainable_params: trainable,
        init_from: o.init_from.map(|d| d.display().to_string()),
        resumed: o.resumed,
        schedule: run.schedule.to_string(),
        weight_decay: run.weight_decay,
        label_smoothing: run.label_smoothing,
        augment: run.augment.map(|a| a.to_string()),
        ema: run.ema,
        warmup_epochs: run.warmup_epochs,
        reduce_lr_on_plateau: run.plateau,
        early_stopping,
        gpu_memory_per_epoch: r.memory.clone(),
        time_to_accuracy: run.target_accuracy.map(|t| TimeToAccuracy {
            target: t.to_string().parse::<f64>().unwrap_or(t as f64),
            reached: r.reached,
            test_accuracy_per_epoch: r.test_accuracy_per_epoch.clone(),
        }),
    })
}

fn print_summary(r: &FitResult, run: &RunConfig) {
    println!(
        "{} training images, {} validation images; {:.1}s of training, {:.0} images/s",
        r.train_samples, r.val_samples, r.train_seconds, r.images_per_second
    );
    if r.test.samples > 0 {
        println!(
            "Test loss: {:.4} - test accuracy: {:.4}",
            r.test.loss, r.test.accuracy
        );
    }
    if let Some(target) = run.target_accuracy {
        match r.reached {
            Some(t) => println!(
                "Reached {target} test accuracy after {} epochs: {:.2}s of training",
                t.epoch, t.train_seconds
            ),
            None => println!(
                "Did not reach {target} test accuracy in {} epochs",
                run.epochs
            ),
        }
    }
}

/// The summary lines, history.csv, the plots and metrics.json of a finished run in `out`.
pub fn report(
    r: &FitResult,
    run: &RunConfig,
    (spec, plan): (&ModelSpec, &Plan),
    test_labels: &[u8],
    out: &Path,
    origin: &Origin,
) -> Result<()> {
    print_summary(r, run);
    let tested = r.test.samples > 0;
    write_atomic(&out.join("history.csv"), r.history.to_csv().as_bytes())?;
    curves_png(&r.history, &out.join("curves.png"))?;
    if tested {
        let confusion = Confusion::from_predictions(test_labels, &r.test.preds, plan.classes)?;
        confusion_png_named(
            &confusion,
            &run.data.class_names,
            &out.join("confusion.png"),
        )?;
    }
    metrics(r, run, spec, origin)?.write(out)?;
    println!(
        "Saved the model, history.csv, curves.png, {}metrics.json to {}",
        if tested { "confusion.png and " } else { "" },
        out.display()
    );
    Ok(())
}
