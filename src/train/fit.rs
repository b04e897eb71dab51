//! The training loop, as Keras' `fit`: the validation set is the tail of the training data, the
//! rest is reshuffled every epoch; metrics per epoch; the test set evaluated at the end.

use std::time::Instant;

use crate::data::{Dataset, Mnist};
use crate::error::{Error, Result};
use crate::graph::{Backend, EpochStats, HostData, MemoryUse, Mode, Progress};
use crate::model::Validation;
use crate::report::{EpochRecord, History};
use crate::util::rng::Rng;

const TRAIN: usize = 0;
const TEST: usize = 1;

#[derive(Clone, Debug)]
pub struct FitConfig {
    pub epochs: usize,
    pub validation: Validation,
    pub seed: u64,
    /// Use only the first N training images.
    pub limit: Option<usize>,
    /// Benchmark mode: after each epoch, evaluate on the test set (off the training clock) and
    /// stop once test accuracy reaches this value.
    pub target_accuracy: Option<f32>,
}

/// When a `target_accuracy` run reached its target.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Reached {
    pub epoch: usize,
    pub test_accuracy: f32,
    /// Training seconds up to the end of that epoch (test evaluations excluded).
    pub train_seconds: f64,
}

/// Receives progress while training (the CLI draws bars from it).
pub trait Reporter {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    fn progress(&mut self, _p: Progress) {}
    fn epoch_end(&mut self, _record: &EpochRecord, _memory: Option<MemoryUse>) {}
    fn phase(&mut self, _what: &str) {}
    /// Test accuracy after an epoch (only in `target_accuracy` runs).
    fn test_accuracy(&mut self, _epoch: usize, _accuracy: f32, _train_seconds: f64) {}
}

pub struct FitResult {
    pub history: History,
    pub test: EpochStats,
    pub train_samples: usize,
    pub val_samples: usize,
    /// Wall time of the training epochs (validation passes included, test excluded).
    pub train_seconds: f64,
    pub images_per_second: f64,
    /// Set when `target_accuracy` was given and reached.
    pub reached: Option<Reached>,
    /// Test accuracy after each epoch (only with `target_accuracy`).
    pub test_accuracy_per_epoch: Vec<f32>,
    /// GPU memory in use after each epoch (empty where the backend does not report it).
    pub memory: Vec<MemoryUse>,
}

fn host(d: &Dataset) -> HostData<'_> {
    HostData {
        images: &d.images,
        labels: &d.labels,
        sample_len: d.image_size(),
    }
}

/// Train `backend` on `data` for `cfg.epochs`, then evaluate on the test set (with predictions).
pub fn fit(
    backend: &mut dyn Backend,
    data: &Mnist,
    cfg: &FitConfig,
    rep: &mut dyn Reporter,
) -> Result<FitResult> {
    let train = match cfg.limit {
        Some(0) => return Err(Error::msg("--limit must be at least 1")),
        Some(n) => data.train.take(n),
        None => data.train.clone(),
    };
    let n_total = train.len();
    let n_val = match cfg.validation {
        Validation::Split(f) => {
            if !(0.0..1.0).contains(&f) {
                return Err(Error::msg(format!(
                    "validation split {f} is outside [0, 1)"
                )));
            }
            n_total - crate::data::split_validation(&train, f)?.0.len()
        }
        Validation::LastN(n) => n.min(n_total / 2),
    };
    let n_train = n_total - n_val;
    if n_train == 0 {
        return Err(Error::msg(format!(
            "no training images left ({n_total} images, {n_val} for validation)"
        )));
    }
    // One upload: the validation images are the tail of the training data set.
    backend.load(TRAIN, host(&train))?;
    let mut rng = Rng::new(cfg.seed);
    let mut order: Vec<u32> = (0..n_train as u32).collect();
    let val_order: Vec<u32> = (n_train as u32..n_total as u32).collect();
    let mut history = History::new();
    let mut memory = Vec::new();
    if let Some(t) = cfg.target_accuracy {
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::msg(format!("target accuracy {t} is outside (0, 1]")));
        }
    }
    // Uploaded once: a target-accuracy run checks it after every epoch, and every run ends on it.
    backend.load(TEST, host(&data.test))?;
    let test_order: Vec<u32> = (0..data.test.len() as u32).collect();
    let (mut reached, mut test_accs) = (None, Vec::new());
    // Training time excludes the test passes of a target-accuracy run.
    let mut off_clock = 0f64;
    let start = Instant::now();
    let steps = n_train.div_ceil(backend.batch_size());
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        rng.shuffle(&mut order);
        rep.epoch_start(epoch, cfg.epochs, steps);
        let tr = backend.run(TRAIN, &order, Mode::Train, false, &mut |p| rep.progress(p))?;
        let (val_loss, val_accuracy) = if n_val > 0 {
            let v = backend.run(TRAIN, &val_order, Mode::Eval, false, &mut |_| {})?;
            (Some(v.loss), Some(v.accuracy))
        } else {
            (None, None)
        };
        let record = EpochRecord {
            epoch,
            loss: tr.loss,
            accuracy: tr.accuracy,
            val_loss,
            val_accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let mem = backend.memory();
        memory.extend(mem);
        rep.epoch_end(&record, mem);
        history.push(record);
        if let Some(target) = cfg.target_accuracy {
            let trained = start.elapsed().as_secs_f64() - off_clock;
            let t0 = Instant::now();
            let acc = backend
                .run(TEST, &test_order, Mode::Eval, false, &mut |_| {})?
                .accuracy;
            off_clock += t0.elapsed().as_secs_f64();
            rep.test_accuracy(epoch, acc, trained);
            test_accs.push(acc);
            if acc >= target {
                reached = Some(Reached {
                    epoch,
                    test_accuracy: acc,
                    train_seconds: trained,
                });
                break;
            }
        }
    }
    let epochs_run = history.len();
    let train_seconds = start.elapsed().as_secs_f64() - off_clock;
    rep.phase("evaluating on the test set");
    let test = backend.run(TEST, &test_order, Mode::Eval, true, &mut |_| {})?;
    Ok(FitResult {
        history,
        test,
        train_samples: n_train,
        val_samples: n_val,
        train_seconds,
        images_per_second: (n_train * epochs_run) as f64 / train_seconds.max(1e-9),
        reached,
        test_accuracy_per_epoch: test_accs,
        memory,
    })
}

/// Loss, accuracy, predictions and probabilities over every sample of `data`.
pub fn evaluate(backend: &mut dyn Backend, data: &Dataset) -> Result<EpochStats> {
    backend.load(TEST, host(data))?;
    let order: Vec<u32> = (0..data.len() as u32).collect();
    backend.run(TEST, &order, Mode::Eval, true, &mut |_| {})
}
