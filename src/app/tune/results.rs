//! The results of a search: one row per trial, best validation accuracy first, the chosen trial
//! evaluated on the test set (the only one that is), the validation curves overlaid.

use std::path::{Path, PathBuf};

use super::{trial_dir, Search, FAILED, SEARCH};
use crate::app::backend::BackendKind;
use crate::app::compare;
use crate::app::device::Device;
use crate::app::eval::predict_set;
use crate::error::{Error, Result};
use crate::report::{compare_png, RunCurves};
use crate::train::checkpoint;
use crate::train::History;
use crate::util::fs::write_atomic;

/// How a trial ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Done,
    Failed(String),
    /// Not run yet (another shard's, or interrupted before its first checkpoint).
    NotRun,
}

#[derive(Clone, Debug)]
pub struct TrialResult {
    pub index: usize,
    pub label: String,
    pub values: Vec<(String, String)>,
    pub status: Status,
    /// Best validation accuracy, its epoch, and the validation loss then.
    pub best: Option<(f32, usize, f32)>,
    pub train_seconds: f64,
    pub images_per_second: f64,
    pub history: History,
}

fn read_trial(out: &Path, k: usize, values: &[(String, String)]) -> Result<TrialResult> {
    let dir = trial_dir(out, k);
    let mut r = TrialResult {
        index: k,
        label: format!("trial-{k:03}"),
        values: values.to_vec(),
        status: Status::NotRun,
        best: None,
        train_seconds: 0.0,
        images_per_second: 0.0,
        history: History::default(),
    };
    if let Ok(why) = std::fs::read_to_string(dir.join(FAILED)) {
        r.status = Status::Failed(why.trim().to_string());
        return Ok(r);
    }
    if !dir.join(crate::app::train::METRICS).is_file() {
        return Ok(r);
    }
    let run = compare::load(&dir)?;
    r.best = run.best_val.map(|(acc, epoch)| {
        let loss = run.history.records.iter().find(|e| e.epoch == epoch);
        (
            acc,
            epoch,
            loss.and_then(|e| e.val_loss).unwrap_or(f32::NAN),
        )
    });
    r.train_seconds = run.train_seconds;
    r.images_per_second = run.images_per_second;
    r.history = run.history;
    r.status = Status::Done;
    Ok(r)
}

/// Best validation accuracy first; failed and unrun trials last, in trial order.
pub fn sort(rows: &mut [TrialResult]) {
    rows.sort_by(|a, b| {
        let key = |r: &TrialResult| r.best.map_or(f32::NEG_INFINITY, |b| b.0);
        key(b).total_cmp(&key(a)).then(a.index.cmp(&b.index))
    });
}

fn cells(r: &TrialResult, axes: &[String], test: Option<f32>) -> Vec<String> {
    let mut c = vec![r.label.clone()];
    c.extend(axes.iter().map(|a| {
        r.values
            .iter()
            .find(|(k, _)| k == a)
            .map_or(String::new(), |(_, v)| v.clone())
    }));
    match (&r.status, r.best) {
        (Status::Done, Some((acc, epoch, loss))) => c.extend([
            format!("{:.4}", acc),
            epoch.to_string(),
            format!("{:.4}", loss),
            format!("{:.1}", r.train_seconds),
            format!("{:.0}", r.images_per_second),
            test.map_or(String::new(), |t| format!("{t:.4}")),
            "done".into(),
        ]),
        (Status::Failed(why), _) => c.extend(
            ["", "", "", "", "", ""]
                .map(String::from)
                .into_iter()
                .chain([format!("failed: {why}")]),
        ),
        _ => c.extend(["", "", "", "", "", "", "not run"].map(String::from)),
    }
    c
}

/// Reads every trial of the search in `out`, evaluates the chosen one on the test set, and
/// writes `results.csv`, `results.md` and `results.png`.
/// The search described in `out`.
fn read_search(out: &Path) -> Result<Search> {
    let path = out.join(SEARCH);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::file(
            &path,
            format!(
                "cannot read the search description ({e}); is {} a `wgnn tune` folder?",
                out.display()
            ),
        )
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a search description: {e}")))
}

/// `header` and `table` as CSV, fields with a comma or a quote quoted.
fn csv_table(header: &[String], table: &[Vec<String>]) -> String {
    let csv_field = |s: &str| match s.contains([',', '"']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    };
    let mut csv = String::new();
    for line in std::iter::once(header).chain(table.iter().map(Vec::as_slice)) {
        let f: Vec<String> = line.iter().map(|s| csv_field(s)).collect();
        csv += &(f.join(",") + "\n");
    }
    csv
}

/// `header` and `table` as a Markdown table.
fn md_table(header: &[String], table: &[Vec<String>]) -> String {
    let md_row = |l: &[String]| {
        format!(
            "| {} |\n",
            l.iter()
                .map(|s| s.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut md = md_row(header);
    md += &md_row(&vec!["---".to_string(); header.len()]);
    for l in table {
        md += &md_row(l);
    }
    md
}

/// The table's columns: the trial, the searched axes, then the results.
fn header(axes: &[String]) -> Vec<String> {
    let results = [
        "best_val_accuracy",
        "best_epoch",
        "val_loss",
        "train_seconds",
        "images_per_second",
        "test_accuracy",
        "status",
    ];
    std::iter::once("trial".to_string())
        .chain(axes.iter().cloned())
        .chain(results.map(String::from))
        .collect()
}

/// The test accuracy of the trial chosen by validation: the only trial the test set sees.
fn test_accuracy(
    out: &Path,
    search: &Search,
    chosen: &TrialResult,
    backend: BackendKind,
    device: &Device,
) -> Result<f32> {
    let dir = trial_dir(out, chosen.index);
    let data = crate::app::data::DataArgs {
        dataset: search.dataset.clone(),
        data_dir: search.data_dir.as_ref().map(PathBuf::from),
        ..Default::default()
    }
    .load()?
    .splits;
    let spec = checkpoint::load_spec(&dir)?;
    let (stats, _) = predict_set(&dir, &spec, &data.test, backend, device)?;
    Ok(stats.accuracy)
}

/// The sentence under the table: which trial was chosen, and its test accuracy.
fn summary(chosen: Option<(&TrialResult, f32)>) -> String {
    let Some((r, acc)) = chosen else {
        return "No trial finished: nothing was chosen.".to_string();
    };
    format!(
        "Chosen by validation accuracy: {} ({}), best val_accuracy {:.4} at epoch {}; its test accuracy is {:.4}. No other trial was evaluated on the test set.",
        r.label,
        r.values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        r.best.map_or(0.0, |b| b.0),
        r.best.map_or(0, |b| b.1),
        acc
    )
}

/// results.png: the validation curves of the best 10 finished trials; false when none finished.
fn write_curves(out: &Path, rows: &[TrialResult]) -> Result<bool> {
    let curves: Vec<RunCurves<'_>> = rows
        .iter()
        .filter(|r| r.status == Status::Done)
        .take(10)
        .map(|r| RunCurves {
            label: &r.label,
            history: &r.history,
        })
        .collect();
    if curves.is_empty() {
        return Ok(false);
    }
    compare_png(&curves, &out.join("results.png"))?;
    Ok(true)
}

pub fn collect(out: &Path, backend: BackendKind, device: &Device) -> Result<()> {
    let search = read_search(out)?;
    let mut rows = search
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| read_trial(out, i + 1, &t.values))
        .collect::<Result<Vec<_>>>()?;
    sort(&mut rows);
    let axes: Vec<String> = search
        .trials
        .first()
        .map(|t| t.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    // Chosen by validation; the test set is seen by this trial alone.
    let chosen = match rows
        .iter()
        .find(|r| r.status == Status::Done && r.best.is_some())
    {
        Some(r) => Some((r, test_accuracy(out, &search, r, backend, device)?)),
        None => None,
    };
    let test_of = |r: &TrialResult| chosen.filter(|(c, _)| c.index == r.index).map(|(_, a)| a);
    let header = header(&axes);
    let table: Vec<Vec<String>> = rows.iter().map(|r| cells(r, &axes, test_of(r))).collect();
    write_atomic(
        &out.join("results.csv"),
        csv_table(&header, &table).as_bytes(),
    )?;
    let md = format!(
        "# Search over `{}` ({} trials, seed {})\n\n{}\n{}\n",
        search.model,
        search.trials.len(),
        search.seed,
        md_table(&header, &table),
        summary(chosen)
    );
    write_atomic(&out.join("results.md"), md.as_bytes())?;
    let curves = write_curves(out, &rows)?;
    print!("\n{md}");
    println!(
        "Saved results.csv, results.md{} to {}",
        if curves {
            " and results.png (the best 10 trials' curves)"
        } else {
            ""
        },
        out.display()
    );
    Ok(())
}
