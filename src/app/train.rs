//! `wgnn train`: fit a model, evaluate it on the test set, write the run folder; or continue a
//! run from its checkpoint (`--resume`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::backend::{with_backend, BackendKind, GraphKind};
use super::signals::{self, StopSignals};
use crate::data::{load_dir, Mnist};
use crate::error::{Error, Result};
use crate::graph::{MemoryUse, Plan, Progress};
use crate::model::{thousands, ModelSpec, OptimizerKind, Validation};
use crate::report::{confusion_png, curves_png, Confusion};
use crate::runtime::AdapterChoice;
use crate::train::EpochRecord;
use crate::train::{
    checkpoint, fit, split, Callbacks, DataId, EarlyStop, FitConfig, FitResult, Monitor, Outcome,
    Plateau, RunConfig, Schedule, TrainState,
};
use crate::util::fs::write_atomic;

/// The flags of `wgnn train`, as given (None: not given).
#[derive(Clone)]
pub struct TrainArgs {
    pub model: Option<ModelSpec>,
    /// Start from this run folder's weights instead of a fresh initialisation.
    pub init_from: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint.
    pub resume: Option<PathBuf>,
    /// Print GPU memory in use after each epoch.
    pub verbose: bool,
    /// Benchmark: stop once test accuracy (checked after each epoch) reaches this.
    pub time_to_accuracy: Option<f32>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f32>,
    pub validation_split: Option<f32>,
    pub seed: Option<u64>,
    pub limit: Option<usize>,
    pub data_dir: Option<PathBuf>,
    /// Also checkpoint every N optimizer steps.
    pub checkpoint_every: Option<usize>,
    pub schedule: Option<Schedule>,
    pub warmup_epochs: Option<f64>,
    pub plateau: Option<Plateau>,
    pub early_stopping: Option<EarlyStop>,
    pub monitor: Option<Monitor>,
    pub weight_decay: Option<f32>,
    pub label_smoothing: Option<f32>,
    pub augment: Option<crate::ops::augment::Augment>,
    /// Evaluate the test set at the end (false in a search, which evaluates only its choice).
    pub evaluate_test: bool,
    pub backend: BackendKind,
    /// The backend as typed, for the resume command printed on an interrupt.
    pub backend_flag: Option<String>,
    pub adapter: AdapterChoice,
    pub adapter_flag: Option<String>,
    pub out: Option<PathBuf>,
}

impl Default for TrainArgs {
    /// No flags: the model's defaults, the default backend, the test set evaluated.
    fn default() -> Self {
        Self {
            model: None,
            init_from: None,
            resume: None,
            verbose: false,
            time_to_accuracy: None,
            epochs: None,
            batch_size: None,
            optimizer: None,
            lr: None,
            validation_split: None,
            seed: None,
            limit: None,
            data_dir: None,
            checkpoint_every: None,
            schedule: None,
            warmup_epochs: None,
            plateau: None,
            early_stopping: None,
            monitor: None,
            weight_decay: None,
            label_smoothing: None,
            augment: None,
            evaluate_test: true,
            backend: BackendKind::Auto,
            backend_flag: None,
            adapter: AdapterChoice::Auto,
            adapter_flag: None,
            out: None,
        }
    }
}

/// How `wgnn train` ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainEnd {
    Done,
    /// Stopped by this signal after writing a checkpoint.
    Interrupted(i32),
}

pub const DEFAULT_DATA: &str = "data/mnist";
const MIB: f64 = 1024.0 * 1024.0;

/// Keras-style progress (a bar per epoch on a terminal, then one line per epoch), checkpoints
/// into the run folder, and stops on Ctrl-C or SIGTERM.
struct Console<'a> {
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
    steps: usize,
    verbose: bool,
    run_dir: &'a Path,
    spec: &'a ModelSpec,
    plan: &'a Plan,
    run: &'a RunConfig,
    signals: &'a StopSignals,
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

    fn phase(&mut self, what: &str) {
        eprintln!("{what}...");
    }

    fn test_accuracy(&mut self, epoch: usize, accuracy: f32, train_seconds: f64) {
        println!(
            "  test accuracy after epoch {epoch}: {accuracy:.4} ({train_seconds:.2}s of training so far)"
        );
    }

    fn checkpoint(&mut self, state: &TrainState) -> Result<()> {
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
        self.signals.received().is_some()
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

/// The settings of a new run: flags, else the model's defaults.
fn new_run(a: &TrainArgs, spec: &ModelSpec, data: &DataId) -> Result<RunConfig> {
    let d = &spec.defaults;
    let run = RunConfig {
        model: spec.name.clone(),
        batch_size: a.batch_size.unwrap_or(d.batch_size),
        optimizer: a.optimizer.unwrap_or(d.optimizer),
        lr: a.lr.unwrap_or(d.lr),
        validation: match a.validation_split {
            Some(f) => Validation::Split(f),
            None => d.validation,
        },
        seed: a.seed.unwrap_or(42),
        limit: a.limit,
        data: data.clone(),
        epochs: a.epochs.unwrap_or(d.epochs),
        checkpoint_every: a.checkpoint_every,
        target_accuracy: a.time_to_accuracy,
        schedule: a.schedule.unwrap_or(d.schedule),
        warmup_epochs: a.warmup_epochs.unwrap_or(d.warmup_epochs),
        plateau: a.plateau,
        early_stopping: a.early_stopping,
        monitor: a.monitor.unwrap_or_default(),
        weight_decay: a.weight_decay.unwrap_or(d.weight_decay),
        label_smoothing: a.label_smoothing.unwrap_or(d.label_smoothing),
        // `--augment` with every amount 0 turns a model's default augmentation off.
        augment: match a.augment {
            Some(g) if g.is_off() => None,
            Some(g) => Some(g),
            None => d.augment,
        },
    };
    Ok(run)
}

/// The settings beyond optimizer, rate and batch that are not off, for the first line of a run
/// (empty when all are off, as for most presets).
fn settings_text(run: &RunConfig) -> String {
    let mut s = String::new();
    if run.schedule != Schedule::Constant {
        s += &format!(", schedule {}", run.schedule);
    }
    if run.warmup_epochs != 0.0 {
        s += &format!(", warm-up {} epochs", run.warmup_epochs);
    }
    if run.weight_decay != 0.0 {
        s += &format!(", weight decay {}", run.weight_decay);
    }
    if run.label_smoothing != 0.0 {
        s += &format!(", label smoothing {}", run.label_smoothing);
    }
    if let Some(a) = run.augment {
        s += &format!(", augment {a}");
    }
    s
}

/// Flags may not change a run being resumed, except to train more epochs, checkpoint at another
/// cadence or aim at another test accuracy.
fn resumed_run(
    a: &TrainArgs,
    dir: &Path,
    saved: &RunConfig,
    spec: &ModelSpec,
) -> Result<RunConfig> {
    let changed = |flag: &str, now: String, was: String| {
        Error::msg(format!(
            "{flag} {now}: the run in {} was started with {was}, and resuming it cannot change that (start a new run with --out, or from its weights with --init-from {})",
            dir.display(),
            dir.display()
        ))
    };
    if let Some(m) = &a.model {
        if m.to_toml() != spec.to_toml() {
            return Err(changed(
                "--model",
                m.name.clone(),
                format!("model `{}`", spec.name),
            ));
        }
    }
    let same = |flag: &str, given: Option<String>, was: String| match given {
        Some(g) if g != was => Err(changed(flag, g, was)),
        _ => Ok(()),
    };
    let show = |v: &dyn std::fmt::Display| v.to_string();
    same(
        "--batch-size",
        a.batch_size.map(|v| show(&v)),
        show(&saved.batch_size),
    )?;
    same(
        "--optimizer",
        a.optimizer.map(|v| show(&v)),
        show(&saved.optimizer),
    )?;
    same("--lr", a.lr.map(|v| show(&v)), show(&saved.lr))?;
    same("--seed", a.seed.map(|v| show(&v)), show(&saved.seed))?;
    let split_text = |v: &Validation| match v {
        Validation::Split(f) => f.to_string(),
        Validation::LastN(n) => format!("the last {n} images"),
    };
    same(
        "--validation-split",
        a.validation_split.map(|f| f.to_string()),
        split_text(&saved.validation),
    )?;
    same(
        "--limit",
        a.limit.map(|v| show(&v)),
        saved.limit.map_or("no limit".into(), |l| l.to_string()),
    )?;
    same(
        "--data-dir",
        a.data_dir.as_ref().map(|d| d.display().to_string()),
        saved.data.dir.clone(),
    )?;
    same(
        "--schedule",
        a.schedule.map(|v| show(&v)),
        show(&saved.schedule),
    )?;
    same(
        "--warmup-epochs",
        a.warmup_epochs.map(|v| show(&v)),
        show(&saved.warmup_epochs),
    )?;
    let opt_text = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    same(
        "--reduce-lr-on-plateau",
        a.plateau.map(|p| format!("{},{}", p.patience, p.factor)),
        opt_text(
            saved
                .plateau
                .map(|p| format!("{},{}", p.patience, p.factor)),
        ),
    )?;
    same(
        "--early-stopping",
        a.early_stopping
            .map(|e| format!("{},{}", e.patience, e.min_delta)),
        opt_text(
            saved
                .early_stopping
                .map(|e| format!("{},{}", e.patience, e.min_delta)),
        ),
    )?;
    same(
        "--monitor",
        a.monitor.map(|v| show(&v)),
        show(&saved.monitor),
    )?;
    same(
        "--weight-decay",
        a.weight_decay.map(|v| show(&v)),
        show(&saved.weight_decay),
    )?;
    same(
        "--label-smoothing",
        a.label_smoothing.map(|v| show(&v)),
        show(&saved.label_smoothing),
    )?;
    same(
        "--augment",
        a.augment.map(|v| {
            if v.is_off() {
                "no augmentation".into()
            } else {
                show(&v)
            }
        }),
        saved.augment.map_or("no augmentation".into(), |v| show(&v)),
    )?;
    Ok(RunConfig {
        epochs: a.epochs.unwrap_or(saved.epochs),
        checkpoint_every: a.checkpoint_every.or(saved.checkpoint_every),
        target_accuracy: a.time_to_accuracy.or(saved.target_accuracy),
        ..saved.clone()
    })
}

fn check_flags(run: &RunConfig) -> Result<()> {
    if run.batch_size == 0 {
        return Err(Error::msg("--batch-size must be at least 1"));
    }
    if !(run.lr.is_finite() && run.lr > 0.0) {
        return Err(Error::msg(format!(
            "--lr must be a positive number (got {})",
            run.lr
        )));
    }
    if run.epochs == 0 {
        return Err(Error::msg("--epochs must be at least 1"));
    }
    if run.checkpoint_every == Some(0) {
        return Err(Error::msg("--checkpoint-every must be at least 1"));
    }
    if let Some(t) = run.target_accuracy {
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::msg(format!(
                "--time-to-accuracy must be a fraction in (0, 1] (got {t})"
            )));
        }
    }
    if !(0.0..1.0).contains(&run.label_smoothing) {
        return Err(Error::msg(format!(
            "--label-smoothing must be in [0, 1) (got {})",
            run.label_smoothing
        )));
    }
    if !(run.weight_decay >= 0.0 && run.weight_decay.is_finite()) {
        return Err(Error::msg(format!(
            "--weight-decay must be a number >= 0 (got {})",
            run.weight_decay
        )));
    }
    if !(run.warmup_epochs >= 0.0 && run.warmup_epochs.is_finite()) {
        return Err(Error::msg(format!(
            "--warmup-epochs must be a number of epochs >= 0 (got {})",
            run.warmup_epochs
        )));
    }
    if let Validation::Split(f) = run.validation {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::msg(format!(
                "--validation-split must be in [0, 1) (got {f})"
            )));
        }
    }
    Ok(())
}

/// The model must fit the data's image size and class count.
fn check_fit(spec: &ModelSpec, plan: &Plan, data: &Mnist, dir: &Path) -> Result<()> {
    if plan.input_len() != data.train.image_size() {
        return Err(Error::msg(format!(
            "model `{}` takes {}x{}x{} inputs but {} holds {}x{} images",
            spec.name,
            spec.input[0],
            spec.input[1],
            spec.input[2],
            dir.display(),
            data.train.height,
            data.train.width
        )));
    }
    data.check_labels(plan.classes)?;
    if plan.classes != data.classes {
        return Err(Error::msg(format!(
            "model `{}` has {} output classes but the data in {} has {}",
            spec.name,
            plan.classes,
            dir.display(),
            data.classes
        )));
    }
    Ok(())
}

/// A path as a shell word (quoted when it needs to be).
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command that continues the run in `dir` on the same device.
fn resume_command(a: &TrainArgs, dir: &Path) -> String {
    let mut cmd = String::from("wgnn");
    if let Some(ad) = &a.adapter_flag {
        cmd += &format!(" --adapter {}", shell_word(ad));
    }
    // Another kernel family sums in another order: the same family continues the run exactly.
    if let Some(f) = crate::runtime::KernelFamily::flag() {
        cmd += &format!(" --kernels {f}");
    }
    cmd += &format!(" train --resume {}", shell_word(&dir.display().to_string()));
    if let Some(b) = &a.backend_flag {
        cmd += &format!(" --backend {}", shell_word(b));
    }
    cmd
}

pub fn run(a: TrainArgs) -> Result<TrainEnd> {
    if a.resume.is_some() && a.out.is_some() {
        return Err(Error::msg(
            "--out cannot be given with --resume: the run continues in its own folder",
        ));
    }
    // A resumed run takes its model, settings and data from its checkpoint.
    let saved = match &a.resume {
        Some(dir) => Some((checkpoint::load_spec(dir)?, checkpoint::load_run(dir)?)),
        None => None,
    };
    let spec = match (&saved, &a.model, &a.init_from) {
        (Some((s, _)), _, _) => s.clone(),
        (None, Some(m), _) => m.clone(),
        (None, None, Some(dir)) => checkpoint::load_spec(dir)?,
        (None, None, None) => crate::model::resolve("convnet")?,
    };
    let data_dir = match (&saved, &a.data_dir) {
        (Some((_, r)), None) => PathBuf::from(&r.data.dir),
        (_, Some(d)) => d.clone(),
        (None, None) => PathBuf::from(DEFAULT_DATA),
    };
    // Flags are checked against the saved run before anything is loaded.
    let resumed = match (&saved, &a.resume) {
        (Some((spec, r)), Some(dir)) => Some(resumed_run(&a, dir, r, spec)?),
        _ => None,
    };
    let data = load_dir(&data_dir)?;
    let limit = resumed.as_ref().map_or(a.limit, |r| r.limit);
    let used = data.train.host(limit.unwrap_or(data.train.len()));
    let data_id = DataId::new(&data_dir, used.images, used.labels);
    let run = match (resumed, &a.resume) {
        (Some(run), Some(dir)) => {
            if data_id.fingerprint != run.data.fingerprint
                || data_id.train_images != run.data.train_images
            {
                return Err(Error::msg(format!(
                    "--data-dir {}: these are not the images the run in {} was trained on",
                    data_dir.display(),
                    dir.display()
                )));
            }
            run
        }
        _ => new_run(&a, &spec, &data_id)?,
    };
    check_flags(&run)?;
    let out = match (&a.resume, &a.out) {
        (Some(dir), _) => dir.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => default_out(&spec.name),
    };
    if a.resume.is_none() && out.join(checkpoint::WEIGHTS).exists() {
        return Err(Error::msg(format!(
            "--out {}: the folder already holds a run; continue it with `wgnn train --resume {}`, or choose another folder",
            out.display(),
            out.display()
        )));
    }
    let plan = Plan::new(spec.input, &spec.layers, run.batch_size)?;
    check_fit(&spec, &plan, &data, &data_dir)?;
    let state = match &a.resume {
        Some(dir) => Some(checkpoint::load_training(dir, &plan)?.1),
        None => None,
    };
    if let Some(s) = &state {
        if s.progress.epoch > run.epochs {
            return Err(Error::msg(format!(
                "--epochs {}: the run in {} has already trained {} epochs",
                run.epochs,
                out.display(),
                s.progress.epoch
            )));
        }
        let finished = s.progress.epoch == run.epochs
            || s.progress.reached.is_some()
            || s.progress.watch.stopped_epoch.is_some();
        if finished && out.join("metrics.json").is_file() {
            let n = s.progress.epoch;
            println!(
                "The run in {} already finished its {n} epoch{}; pass --epochs N (more than {n}) to train on",
                out.display(),
                if n == 1 { "" } else { "s" },
            );
            return Ok(TrainEnd::Done);
        }
    }
    let cfg = FitConfig {
        epochs: run.epochs,
        validation: run.validation,
        seed: run.seed,
        limit: run.limit,
        target_accuracy: run.target_accuracy,
        lr: run.lr,
        schedule: run.schedule,
        warmup_epochs: run.warmup_epochs,
        checkpoint_every: run.checkpoint_every,
        plateau: run.plateau,
        early_stopping: run.early_stopping,
        monitor: run.monitor,
        label_smoothing: run.label_smoothing,
        augment: run.augment,
        evaluate_test: a.evaluate_test,
    };
    split(&data, &cfg)?;
    let (total, trainable) = spec.param_counts()?;
    // Read the starting weights before training, so a bad folder fails fast.
    let start_weights = match &a.init_from {
        Some(dir) => Some(checkpoint::load_params(dir, &plan).map_err(|e| {
            Error::msg(format!(
                "--init-from {}: {e} (it must hold a run of model `{}`)",
                dir.display(),
                spec.name
            ))
        })?),
        None => None,
    };
    if a.resume.is_none() {
        write_atomic(&out.join(checkpoint::MODEL), spec.to_toml().as_bytes())?;
    }
    let signals = StopSignals::install()?;
    let opt = run
        .optimizer
        .with_lr(run.lr)
        .with_weight_decay(run.weight_decay);
    with_backend(
        a.backend,
        &a.adapter,
        plan.clone(),
        GraphKind::Training(opt, run.seed),
        |backend| {
            if let Some((params, stats)) = &start_weights {
                backend.set_params(params, stats)?;
            }
            match &state {
                Some(s) => println!(
                    "Resuming `{}` from {} at epoch {}, step {} on {}: {} epochs, batch {}, {} lr {}{}",
                    spec.name,
                    out.display(),
                    s.progress.epoch + 1,
                    s.progress.step,
                    backend.describe(),
                    run.epochs,
                    run.batch_size,
                    run.optimizer,
                    run.lr,
                    settings_text(&run)
                ),
                None => println!(
                    "Training `{}` ({} parameters, {} trainable) on {}: {} epochs, batch {}, {} lr {}{}",
                    spec.name,
                    thousands(total),
                    thousands(trainable),
                    backend.describe(),
                    run.epochs,
                    run.batch_size,
                    run.optimizer,
                    run.lr,
                    settings_text(&run)
                ),
            }
            let mut console = Console {
                bar: None,
                epoch: 0,
                epochs: run.epochs,
                steps: 0,
                verbose: a.verbose,
                run_dir: &out,
                spec: &spec,
                plan: &plan,
                run: &run,
                signals: &signals,
            };
            let r = fit(backend, &data, &cfg, state.clone(), &mut console).map_err(|e| {
                Error::msg(format!(
                    "{e}. The last good checkpoint is kept in {}",
                    out.display()
                ))
            })?;
            if let Some(bar) = console.bar.take() {
                bar.finish_and_clear();
            }
            if let Outcome::Stopped { epoch, step } = r.outcome {
                let sig = signals.received().unwrap_or(signal_hook::consts::SIGINT);
                eprintln!(
                    "wgnn: stopped by {}; saved the run at epoch {}, step {} to {}\nResume it with: {}",
                    signals::name(sig),
                    epoch + usize::from(step > 0),
                    step,
                    out.display(),
                    resume_command(&a, &out)
                );
                return Ok(TrainEnd::Interrupted(sig));
            }
            report(
                &r,
                &a,
                &run,
                &spec,
                &plan,
                &data,
                &out,
                backend.describe(),
                backend.name(),
            )?;
            Ok(TrainEnd::Done)
        },
    )
}

/// The end of a finished run: the summary lines, the plots and metrics.json.
#[allow(clippy::too_many_arguments)]
fn report(
    r: &FitResult,
    a: &TrainArgs,
    run: &RunConfig,
    spec: &ModelSpec,
    plan: &Plan,
    data: &Mnist,
    out: &Path,
    device: String,
    backend: &str,
) -> Result<()> {
    let (total, trainable) = spec.param_counts()?;
    println!(
        "{} training images, {} validation images; {:.1}s of training, {:.0} images/s",
        r.train_samples, r.val_samples, r.train_seconds, r.images_per_second
    );
    let tested = r.test.samples > 0;
    if tested {
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
    write_atomic(&out.join("history.csv"), r.history.to_csv().as_bytes())?;
    curves_png(&r.history, &out.join("curves.png"))?;
    if tested {
        let confusion =
            Confusion::from_predictions(&data.test.labels, &r.test.preds, plan.classes)?;
        confusion_png(&confusion, &out.join("confusion.png"))?;
    }
    let metrics = serde_json::json!({
        "model": spec.name,
        // Absent (null) when the test set was left for later (a search's trials).
        "test_accuracy": tested.then_some(r.test.accuracy),
        "test_loss": tested.then_some(r.test.loss),
        "epochs": r.history.len(),
        "batch_size": run.batch_size,
        "optimizer": run.optimizer.to_string(),
        "lr": run.lr,
        "seed": run.seed,
        "train_images": r.train_samples,
        "validation_images": r.val_samples,
        "train_seconds": r.train_seconds,
        "train_images_per_second": r.images_per_second,
        "device": device,
        "backend": backend,
        "params": total,
        "trainable_params": trainable,
        "init_from": a.init_from.as_ref().map(|d| d.display().to_string()),
        "resumed": a.resume.is_some(),
        "schedule": run.schedule.to_string(),
        "weight_decay": run.weight_decay,
        "label_smoothing": run.label_smoothing,
        "augment": run.augment.map(|a| a.to_string()),
        "warmup_epochs": run.warmup_epochs,
        "reduce_lr_on_plateau": run.plateau,
        "early_stopping": run.early_stopping.map(|es| serde_json::json!({
            "patience": es.patience,
            "min_delta": es.min_delta,
            "monitor": run.monitor.to_string(),
            // Set when it stopped the run: the last epoch trained and the one restored.
            "stopped": r.early_stopped.map(|s| serde_json::json!({
                "stopped_epoch": s.stopped_epoch,
                "restored_epoch": s.best_epoch,
                "best": s.best,
                "reason": format!(
                    "{} did not improve by more than {} for {} epochs",
                    s.monitor, s.min_delta, s.patience
                ),
            })),
        })),
        "gpu_memory_per_epoch": r.memory,
        "time_to_accuracy": run.target_accuracy.map(|t| serde_json::json!({
            // As typed (0.99), not as the nearest f32 widened (0.9900000095).
            "target": t.to_string().parse::<f64>().unwrap_or(t as f64),
            "reached": r.reached,
            "test_accuracy_per_epoch": r.test_accuracy_per_epoch,
        })),
    });
    let text = serde_json::to_string_pretty(&metrics).map_err(|e| Error::msg(e.to_string()))?;
    write_atomic(&out.join("metrics.json"), text.as_bytes())?;
    println!(
        "Saved the model, history.csv, curves.png, {}metrics.json to {}",
        if tested { "confusion.png and " } else { "" },
        out.display()
    );
    Ok(())
}
