//! `wgnn compare`: finished runs side by side (a table, its Markdown form and the learning curves
//! overlaid in one PNG), optionally training the models first on the same data, split and seed.

use std::path::{Path, PathBuf};

use super::backend::BackendKind;
use super::device::Device;
use super::train::{self, Job, RunMetrics, TrainEnd, METRICS};
use crate::error::{Error, Result};
use crate::model::{resolve, thousands, ModelSpec, Validation};
use crate::report::{compare_png, RunCurves};
use crate::train::History;
use crate::train::{checkpoint, Overrides};
use crate::util::fs::write_atomic;

/// What `compare` reads from one run folder.
pub struct Run {
    /// The folder as given.
    pub dir: PathBuf,
    pub model: String,
    pub params: usize,
    pub epochs: usize,
    /// Highest validation accuracy and its epoch; None for a run without validation.
    pub best_val: Option<(f32, usize)>,
    /// None for a run that left the test set alone (a search's trials).
    pub test_accuracy: Option<f64>,
    pub train_seconds: f64,
    pub images_per_second: f64,
    pub history: History,
}

/// The highest validation accuracy and the epoch it was reached (the first, on a tie).
pub fn best_val(h: &History) -> Option<(f32, usize)> {
    h.records
        .iter()
        .filter_map(|r| Some((r.val_accuracy?, r.epoch)))
        .filter(|(a, _)| a.is_finite())
        .fold(None, |best, (a, e)| match best {
            Some((b, _)) if b >= a => best,
            _ => Some((a, e)),
        })
}

/// Reads a finished run: `metrics.json` and `history.csv`, as `wgnn train` writes them.
pub fn load(dir: &Path) -> Result<Run> {
    if !dir.is_dir() {
        let what = if dir.exists() {
            "not a folder"
        } else {
            "no such folder"
        };
        return Err(Error::file(dir, format!("{what} (expected a run folder)")));
    }
    let (metrics, history) = (dir.join(METRICS), dir.join("history.csv"));
    let missing: Vec<&str> = [(&metrics, METRICS), (&history, "history.csv")]
        .into_iter()
        .filter(|(p, _)| !p.is_file())
        .map(|(_, n)| n)
        .collect();
    if !missing.is_empty() {
        // A stopped run has its checkpoint but not yet its metrics.
        let hint = if dir.join(checkpoint::WEIGHTS).is_file() {
            format!(
                "; finish it with `wgnn train --resume {}` first",
                dir.display()
            )
        } else {
            String::new()
        };
        return Err(Error::msg(format!(
            "{} is not a finished run: it has no {}{hint}",
            dir.display(),
            missing.join(" and no ")
        )));
    }
    let history = History::read_csv(&history)?;
    if history.is_empty() {
        return Err(Error::file(dir.join("history.csv"), "holds no epochs"));
    }
    let m = RunMetrics::read(dir)?;
    Ok(Run {
        dir: dir.to_path_buf(),
        model: m.model,
        params: m.params,
        epochs: m.epochs,
        best_val: best_val(&history),
        test_accuracy: m.test_accuracy.map(f64::from),
        train_seconds: m.train_seconds,
        images_per_second: m.train_images_per_second,
        history,
    })
}

/// Legend names: the model names when they tell the runs apart, else the folder names, else the
/// folders as given.
pub fn labels(runs: &[Run]) -> Vec<String> {
    let distinct = |names: &[String]| {
        let mut s = names.to_vec();
        s.sort();
        s.dedup();
        s.len() == names.len()
    };
    let models: Vec<String> = runs.iter().map(|r| r.model.clone()).collect();
    if distinct(&models) {
        return models;
    }
    let folders: Vec<String> = runs
        .iter()
        .map(|r| match r.dir.file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => r.dir.display().to_string(),
        })
        .collect();
    if distinct(&folders) {
        return folders;
    }
    runs.iter().map(|r| r.dir.display().to_string()).collect()
}

const HEADER: [&str; 7] = [
    "run",
    "model",
    "params",
    "epochs",
    "best val acc (epoch)",
    "test acc",
    "train time",
];
/// Columns 2.. are numbers: right-aligned.
const FIRST_NUMBER: usize = 2;

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// The table's cells, one row per run.
pub fn rows(runs: &[Run]) -> Vec<[String; 7]> {
    runs.iter()
        .map(|r| {
            [
                r.dir.display().to_string(),
                r.model.clone(),
                thousands(r.params),
                r.epochs.to_string(),
                match r.best_val {
                    Some((a, e)) => format!("{} ({e})", percent(f64::from(a))),
                    None => "none".into(),
                },
                r.test_accuracy.map_or("none".into(), percent),
                format!("{:.1} s", r.train_seconds),
            ]
        })
        .collect()
}

/// The table for the terminal: columns two spaces apart, numbers right-aligned.
pub fn text_table(rows: &[[String; 7]]) -> String {
    let mut width = HEADER.map(|h| h.chars().count());
    for row in rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(width)
            .enumerate()
            .map(|(i, (c, w))| {
                if i >= FIRST_NUMBER {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut s = line(HEADER);
    for row in rows {
        s += &line(row.each_ref().map(String::as_str));
    }
    s
}

/// The same table in Markdown, for a README.
pub fn markdown_table(rows: &[[String; 7]]) -> String {
    let mut s = format!("| {} |\n", HEADER.join(" | "));
    s += "|";
    for i in 0..HEADER.len() {
        s += if i >= FIRST_NUMBER { "---:|" } else { "---|" };
    }
    s.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        s += &format!("| {} |\n", cells.join(" | "));
    }
    s
}

/// Reads the runs, prints the table, writes the plot to `out` and the Markdown table beside it
/// (same name, `.md`).
pub fn compare(dirs: &[PathBuf], out: &Path) -> Result<()> {
    if dirs.is_empty() {
        return Err(Error::msg(
            "compare: give one or more run folders, or --train MODEL... to train them first",
        ));
    }
    let is_png = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(Error::msg(format!(
            "--out {}: the plot is a PNG; give a file name ending in .png",
            out.display()
        )));
    }
    let runs = dirs.iter().map(|d| load(d)).collect::<Result<Vec<_>>>()?;
    let rows = rows(&runs);
    print!("{}", text_table(&rows));
    let names = labels(&runs);
    let curves: Vec<RunCurves<'_>> = runs
        .iter()
        .zip(&names)
        .map(|(r, label)| RunCurves {
            label,
            history: &r.history,
        })
        .collect();
    compare_png(&curves, out)?;
    let md = out.with_extension("md");
    write_atomic(&md, markdown_table(&rows).as_bytes())?;
    println!(
        "Saved the curves to {} and the table to {}",
        out.display(),
        md.display()
    );
    Ok(())
}

/// The flags of `wgnn compare`.
#[derive(clap::Args, Clone, Debug)]
pub struct CompareArgs {
    // Not with --train: checked after parsing, since clap skips the training flags'
    // `requires = "train"` when this argument is declared in conflict with it.
    /// Run folders written by `wgnn train`
    #[arg(value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Train these models first (presets or .toml files), each into OUT_DIR/<model>
    #[arg(long, num_args = 1.., value_name = "MODEL")]
    pub train: Vec<String>,
    /// [default: each model's own]
    #[arg(long, requires = "train")]
    pub epochs: Option<usize>,
    /// [default: each model's own]
    #[arg(long, requires = "train")]
    pub batch_size: Option<usize>,
    /// Use only the first N training images
    #[arg(long, requires = "train")]
    pub limit: Option<usize>,
    /// [default: 42]
    #[arg(long, requires = "train")]
    pub seed: Option<u64>,
    /// Fraction of the training data (from its end) held out for validation [default: the
    /// models' own, when they agree]
    #[arg(long, requires = "train", allow_negative_numbers = true)]
    pub validation_split: Option<f32>,
    #[command(flatten)]
    pub data: super::data::DataArgs,
    #[arg(long, requires = "train", value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Where the runs go [default: a new runs/compare-<time>]
    #[arg(long, value_name = "DIR", requires = "train")]
    pub out_dir: Option<PathBuf>,
    /// The plot; the Markdown table is written beside it, as FILE.md [default: compare.png,
    /// or OUT_DIR/compare.png with --train]
    #[arg(long, value_name = "FILE.png")]
    pub out: Option<PathBuf>,
}

/// `wgnn compare`: run folders as they are, or (`--train`) the models trained first.
pub fn command(a: &CompareArgs, device: &Device) -> Result<TrainEnd> {
    if !a.train.is_empty() && !a.runs.is_empty() {
        return Err(Error::msg(
            "compare: give run folders or --train MODEL..., not both",
        ));
    }
    if a.train.is_empty() && a.data != super::data::DataArgs::default() {
        return Err(Error::msg(format!(
            "compare: {} chooses the data to train on, and goes with --train MODEL...; run folders are compared on the data they were trained on",
            a.data.given().join(", ")
        )));
    }
    if a.train.is_empty() {
        let out = a
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("compare.png"));
        compare(&a.runs, &out)?;
        return Ok(TrainEnd::Done);
    }
    train_and_compare(a, device)
}

fn describe(v: Validation) -> String {
    match v {
        Validation::Split(f) => format!("the last {}%", 100.0 * f),
        Validation::LastN(n) => format!("the last {n} images"),
    }
}

/// Every model is validated on the same images, or the best validation accuracies do not compare.
fn check_same_split(specs: &[ModelSpec]) -> Result<()> {
    let first = &specs[0];
    match specs
        .iter()
        .find(|s| s.defaults.validation != first.defaults.validation)
    {
        None => Ok(()),
        Some(other) => Err(Error::msg(format!(
            "`{}` validates on {} of the training data but `{}` on {}; give --validation-split F so that every model is validated on the same images",
            first.name,
            describe(first.defaults.validation),
            other.name,
            describe(other.defaults.validation)
        ))),
    }
}

fn default_out_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut dir = PathBuf::from("runs").join(format!("compare-{secs}"));
    let mut k = 1;
    while dir.exists() {
        dir = PathBuf::from("runs").join(format!("compare-{secs}-{k}"));
        k += 1;
    }
    dir
}

/// Trains each model into `OUT_DIR/<model>` with the same data, split and seed, then compares
/// the runs. An interrupt stops it after that run's checkpoint, as `wgnn train` does.
fn train_and_compare(a: &CompareArgs, device: &Device) -> Result<TrainEnd> {
    // Every name and folder is checked before the first (long) training run.
    let specs = a
        .train
        .iter()
        .map(|m| resolve(m).map_err(|e| Error::msg(format!("--train {m}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    for (i, s) in specs.iter().enumerate() {
        if let Some(j) = specs[..i].iter().position(|t| t.name == s.name) {
            return Err(Error::msg(format!(
                "--train: `{}` is given twice (as `{}` and `{}`); each model is trained once",
                s.name, a.train[j], a.train[i]
            )));
        }
    }
    if a.validation_split.is_none() {
        check_same_split(&specs)?;
    }
    let out_dir = a.out_dir.clone().unwrap_or_else(default_out_dir);
    let dirs: Vec<PathBuf> = specs.iter().map(|s| out_dir.join(&s.name)).collect();
    if let Some(d) = dirs.iter().find(|d| d.join(checkpoint::WEIGHTS).exists()) {
        return Err(Error::msg(format!(
            "--out-dir {}: {} already holds a run; choose another folder",
            out_dir.display(),
            d.display()
        )));
    }
    let out = a.out.clone().unwrap_or_else(|| out_dir.join("compare.png"));
    for (k, (spec, dir)) in specs.into_iter().zip(&dirs).enumerate() {
        println!(
            "[{}/{}] Training `{}` into {}",
            k + 1,
            dirs.len(),
            spec.name,
            dir.display()
        );
        let settings = Overrides {
            epochs: a.epochs,
            batch_size: a.batch_size,
            validation: a.validation_split.map(Validation::Split),
            seed: Some(a.seed.unwrap_or(42)),
            limit: a.limit,
            ..Overrides::default()
        };
        let job = Job {
            backend: a.backend,
            ..Job::new(spec, dir.clone(), settings, a.data.clone())
        };
        let end = train::train_job(&job, device)?;
        if end != TrainEnd::Done {
            return Ok(end);
        }
        println!();
    }
    compare(&dirs, &out)?;
    Ok(TrainEnd::Done)
}
