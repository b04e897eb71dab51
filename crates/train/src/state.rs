//! Training state as one value: the graph's tensors (parameters, BN statistics, optimizer slots,
//! step count) and where the training loop stands (epoch, step, data order, running sums,
//! history). A checkpoint stores exactly this, so a resumed run continues bit for bit.

use serde::{Deserialize, Serialize};

use super::history::History;
use super::watch::{EarlyStop, Monitor, Plateau, Watch};
use wgnn_data::folder_scan::FolderOptions;
use wgnn_engine::graph::{GraphState, Metrics, Tensors};
use wgnn_engine::model::schedule::Schedule;
use wgnn_engine::model::{OptimizerKind, TrainDefaults, Validation};

/// When a `target_accuracy` run reached its target.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reached {
    pub epoch: usize,
    pub test_accuracy: f32,
    /// Training seconds up to the end of that epoch (test evaluations excluded).
    pub train_seconds: f64,
}

/// Where the training loop stands, besides the graph's tensors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps of epoch `epoch + 1` completed; 0 at an epoch boundary.
    pub step: usize,
    /// The data-order generator's state, after it drew the order of the epoch in progress.
    pub rng: u64,
    /// Sums over the steps of the epoch in progress.
    pub partial: Metrics,
    /// Seconds spent on the epoch in progress.
    pub partial_seconds: f64,
    /// Seconds of training so far (validation included; the test passes of a
    /// time-to-accuracy run excluded).
    pub train_seconds: f64,
    pub history: History,
    /// The learning rate of the last step taken.
    pub lr: f32,
    /// Test accuracy after each epoch (time-to-accuracy runs only).
    pub test_accuracy_per_epoch: Vec<f32>,
    /// When a time-to-accuracy run reached its target.
    pub reached: Option<Reached>,
    /// Reduce-on-plateau and early stopping.
    #[serde(default)]
    pub watch: Watch,
}

/// Everything needed to continue a run exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub graph: GraphState,
    pub progress: LoopState,
    /// The data order of the epoch in progress (or of the last one, at an epoch boundary):
    /// indices into the training images.
    pub order: Vec<u32>,
    /// Early stopping: the parameters and statistics of the best epoch so far.
    pub best: Option<(Tensors, Tensors)>,
}

impl TrainState {
    /// The first tensor holding NaN or infinity, in words (a checkpoint never holds one).
    /// `names` are the plan's parameter names then its statistic names.
    pub fn first_non_finite(&self, params: &[String], stats: &[String]) -> Option<String> {
        let bad = |t: &Vec<f32>| t.iter().any(|v| !v.is_finite());
        let g = &self.graph;
        let named = |ts: &[Vec<f32>], names: &[String]| {
            ts.iter()
                .position(bad)
                .map(|i| names.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
        };
        if let Some(n) = named(&g.params, params).or_else(|| named(&g.stats, stats)) {
            return Some(format!("tensor `{n}`"));
        }
        if let Some(n) = g.average.as_ref().and_then(|a| named(a, params)) {
            return Some(format!("the moving average of `{n}`"));
        }
        g.slots
            .iter()
            .find_map(|s| named(s, params))
            .map(|n| format!("the optimizer state of `{n}`"))
    }
}

/// What a run was started with: a resumed run must match it (except `epochs`, which may be
/// raised to train on).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub model: String,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub validation: Validation,
    pub seed: u64,
    pub limit: Option<usize>,
    pub data: DataId,
    pub epochs: usize,
    pub checkpoint_every: Option<usize>,
    /// TensorBoard's running loss every this many steps (`events::RunLogs`).
    #[serde(default)]
    pub log_every: Option<usize>,
    pub target_accuracy: Option<f32>,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub warmup_epochs: f64,
    #[serde(default)]
    pub plateau: Option<Plateau>,
    #[serde(default)]
    pub early_stopping: Option<EarlyStop>,
    #[serde(default)]
    pub monitor: Monitor,
    /// Decoupled weight decay (Keras 3's `weight_decay`).
    #[serde(default)]
    pub weight_decay: f32,
    #[serde(default)]
    pub label_smoothing: f32,
    #[serde(default)]
    pub augment: Option<wgnn_engine::ops::augment::Augment>,
    /// The momentum of the weights' moving average (Keras' `ema_momentum`), when one is kept:
    /// validation, the test set and the saved weights then use the average.
    #[serde(default)]
    pub ema: Option<f32>,
}

impl RunConfig {
    /// A new run of `model` on `data` with the model's training defaults (seed 42, watching the
    /// validation loss, nothing else on).
    pub fn from_defaults(model: &str, d: &TrainDefaults, data: DataId) -> Self {
        Self {
            model: model.to_string(),
            batch_size: d.batch_size,
            optimizer: d.optimizer,
            lr: d.lr,
            validation: d.validation,
            seed: 42,
            limit: None,
            data,
            epochs: d.epochs,
            checkpoint_every: None,
            log_every: None,
            target_accuracy: None,
            schedule: d.schedule,
            warmup_epochs: d.warmup_epochs,
            plateau: None,
            early_stopping: None,
            monitor: Monitor::default(),
            weight_decay: d.weight_decay,
            label_smoothing: d.label_smoothing,
            augment: d.augment,
            ema: d.ema,
        }
    }
}

impl Default for RunConfig {
    /// The default training settings (adam, lr 0.001, batch 128, 10 epochs, validation split
    /// 0.1, seed 42) on no particular model or data.
    fn default() -> Self {
        Self::from_defaults("", &TrainDefaults::default(), DataId::default())
    }
}

/// Which data a run trained on: the folder (or file) read, the dataset's name when it was asked
/// for by name, its class names, and a fingerprint of its contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataId {
    pub dir: String,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub class_names: Vec<String>,
    /// How an image folder was read (`--image-size`, `--color`, `--skip-bad-images`), so that
    /// resuming, `eval` and `predict --index` read it the same way; none in runs saved before
    /// it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderOptions>,
    /// The class count stated with `--classes` (labels numbered 0..N-1, some perhaps without
    /// images), so that resuming, `eval` and `predict --index` read the labels the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<u16>,
    pub train_images: usize,
    /// FNV-1a over the training labels and images.
    pub fingerprint: u64,
}

impl DataId {
    pub fn new(dir: &std::path::Path, images: &[u8], labels: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in labels.iter().chain(images) {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        Self {
            dir: dir.display().to_string(),
            train_images: labels.len(),
            fingerprint: h,
            ..Self::default()
        }
    }
}
