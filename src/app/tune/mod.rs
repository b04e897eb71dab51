//! `wgnn tune`: a hyperparameter search, as keras_tuner does it. Each trial is a `wgnn train` run
//! in its own folder (`OUT/trial-001`, ...), so a trial is checkpointed, resumable and readable
//! like any run. Trials are chosen by validation accuracy; only the chosen one sees the test set.
//! Re-running the same command continues the search: finished and failed trials are skipped, an
//! interrupted one resumes from its checkpoint. `--shard K/N` runs every N-th trial (for a Slurm
//! array or GNU parallel over one shared folder) and `--collect OUT` writes the results of all.

mod results;
pub mod space;

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::backend::BackendKind;
use super::device::Device;
use super::train::{self, Job, TrainEnd};
use crate::error::{Error, Result};
use crate::model::Validation;
use crate::model::{resolve, ModelSpec};
use crate::train::{checkpoint, Overrides};
use crate::util::fs::write_atomic;
pub use results::{collect, TrialResult};
use space::{apply_to_model, trials, Axis, Trial};

/// The flags of `wgnn tune`.
#[derive(clap::Args, Clone, Debug)]
pub struct TuneArgs {
    /// A preset or a .toml file
    #[arg(long, default_value = "convnet")]
    pub model: String,
    /// An axis: NAME=V1,V2,... (or NAME=LO..HI, NAME=log:LO..HI with --trials); NAME is a
    /// training flag (lr, batch-size, epochs, optimizer, weight-decay, label-smoothing,
    /// schedule, warmup-epochs, augment, early-stopping, ema) or dropout, filters, units
    #[arg(long, value_name = "NAME=VALUES")]
    pub grid: Vec<Axis>,
    /// Draw N random combinations instead of the whole grid
    #[arg(long, value_name = "N")]
    pub trials: Option<usize>,
    /// [default: the model's]
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use only the first N training images
    #[arg(long)]
    pub limit: Option<usize>,
    /// [default: the model's]
    #[arg(long, allow_negative_numbers = true)]
    pub validation_split: Option<f32>,
    #[command(flatten)]
    pub data: crate::app::data::DataArgs,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// The search's folder: one run folder per trial, results.csv, results.md, results.png
    /// [default: runs/tune-MODEL]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only every N-th trial, starting with the K-th (for a job array over one folder)
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Write the results of the search in DIR (after its shards have run)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["grid", "shard"])]
    pub collect: Option<PathBuf>,
}

impl TuneArgs {
    /// The search's folder: `--out`, else `runs/tune-MODEL`.
    fn out(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let name = Path::new(&self.model)
                .file_stem()
                .map_or(self.model.clone(), |s| s.to_string_lossy().into_owned());
            PathBuf::from("runs").join(format!("tune-{name}"))
        })
    }
}

/// `wgnn tune`: a search, or (`--collect`) the results of one whose shards have run.
pub fn command(a: &TuneArgs, device: &Device) -> Result<TrainEnd> {
    if let Some(dir) = &a.collect {
        collect(dir, a.backend, device)?;
        return Ok(TrainEnd::Done);
    }
    if a.grid.is_empty() {
        return Err(Error::msg(
            "tune: give at least one --grid NAME=VALUES (e.g. --grid lr=1e-3,3e-4)",
        ));
    }
    run(a, device)
}

/// What a search is: written once as `OUT/search.json`, so a re-run, a shard or `--collect`
/// works on the same trials.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Search {
    pub model: String,
    pub seed: u64,
    pub epochs: Option<usize>,
    pub limit: Option<usize>,
    pub validation_split: Option<f32>,
    pub data_dir: Option<String>,
    #[serde(default)]
    pub dataset: Option<String>,
    pub trials: Vec<Trial>,
}

pub const SEARCH: &str = "search.json";
/// A trial that failed (diverged, or was refused) says why in its folder.
pub const FAILED: &str = "failed.txt";

pub fn trial_dir(out: &Path, k: usize) -> PathBuf {
    out.join(format!("trial-{k:03}"))
}

/// `K/N` with 1 <= K <= N.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::msg(format!(
            "--shard `{s}`: expected K/N with 1 <= K <= N, e.g. 2/4"
        ))
    };
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The settings of trial `t`: the search's flags, then the trial's values.
fn trial_settings(a: &TuneArgs, t: &Trial) -> Result<Overrides> {
    let mut o = Overrides {
        epochs: a.epochs,
        seed: Some(a.seed),
        limit: a.limit,
        validation: a.validation_split.map(Validation::Split),
        ..Overrides::default()
    };
    for (axis, v) in &t.values {
        let bad = |e: String| Error::msg(format!("--grid {axis}={v}: {e}"));
        let num = |v: &str| v.parse::<f64>().map_err(|_| bad("not a number".into()));
        let parsed = |e: Error| bad(e.to_string());
        match axis.as_str() {
            "lr" => o.lr = Some(num(v)? as f32),
            "batch-size" => o.batch_size = Some(num(v)? as usize),
            "epochs" => o.epochs = Some(num(v)? as usize),
            "optimizer" => o.optimizer = Some(v.parse().map_err(parsed)?),
            "weight-decay" => o.weight_decay = Some(num(v)? as f32),
            "label-smoothing" => o.label_smoothing = Some(num(v)? as f32),
            "schedule" => o.schedule = Some(v.parse().map_err(parsed)?),
            "warmup-epochs" => o.warmup_epochs = Some(num(v)?),
            "augment" => o.augment = Some(v.parse().map_err(parsed)?),
            "ema" => o.ema = Some(num(v)? as f32),
            "early-stopping" => o.early_stopping = Some(v.parse().map_err(parsed)?),
            // Model hyperparameters are already in the model.
            _ => {}
        }
    }
    Ok(o)
}

/// Trial `t` as a run of `model` into `dir`, leaving the test set to the trial the search
/// chooses.
fn trial_job(a: &TuneArgs, t: &Trial, model: ModelSpec, dir: &Path) -> Result<Job> {
    let settings = trial_settings(a, t)?;
    Ok(Job {
        backend: a.backend,
        evaluate_test: false,
        ..Job::new(model, dir.to_path_buf(), settings, a.data.clone())
    })
}

/// Writes `search` into `out`, or checks that `out` holds this same search.
fn keep_search(out: &Path, search: &Search) -> Result<()> {
    let saved = out.join(SEARCH);
    if saved.is_file() {
        let text = std::fs::read_to_string(&saved).map_err(|e| Error::io(&saved, e))?;
        let old: Search = serde_json::from_str(&text)
            .map_err(|e| Error::file(&saved, format!("not a search description: {e}")))?;
        if old != *search {
            return Err(Error::file(
                &saved,
                "holds another search (other model, settings or trials); continue it with its own command, or choose another --out",
            ));
        }
    } else {
        let text = serde_json::to_string_pretty(search).map_err(|e| Error::msg(e.to_string()))?;
        write_atomic(&saved, text.as_bytes())?;
    }
    Ok(())
}

/// The search a `wgnn tune` command describes, every trial's settings checked before the first
/// one trains.
fn plan_search(a: &TuneArgs, spec: &ModelSpec, out: &Path) -> Result<Search> {
    if a.validation_split == Some(0.0) {
        return Err(Error::msg(
            "--validation-split 0: a search chooses its trial by validation accuracy, so it needs validation images",
        ));
    }
    let search = Search {
        model: a.model.clone(),
        seed: a.seed,
        epochs: a.epochs,
        limit: a.limit,
        validation_split: a.validation_split,
        data_dir: a.data.data_dir.as_ref().map(|d| d.display().to_string()),
        dataset: a.data.dataset.clone(),
        trials: trials(&a.grid, a.trials, a.seed)?,
    };
    for (k, t) in search.trials.iter().enumerate() {
        trial_job(a, t, apply_to_model(spec, t)?, &trial_dir(out, k + 1))?;
    }
    Ok(search)
}

/// Trains trial `t` into `dir`, or finishes it where an interrupted run left it.
fn train_trial(
    a: &TuneArgs,
    spec: &ModelSpec,
    t: &Trial,
    dir: &Path,
    device: &Device,
) -> Result<TrainEnd> {
    if dir.join(checkpoint::WEIGHTS).is_file() {
        let job = Job {
            backend: a.backend,
            evaluate_test: false,
            ..Job::resume(dir.to_path_buf())
        };
        return train::train_job(&job, device);
    }
    let job = trial_job(a, t, apply_to_model(spec, t)?, dir)?;
    train::train_job(&job, device)
}

/// The line that opens a trial: its number, shard, settings and the time the rest should take.
fn trial_line(a: &TuneArgs, (k, n): (usize, usize), t: &Trial, left: Option<f64>) -> String {
    let shard = a
        .shard
        .map_or(String::new(), |(s, of)| format!(" (shard {s}/{of})"));
    let eta = left.map_or(String::new(), |s| format!(", about {s:.0}s left"));
    format!("\n=== Trial {k} of {n}{shard}: {}{eta}", t.label())
}

fn run(a: &TuneArgs, device: &Device) -> Result<TrainEnd> {
    let spec = resolve(&a.model)?;
    let out = a.out();
    let search = plan_search(a, &spec, &out)?;
    keep_search(&out, &search)?;
    let n = search.trials.len();
    let mine: Vec<usize> = (1..=n)
        .filter(|k| a.shard.is_none_or(|(s, of)| (k - 1) % of == s - 1))
        .collect();
    let start = Instant::now();
    let mut trained = 0usize;
    for (done, &k) in mine.iter().enumerate() {
        let t = &search.trials[k - 1];
        let dir = trial_dir(&out, k);
        if dir.join(train::METRICS).is_file() || dir.join(FAILED).is_file() {
            continue;
        }
        let left = (trained > 0)
            .then(|| start.elapsed().as_secs_f64() / trained as f64 * (mine.len() - done) as f64);
        println!("{}", trial_line(a, (k, n), t, left));
        match train_trial(a, &spec, t, &dir, device) {
            Ok(TrainEnd::Done) => trained += 1,
            Ok(TrainEnd::Interrupted(sig)) => {
                eprintln!("wgnn: the search stopped in trial {k}; run the same `wgnn tune` command to continue it");
                return Ok(TrainEnd::Interrupted(sig));
            }
            // A trial that fails is recorded with its reason, and the search goes on.
            Err(e) => {
                eprintln!("wgnn: trial {k} failed: {e}");
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                write_atomic(&dir.join(FAILED), format!("{e}\n").as_bytes())?;
            }
        }
    }
    match a.shard {
        Some((s, of)) => println!(
            "\nShard {s}/{of} is done. When every shard is, `wgnn tune --collect {}` writes the results.",
            out.display()
        ),
        None => collect(&out, a.backend, device)?,
    }
    Ok(TrainEnd::Done)
}
