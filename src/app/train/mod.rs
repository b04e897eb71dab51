//! `wgnn train`: fit a model, evaluate it on the test set, write the run folder; or continue a
//! run from its checkpoint (`--resume`).

mod args;
mod console;
mod job;
mod report;
mod resume;

use std::path::{Path, PathBuf};

use super::backend::{with_backend, GraphKind};
use super::device::Device;
use super::signals::{self, StopSignals};
use crate::data::{shape_str, Splits};
use crate::error::{Error, Result};
use crate::graph::{Plan, Tensors};
use crate::model::{thousands, ModelSpec};
use crate::ops::ema::Ema;
use crate::train::events::RunLogs;
use crate::train::{checkpoint, fit, split, DataId, Outcome, RunConfig, Schedule, TrainState};
use crate::util::fs::write_atomic;

pub use args::{RunFlags, TrainArgs};
use console::Console;
pub use job::{Job, Start};
pub use report::{RunMetrics, METRICS};

/// How `wgnn train` ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainEnd {
    Done,
    /// Stopped by this signal after writing a checkpoint.
    Interrupted(i32),
}

/// `runs/MODEL-YYYYMMDD-HHMMSS` (UTC), a name people can read in TensorBoard's list of runs,
/// with `-2`, `-3`, ... when two runs start in one second.
fn default_out(model: &str) -> PathBuf {
    let t = crate::util::time::utc(crate::util::time::now_secs());
    let name = format!(
        "{model}-{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    let mut dir = PathBuf::from("runs").join(&name);
    let mut k = 2;
    while dir.exists() {
        dir = PathBuf::from("runs").join(format!("{name}-{k}"));
        k += 1;
    }
    dir
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
    if let Some(m) = run.ema {
        s += &format!(", moving average of the weights (momentum {m}) for evaluation");
    }
    s
}

/// The run's settings, checked by the training crate, with a bad one named by its flag.
fn check_flags(run: &RunConfig) -> Result<()> {
    run.validate()
        .map_err(|e| match RunFlags::flag_for(e.setting) {
            Some(flag) => Error::msg(format!("{flag} {}", e.problem)),
            None => e.into(),
        })
}

/// The model must fit the data's image size and class count.
fn check_fit(spec: &ModelSpec, plan: &Plan, data: &Splits, dir: &Path) -> Result<()> {
    if plan.input_len() != data.train.image_size() {
        return Err(Error::msg(format!(
            "model `{}` takes {} inputs but {} holds {} images",
            spec.name,
            shape_str(spec.input),
            dir.display(),
            shape_str(data.shape())
        )));
    }
    data.check_labels(plan.classes)?;
    if plan.classes != data.classes() {
        return Err(Error::msg(format!(
            "model `{}` has {} output classes but the data in {} has {}",
            spec.name,
            plan.classes,
            dir.display(),
            data.classes()
        )));
    }
    Ok(())
}

/// Everything a run needs before it trains: its model, settings, data, folder and plan, and the
/// state it continues from.
struct Prepared {
    spec: ModelSpec,
    run: RunConfig,
    data: Splits,
    out: PathBuf,
    plan: Plan,
    state: Option<TrainState>,
}

/// A resumed run must read the images it was trained on.
fn same_images(found: &DataId, run: &RunConfig, data_dir: &Path, run_dir: &Path) -> Result<()> {
    if found.fingerprint != run.data.fingerprint || found.train_images != run.data.train_images {
        return Err(Error::msg(format!(
            "{}: these are not the images the run in {} was trained on",
            data_dir.display(),
            run_dir.display()
        )));
    }
    Ok(())
}

/// The run's folder: the resumed one, `--out`, or a new one named after the model and the time.
/// A new run never writes over a saved one.
fn out_folder(job: &Job, model: &str) -> Result<PathBuf> {
    let out = match &job.start {
        Start::Resume(dir) => return Ok(dir.clone()),
        Start::New { out: Some(o), .. } => o.clone(),
        Start::New { out: None, .. } => default_out(model),
    };
    if out.join(checkpoint::WEIGHTS).exists() {
        return Err(Error::msg(format!(
            "--out {}: the folder already holds a run; continue it with `wgnn train --resume {}`, or choose another folder",
            out.display(),
            out.display()
        )));
    }
    Ok(out)
}

/// The layers of a run's settings, in one place: the model's training defaults (a preset's or
/// its file's `[train]` table) or the resumed run's saved settings, then the job's. A resumed
/// run's model comes from its checkpoint, and the job is checked against it before anything is
/// loaded.
fn prepare(job: &Job) -> Result<Prepared> {
    let saved = match job.resumed() {
        Some(dir) => Some((checkpoint::load_spec(dir)?, checkpoint::load_run(dir)?)),
        None => None,
    };
    let spec = match (&saved, &job.model, job.init_from()) {
        (Some((s, _)), _, _) => s.clone(),
        (None, Some(m), _) => m.clone(),
        (None, None, Some(dir)) => checkpoint::load_spec(dir)?,
        (None, None, None) => crate::model::resolve("convnet")?,
    };
    let data_args = match &saved {
        Some((_, r)) => job.data.or_saved(&r.data),
        None => job.data.clone(),
    };
    let resumed = match (&saved, job.resumed()) {
        (Some((s, r)), Some(dir)) => Some(resume::resumed_run(job, dir, r, s)?),
        _ => None,
    };
    let loaded = data_args.load()?;
    let (data, data_dir) = (loaded.splits, loaded.path);
    let spec = crate::model::for_data(spec, data.shape(), data.classes());
    let limit = resumed.as_ref().map_or(job.settings.limit, |r| r.limit);
    let used = data.train.host(limit.unwrap_or(data.train.len()));
    let data_id = DataId {
        dataset: loaded.dataset.map(String::from),
        class_names: data.class_names.clone(),
        folder: Some(data_args.folder()),
        classes: data_args.classes,
        ..DataId::new(&data_dir, &used.images, &used.labels)
    };
    let run = match (resumed, job.resumed()) {
        (Some(run), Some(dir)) => {
            same_images(&data_id, &run, &data_dir, dir)?;
            run
        }
        _ => job.settings.apply(RunConfig::from_defaults(
            &spec.name,
            &spec.defaults,
            data_id,
        )),
    };
    check_flags(&run)?;
    if run.target_accuracy.is_some() && data.test.is_empty() {
        return Err(Error::msg(format!(
            "--time-to-accuracy measures test accuracy, but {} has no test set",
            data_dir.display()
        )));
    }
    let out = out_folder(job, &spec.name)?;
    let plan = Plan::new(spec.input, &spec.layers, run.batch_size)?;
    check_fit(&spec, &plan, &data, &data_dir)?;
    let state = match job.resumed() {
        Some(dir) => Some(checkpoint::load_training(dir, &plan)?.1),
        None => None,
    };
    Ok(Prepared {
        spec,
        run,
        data,
        out,
        plan,
        state,
    })
}

/// Whether the resumed run in `p.out` has nothing left to train; an error when `--epochs` asks
/// for fewer epochs than it has.
fn already_finished(p: &Prepared) -> Result<bool> {
    let Some(s) = &p.state else { return Ok(false) };
    if s.progress.epoch > p.run.epochs {
        return Err(Error::msg(format!(
            "--epochs {}: the run in {} has already trained {} epochs",
            p.run.epochs,
            p.out.display(),
            s.progress.epoch
        )));
    }
    let finished = (s.progress.epoch == p.run.epochs
        || s.progress.reached.is_some()
        || s.progress.watch.stopped_epoch.is_some())
        && p.out.join(METRICS).is_file();
    if finished {
        let n = s.progress.epoch;
        println!(
            "The run in {} already finished its {n} epoch{}; pass --epochs N (more than {n}) to train on",
            p.out.display(),
            if n == 1 { "" } else { "s" },
        );
    }
    Ok(finished)
}

/// The first line of a run: what trains where, with which settings.
fn header(p: &Prepared, device: String) -> Result<String> {
    let run = &p.run;
    let settings = format!(
        "{} epochs, batch {}, {} lr {}{}",
        run.epochs,
        run.batch_size,
        run.optimizer,
        run.lr,
        settings_text(run)
    );
    let data = &p.run.data;
    let name = data
        .dataset
        .as_deref()
        .map_or(String::new(), |n| format!("{n} "));
    let data_line = format!(
        "\nData: {name}from {}: {} training and {} test images, {}, {} classes",
        data.dir,
        thousands(p.data.train.len()),
        thousands(p.data.test.len()),
        shape_str(p.data.shape()),
        p.data.classes()
    );
    Ok(match &p.state {
        Some(s) => format!(
            "Resuming `{}` from {} at epoch {}, step {} on {device}: {settings}{data_line}",
            p.spec.name,
            p.out.display(),
            s.progress.epoch + 1,
            s.progress.step,
        ),
        None => {
            let (total, trainable) = p.spec.param_counts()?;
            format!(
                "Training `{}` ({} parameters, {} trainable) on {device}: {settings}{data_line}",
                p.spec.name,
                thousands(total),
                thousands(trainable),
            )
        }
    })
}

pub fn run(a: &TrainArgs, device: &Device) -> Result<TrainEnd> {
    train_job(&a.job()?, device)
}

/// The weights of `--init-from DIR`, which must hold a run of the same model.
fn start_weights(dir: &Path, p: &Prepared) -> Result<(Tensors, Tensors)> {
    checkpoint::load_params(dir, &p.plan).map_err(|e| {
        Error::msg(format!(
            "--init-from {}: {e} (it must hold a run of model `{}`)",
            dir.display(),
            p.spec.name
        ))
    })
}

/// What a stopped run says: the signal, where it was saved, and the command that resumes it.
fn stopped(
    job: &Job,
    device: &Device,
    out: &Path,
    sig: i32,
    (epoch, step): (usize, usize),
) -> String {
    format!(
        "wgnn: stopped by {}; saved the run at epoch {}, step {} to {}\nResume it with: {}",
        signals::name(sig),
        epoch + usize::from(step > 0),
        step,
        out.display(),
        resume::resume_command(job, device, out)
    )
}

/// Trains `job`: prepares it, fits, and writes the run folder's reports.
pub fn train_job(job: &Job, device: &Device) -> Result<TrainEnd> {
    let p = prepare(job)?;
    if already_finished(&p)? {
        return Ok(TrainEnd::Done);
    }
    split(&p.data, &p.run)?;
    // Read the starting weights before training, so a bad folder fails fast.
    let start_weights = match job.init_from() {
        Some(dir) => Some(start_weights(dir, &p)?),
        None => None,
    };
    if job.resumed().is_none() {
        write_atomic(&p.out.join(checkpoint::MODEL), p.spec.to_toml().as_bytes())?;
    }
    let signals = StopSignals::install()?;
    let run = &p.run;
    let opt = run
        .optimizer
        .optimizer()
        .with_weight_decay(run.weight_decay);
    let ema = run.ema.map(Ema::new).transpose()?;
    let graph = GraphKind::Training(opt, run.seed, ema);
    with_backend(job.backend, device, p.plan.clone(), graph, |backend| {
        if let Some((params, stats)) = &start_weights {
            backend.set_params(params, stats)?;
        }
        println!("{}", header(&p, backend.describe())?);
        let params: Vec<String> = p.plan.params.iter().map(|s| s.name.clone()).collect();
        let logs = RunLogs::create(&p.out, &host(), run.log_every, (&params, p.state.as_ref()))?;
        let mut console = Console {
            bar: None,
            epoch: 0,
            epochs: run.epochs,
            steps: 0,
            verbose: job.verbose,
            run_dir: &p.out,
            spec: &p.spec,
            plan: &p.plan,
            run,
            signals: &signals,
            logs,
        };
        let r = fit(
            backend,
            &p.data,
            run,
            // An image folder without test/ has no test set.
            job.evaluate_test && !p.data.test.is_empty(),
            p.state.clone(),
            &mut console,
        );
        if let Some(bar) = console.bar.take() {
            bar.finish_and_clear();
        }
        let r = r.and_then(|r| super::mapped::check().map(|()| r));
        let r = r.map_err(|e| {
            Error::msg(format!(
                "{e}. The last good checkpoint is kept in {}",
                p.out.display()
            ))
        })?;
        if let Outcome::Stopped { epoch, step } = r.outcome {
            let sig = signals.received().unwrap_or(signal_hook::consts::SIGINT);
            eprintln!("{}", stopped(job, device, &p.out, sig, (epoch, step)));
            return Ok(TrainEnd::Interrupted(sig));
        }
        let origin = report::Origin {
            device: backend.describe(),
            backend: backend.name(),
            init_from: job.init_from(),
            resumed: job.resumed().is_some(),
        };
        let model = (&p.spec, &p.plan);
        report::report(&r, run, model, &p.data.test.labels, &p.out, &origin)?;
        let images = [
            ("learning_curves", p.out.join("curves.png")),
            ("confusion_matrix", p.out.join("confusion.png")),
        ];
        let images: Vec<(&str, &Path)> = images
            .iter()
            .filter(|(_, f)| f.is_file())
            .map(|(t, f)| (*t, f.as_path()))
            .collect();
        console.logs.images(&images)?;
        Ok(TrainEnd::Done)
    })
}

/// This machine's name, for the event files' names (as TensorFlow names them).
fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    let fits = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if fits {
        name.to_string()
    } else {
        "localhost".to_string()
    }
}
