//! The training loop, as Keras' `fit`: the validation set is the tail of the training data, the
//! rest is reshuffled every epoch; metrics per epoch; the test set evaluated at the end.
//!
//! The loop owns every per-step value (the learning rate of each step) and can hand out its whole
//! state at any group boundary: a checkpoint is due at the start, at the end of every epoch, every
//! `checkpoint_every` steps and when a stop is requested. Started from such a state it continues
//! exactly where that one left off.

use std::ops::ControlFlow;
use std::time::Instant;

use super::history::{EpochRecord, History};
use super::state::{LoopState, Reached, RunConfig, TrainState};
use super::watch::Monitor;
use wgnn_data::{Dataset, Splits};
use wgnn_engine::error::{Error, Result};
use wgnn_engine::graph::{Backend, EpochStats, MemoryUse, Pass, Progress, Tensors};
use wgnn_engine::model::schedule::LrSchedule;
use wgnn_engine::model::Validation;
use wgnn_engine::util::rng::Rng;

const TRAIN: usize = 0;
const TEST: usize = 1;

impl RunConfig {
    fn lr_schedule(&self, steps_per_epoch: usize) -> LrSchedule {
        LrSchedule {
            base: self.lr,
            schedule: self.schedule,
            warmup_epochs: self.warmup_epochs,
            steps_per_epoch,
            epochs: self.epochs,
        }
    }
}

/// What the loop tells the outside, and asks of it (Keras' callbacks).
pub trait Callbacks {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    fn progress(&mut self, _p: Progress) {}
    fn epoch_end(&mut self, _record: &EpochRecord, _memory: Option<MemoryUse>) {}
    fn phase(&mut self, _what: &str) {}
    /// How the backend holds each data set it was given ("training", "held whole on the GPU"),
    /// where it says.
    fn residency(&mut self, _sets: &[(&str, String)]) {}
    /// Test accuracy after an epoch (only in `target_accuracy` runs).
    fn test_accuracy(&mut self, _epoch: usize, _accuracy: f32, _train_seconds: f64) {}
    /// A checkpoint is due: here is the whole state to write.
    fn checkpoint(&mut self, _state: &TrainState) -> Result<()> {
        Ok(())
    }
    /// Asked after every group of steps: true ends training at the next group boundary, with a
    /// checkpoint.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// How `fit` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every epoch ran (or the target accuracy was reached), and the test set was evaluated.
    Finished,
    /// A stop was requested; the last checkpoint is at this point (`step` steps into epoch
    /// `epoch + 1`).
    Stopped { epoch: usize, step: usize },
}

pub struct FitResult {
    pub outcome: Outcome,
    pub history: History,
    /// The test set's evaluation, with predictions (empty when stopped).
    pub test: EpochStats,
    pub train_samples: usize,
    pub val_samples: usize,
    /// Seconds of the training epochs over the whole run, resumed parts included (validation
    /// passes included, test passes excluded).
    pub train_seconds: f64,
    pub images_per_second: f64,
    /// Set when `target_accuracy` was given and reached.
    pub reached: Option<Reached>,
    /// Test accuracy after each epoch (only with `target_accuracy`).
    pub test_accuracy_per_epoch: Vec<f32>,
    /// GPU memory in use after each epoch of this process (empty where not reported).
    pub memory: Vec<MemoryUse>,
    /// Where early stopping ended the run, and the epoch whose weights it restored.
    pub early_stopped: Option<EarlyStopped>,
}

/// Where early stopping stopped, and why.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EarlyStopped {
    pub stopped_epoch: usize,
    pub best_epoch: usize,
    pub monitor: Monitor,
    pub best: f32,
    pub patience: usize,
    pub min_delta: f32,
}

/// The training images a run uses and how many of them are held out for validation.
/// The settings are checked here (`RunConfig::validate`), before anything is read or loaded.
pub fn split(data: &Splits, cfg: &RunConfig) -> Result<(Dataset, usize)> {
    cfg.validate()?;
    let train = match cfg.limit {
        Some(n) => data.train.take(n),
        None => data.train.clone(),
    };
    let n_total = train.len();
    let n_val = match cfg.validation {
        Validation::Split(f) => n_total - wgnn_data::split_validation(&train, f)?.0.len(),
        Validation::LastN(n) => n.min(n_total / 2),
    };
    if n_total == n_val {
        return Err(Error::msg(format!(
            "no training images left ({n_total} images, {n_val} for validation)"
        )));
    }
    Ok((train, n_val))
}

/// Train `backend` on `data` for `cfg.epochs`, then (with `evaluate_test`) evaluate on the test
/// set, with predictions; a search leaves the test set to the one trial it chooses.
/// With `start`, training continues from that state instead of from the backend's own.
pub fn fit(
    backend: &mut dyn Backend,
    data: &Splits,
    cfg: &RunConfig,
    evaluate_test: bool,
    start: Option<TrainState>,
    cb: &mut dyn Callbacks,
) -> Result<FitResult> {
    let mut l = Loop::new(backend, data, cfg, cb)?;
    l.start(start)?;
    while !l.finished() {
        let epoch = l.ls.epoch + 1;
        if !l.train_epoch(epoch)? {
            return Ok(l.into_result(EpochStats::default()));
        }
        l.end_epoch(epoch)?;
        if l.cb.stop_requested() && !l.finished() {
            return Ok(l.into_result(EpochStats::default()));
        }
    }
    let test = if evaluate_test {
        l.cb.phase("evaluating on the test set");
        let order = &l.test_order;
        on_average(l.backend, |b| b.eval(TEST, order, true))?
    } else {
        EpochStats::default()
    };
    Ok(l.into_result(test))
}

/// The training loop's fixed parts (the backend, the callbacks, the sizes and orders) and its
/// state (where it stands, the data order, the best weights, memory reports).
struct Loop<'a> {
    backend: &'a mut dyn Backend,
    cb: &'a mut dyn Callbacks,
    cfg: &'a RunConfig,
    sched: LrSchedule,
    batch: usize,
    steps: usize,
    n_train: usize,
    n_val: usize,
    val_order: Vec<u32>,
    test_order: Vec<u32>,
    ls: LoopState,
    order: Vec<u32>,
    best: Option<(Tensors, Tensors)>,
    memory: Vec<MemoryUse>,
}

impl<'a> Loop<'a> {
    /// Checks the settings (through `split`) and the data, and loads the data onto the backend.
    fn new(
        backend: &'a mut dyn Backend,
        data: &Splits,
        cfg: &'a RunConfig,
        cb: &'a mut dyn Callbacks,
    ) -> Result<Self> {
        let (train, n_val) = split(data, cfg)?;
        if n_val == 0 && (cfg.plateau.is_some() || cfg.early_stopping.is_some()) {
            return Err(Error::msg(format!(
                "early stopping and reduce-on-plateau watch {}: they need validation images (a validation split above 0)",
                cfg.monitor
            )));
        }
        let n_total = train.len();
        let n_train = n_total - n_val;
        // One upload: the validation images are the tail of the training data set.
        backend.set_augment(cfg.augment);
        backend.load(TRAIN, train.host(train.len()))?;
        // An image folder without test/ has no test set to load.
        if !data.test.is_empty() {
            backend.load(TEST, data.test.host(data.test.len()))?;
        }
        let held: Vec<(&str, String)> = [("training", TRAIN), ("test", TEST)]
            .into_iter()
            .filter_map(|(name, id)| Some((name, backend.residency(id)?)))
            .collect();
        cb.residency(&held);
        let batch = backend.batch_size();
        let steps = n_train.div_ceil(batch);
        Ok(Self {
            sched: cfg.lr_schedule(steps),
            backend,
            cb,
            cfg,
            batch,
            steps,
            n_train,
            n_val,
            val_order: (n_train as u32..n_total as u32).collect(),
            test_order: (0..data.test.len() as u32).collect(),
            ls: LoopState::default(),
            order: Vec::new(),
            best: None,
            memory: Vec::new(),
        })
    }

    /// From `start`, or from the beginning (checkpointed at once, so a run killed before its
    /// first epoch ends can still be resumed).
    fn start(&mut self, start: Option<TrainState>) -> Result<()> {
        match start {
            Some(s) => {
                if s.order.len() != self.n_train {
                    return Err(Error::msg(format!(
                        "the saved run trained on {} images per epoch, this one has {}",
                        s.order.len(),
                        self.n_train
                    )));
                }
                self.backend.set_state(&s.graph)?;
                (self.best, self.ls, self.order) = (s.best, s.progress, s.order);
                Ok(())
            }
            None => {
                self.ls = LoopState {
                    rng: Rng::new(self.cfg.seed).state(),
                    lr: self.sched.at(1),
                    ..LoopState::default()
                };
                self.order = (0..self.n_train as u32).collect();
                self.save().map_err(|e| at(0, 0, e))
            }
        }
    }

    fn finished(&self) -> bool {
        let ls = &self.ls;
        ls.epoch >= self.cfg.epochs || ls.reached.is_some() || ls.watch.stopped_epoch.is_some()
    }

    fn save(&mut self) -> Result<()> {
        save(&*self.backend, self.cb, &self.ls, &self.order, &self.best)
    }

    /// The training steps of `epoch` (from where it stands): false when a stop was requested
    /// and the run saved.
    fn train_epoch(&mut self, epoch: usize) -> Result<bool> {
        if self.ls.step == 0 {
            let mut rng = Rng::from_state(self.ls.rng);
            rng.shuffle(&mut self.order);
            self.ls.rng = rng.state();
            self.ls.partial = Default::default();
            self.ls.partial_seconds = 0.0;
        }
        self.cb.epoch_start(epoch, self.cfg.epochs, self.steps);
        while self.ls.step < self.steps {
            self.train_steps(epoch)?;
            if self.ls.step < self.steps {
                self.save().map_err(|e| at(epoch, self.ls.step, e))?;
                if self.cb.stop_requested() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Steps up to the next checkpoint (or the end of the epoch), or fewer when a stop is
    /// requested.
    fn train_steps(&mut self, epoch: usize) -> Result<()> {
        let (t0, steps, first) = (Instant::now(), self.steps, self.ls.step);
        let t = self.backend.steps_done();
        let end = match self.cfg.checkpoint_every {
            Some(n) => (first + n - t as usize % n).min(steps),
            None => steps,
        };
        let scale = self.ls.watch.scale();
        let lrs: Vec<f32> = (0..end - first)
            .map(|k| self.sched.at(t + 1 + k as u32) * scale)
            .collect();
        let part = &self.order[first * self.batch..(end * self.batch).min(self.n_train)];
        let pass = Pass::train(TRAIN, part, &lrs)
            .continuing(self.ls.partial)
            .smoothed(self.cfg.label_smoothing)
            .augmented(self.cfg.augment.is_some());
        let cb = &mut *self.cb;
        let r = self
            .backend
            .run(&pass, &mut |p| {
                cb.progress(Progress {
                    step: first + p.step,
                    steps,
                    ..p
                });
                match cb.stop_requested() {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(()),
                }
            })
            .map_err(|e| match e {
                Error::Diverged { step, loss } => Error::msg(format!(
                    "training diverged in epoch {epoch} by step {} of {steps}: the loss is {loss} (try a lower learning rate)",
                    first + step
                )),
                e => e,
            })?;
        self.ls.partial = r.metrics;
        self.ls.step = first + r.steps;
        if r.steps > 0 {
            self.ls.lr = lrs[r.steps - 1];
        }
        let secs = t0.elapsed().as_secs_f64();
        self.ls.partial_seconds += secs;
        self.ls.train_seconds += secs;
        Ok(())
    }

    /// Validation, the epoch's record, the watchers, the test-accuracy target and the epoch's
    /// checkpoint.
    fn end_epoch(&mut self, epoch: usize) -> Result<()> {
        let record = self.validate(epoch)?;
        self.ls.history.push(record.clone());
        self.ls.epoch = epoch;
        self.ls.step = 0;
        let monitored = match self.cfg.monitor {
            Monitor::ValLoss => record.val_loss,
            Monitor::ValAccuracy => record.val_accuracy,
        };
        if let Some(v) = monitored {
            watch(
                &mut *self.backend,
                self.cfg,
                &mut self.ls,
                &mut self.best,
                v,
                self.cb,
            )?;
        }
        if let Some(target) = self.cfg.target_accuracy {
            self.test_target(epoch, target)?;
        }
        self.save().map_err(|e| at(epoch, self.steps, e))?;
        let mem = self.backend.memory();
        self.memory.extend(mem);
        self.cb.epoch_end(&record, mem);
        if let (Some(stopped), Some(es)) = (self.ls.watch.stopped_epoch, self.cfg.early_stopping) {
            self.cb.phase(&format!(
                "early stopping after epoch {stopped}: {} did not improve by more than {} for {} epochs; restored the weights of epoch {}",
                self.cfg.monitor, es.min_delta, es.patience, self.ls.watch.best_epoch
            ));
        }
        Ok(())
    }

    /// The validation pass (on the clock) and the record of `epoch`.
    fn validate(&mut self, epoch: usize) -> Result<EpochRecord> {
        let t0 = Instant::now();
        let (val_loss, val_accuracy) = if self.n_val > 0 {
            let order = &self.val_order;
            let v = on_average(self.backend, |b| b.eval(TRAIN, order, false))?;
            (Some(v.loss), Some(v.accuracy))
        } else {
            (None, None)
        };
        let secs = t0.elapsed().as_secs_f64();
        self.ls.train_seconds += secs;
        Ok(EpochRecord {
            epoch,
            loss: self.ls.partial.mean_loss(),
            accuracy: self.ls.partial.accuracy(),
            val_loss,
            val_accuracy,
            seconds: self.ls.partial_seconds + secs,
            lr: Some(self.ls.lr),
        })
    }

    /// Benchmark mode: the test accuracy after `epoch` (off the clock), and whether it reached
    /// `target`.
    fn test_target(&mut self, epoch: usize, target: f32) -> Result<()> {
        let order = &self.test_order;
        let acc = on_average(self.backend, |b| b.eval(TEST, order, false))?.accuracy;
        self.cb.test_accuracy(epoch, acc, self.ls.train_seconds);
        self.ls.test_accuracy_per_epoch.push(acc);
        if acc >= target {
            self.ls.reached = Some(Reached {
                epoch,
                test_accuracy: acc,
                train_seconds: self.ls.train_seconds,
            });
        }
        Ok(())
    }

    /// The result so far: finished when the loop ran out, else stopped where it stands.
    fn into_result(self, test: EpochStats) -> FitResult {
        let outcome = match self.finished() {
            true => Outcome::Finished,
            false => Outcome::Stopped {
                epoch: self.ls.epoch,
                step: self.ls.step,
            },
        };
        FitResult {
            outcome,
            test,
            ..summary(self.ls, self.cfg, self.n_train, self.n_val, self.memory)
        }
    }
}

/// `f` on the weights that evaluation uses: the moving average where the backend keeps one
/// (swapped in for the call, and back after it whatever `f` returns).
fn on_average<T>(
    backend: &mut dyn Backend,
    f: impl FnOnce(&mut dyn Backend) -> Result<T>,
) -> Result<T> {
    let swapped = backend.swap_average()?;
    let out = f(&mut *backend);
    if swapped {
        backend.swap_average()?;
    }
    out
}

/// A non-finite tensor found when checkpointing is divergence; other errors pass as they are.
fn at(epoch: usize, step: usize, e: Error) -> Error {
    match e {
        Error::NonFinite(what) => Error::msg(format!(
            "training diverged in epoch {epoch} by step {step}: {what} (try a lower learning rate)"
        )),
        e => e,
    }
}

/// Reduce-on-plateau and early stopping, after an epoch whose monitored value is `v`.
fn watch(
    backend: &mut dyn Backend,
    cfg: &RunConfig,
    ls: &mut LoopState,
    best: &mut Option<(Tensors, Tensors)>,
    v: f32,
    cb: &mut dyn Callbacks,
) -> Result<()> {
    let w = &mut ls.watch;
    if let Some(p) = cfg.plateau {
        if cfg.monitor.improves(v, w.plateau_best, p.min_delta) {
            (w.plateau_best, w.plateau_wait) = (Some(v), 0);
        } else {
            w.plateau_wait += 1;
            if w.plateau_wait >= p.patience {
                w.lr_scale = Some(w.scale() * p.factor);
                w.plateau_wait = 0;
                cb.phase(&format!(
                    "{} did not improve for {} epochs: learning rate x{} from now on",
                    cfg.monitor,
                    p.patience,
                    w.scale()
                ));
            }
        }
    }
    if let Some(es) = cfg.early_stopping {
        if cfg.monitor.improves(v, w.best, es.min_delta) {
            (w.best, w.best_epoch, w.wait) = (Some(v), ls.epoch, 0);
            *best = Some(on_average(backend, |b| b.params())?);
        } else {
            w.wait += 1;
            if w.wait >= es.patience {
                w.stopped_epoch = Some(ls.epoch);
                if let Some((params, stats)) = best.as_ref() {
                    backend.set_params(params, stats)?;
                }
            }
        }
    }
    Ok(())
}

fn save(
    backend: &dyn Backend,
    cb: &mut dyn Callbacks,
    ls: &LoopState,
    order: &[u32],
    best: &Option<(Tensors, Tensors)>,
) -> Result<()> {
    cb.checkpoint(&TrainState {
        graph: backend.state()?,
        progress: ls.clone(),
        order: order.to_vec(),
        best: best.clone(),
    })
}

fn summary(
    ls: LoopState,
    cfg: &RunConfig,
    n_train: usize,
    n_val: usize,
    memory: Vec<MemoryUse>,
) -> FitResult {
    let images = (n_train * ls.history.len()) as f64;
    let early_stopped = match (ls.watch.stopped_epoch, cfg.early_stopping, ls.watch.best) {
        (Some(stopped_epoch), Some(es), Some(best)) => Some(EarlyStopped {
            stopped_epoch,
            best_epoch: ls.watch.best_epoch,
            monitor: cfg.monitor,
            best,
            patience: es.patience,
            min_delta: es.min_delta,
        }),
        _ => None,
    };
    FitResult {
        early_stopped,
        outcome: Outcome::Finished,
        test: EpochStats::default(),
        train_samples: n_train,
        val_samples: n_val,
        train_seconds: ls.train_seconds,
        images_per_second: images / ls.train_seconds.max(1e-9),
        reached: ls.reached,
        test_accuracy_per_epoch: ls.test_accuracy_per_epoch,
        history: ls.history,
        memory,
    }
}

/// Loss, accuracy, predictions and probabilities over every sample of `data`.
pub fn evaluate(backend: &mut dyn Backend, data: &Dataset) -> Result<EpochStats> {
    backend.load(TEST, data.host(data.len()))?;
    let order: Vec<u32> = (0..data.len() as u32).collect();
    backend.eval(TEST, &order, true)
}
