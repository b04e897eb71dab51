//! `wgnn tune` end to end on small grids: results sorted by validation with only the chosen trial
//! tested, failed trials recorded while the search goes on, re-runs that continue instead of
//! repeating, shards merged by `--collect`, an interrupted trial resumed; and the search space
//! (axes, grids, draws, model hyperparameters) by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::run::{command, ok, scratch, text, wgnn};
use wgnn::app::tune::space::{apply_to_model, trials, Axis, Values};
use wgnn::layers::{Conv2D, Dense, Dropout};
use wgnn::model::{preset, Layer};
use wgnn::train::events::read_dir_events;

fn tmp(name: &str) -> PathBuf {
    scratch("tune", name)
}

const SMALL: &str = "--model tiny --limit 1000 --epochs 2 --backend cpu";

fn tune(flags: &str, out: &Path) -> String {
    let mut args = vec!["tune"];
    args.extend(SMALL.split_whitespace());
    args.extend(flags.split_whitespace());
    args.extend(["--out", out.to_str().unwrap()]);
    ok(&args)
}

/// results.csv as (header, rows).
fn results(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = csv
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    (lines.next().unwrap(), lines.collect())
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[test]
fn a_grid_search_chooses_by_validation_and_tests_only_its_choice() {
    let out = tmp("grid");
    let o = tune("--grid lr=1e-3,3e-3 --grid dropout=0.2,0.4", &out);
    assert!(o.contains("=== Trial 4 of 4"), "{o}");
    let (h, rows) = results(&out);
    assert_eq!(rows.len(), 4);
    let (val, test, trial) = (
        col(&h, "best_val_accuracy"),
        col(&h, "test_accuracy"),
        col(&h, "trial"),
    );
    let vals: Vec<f64> = rows.iter().map(|r| r[val].parse().unwrap()).collect();
    assert!(
        vals.windows(2).all(|w| w[0] >= w[1]),
        "not sorted best first: {vals:?}"
    );
    // Only the first (chosen) row has a test accuracy, and it is what `eval` gives.
    assert!(rows[1..].iter().all(|r| r[test].is_empty()), "{rows:?}");
    let chosen = out.join(&rows[0][trial]);
    let e = ok(&[
        "eval",
        "--checkpoint",
        chosen.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(
        e.contains(&format!("test accuracy: {}", rows[0][test])),
        "{e}\n{rows:?}"
    );
    for r in &rows {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(&r[trial]).join("metrics.json")).unwrap(),
        )
        .unwrap();
        assert!(
            m["test_accuracy"].is_null(),
            "a trial saw the test set: {m}"
        );
        // Each trial is a run of its own in `tensorboard --logdir` on the search's folder.
        for set in ["train", "validation"] {
            let events = read_dir_events(&out.join(&r[trial]).join("logs").join(set));
            let tags = events
                .iter()
                .flat_map(|e| e.summary.iter().flat_map(|s| &s.value));
            assert!(
                tags.filter(|v| v.tag == "epoch_loss").count() >= 1,
                "{} has no {set} events",
                r[trial]
            );
        }
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        md.contains("Chosen by validation accuracy") && md.contains(&rows[0][trial]),
        "{md}"
    );
    assert!(out.join("results.png").is_file());
    // The dropout axis reached the model.
    let spec = std::fs::read_to_string(out.join("trial-002").join("model.toml")).unwrap();
    assert!(spec.contains("rate = 0.4"), "{spec}");
    // Running the same command again continues the search: nothing is trained twice.
    let again = tune("--grid lr=1e-3,3e-3 --grid dropout=0.2,0.4", &out);
    assert!(!again.contains("=== Trial"), "{again}");
    assert_eq!(results(&out).1, rows);
    // Another search in the same folder is refused.
    let o = wgnn(&[
        "tune",
        "--model",
        "tiny",
        "--grid",
        "lr=0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("holds another search"), "{}", text(&o));
}

#[test]
fn a_failed_trial_is_recorded_and_the_search_goes_on() {
    let out = tmp("failed");
    let o = tune("--grid lr=1e30,1e-3", &out);
    assert!(o.contains("trial 1 failed"), "{o}");
    let (h, rows) = results(&out);
    let (status, trial) = (col(&h, "status"), col(&h, "trial"));
    assert_eq!(rows[0][trial], "trial-002");
    assert_eq!(rows[0][status], "done");
    // The reason holds commas, so it is quoted: look at the rest of the row as one text.
    let rest = rows[1][status..].join(",");
    assert!(rest.starts_with("\"failed: training diverged"), "{rows:?}");
}

#[test]
fn random_trials_in_shards_are_collected() {
    let out = tmp("shards");
    let flags = "--grid lr=log:1e-4..1e-2 --grid batch-size=32,64 --trials 3";
    let a = tune(&format!("{flags} --shard 1/2"), &out);
    assert!(
        a.contains("Trial 1 of 3") && a.contains("Trial 3 of 3") && !a.contains("Trial 2 of 3"),
        "{a}"
    );
    let b = tune(&format!("{flags} --shard 2/2"), &out);
    assert!(b.contains("Trial 2 of 3") && b.contains("--collect"), "{b}");
    assert!(
        !out.join("results.csv").exists(),
        "a shard wrote the results"
    );
    ok(&[
        "tune",
        "--collect",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let (h, rows) = results(&out);
    assert_eq!(rows.len(), 3);
    let lr = col(&h, "lr");
    for r in &rows {
        let v: f64 = r[lr].parse().unwrap();
        assert!((1e-4..=1e-2).contains(&v), "{v}");
        assert_eq!(r[col(&h, "status")], "done");
    }
    // The draws come from the seed: the whole search again finds every trial finished.
    let again = tune(flags, &out);
    assert!(!again.contains("=== Trial"), "{again}");
}

#[test]
fn an_interrupted_trial_resumes_when_the_command_is_run_again() {
    let out = tmp("interrupted");
    let args = [
        "tune",
        "--model",
        "tiny",
        "--limit",
        "6000",
        "--epochs",
        "3",
        "--backend",
        "cpu",
        "--grid",
        "lr=1e-3,2e-3",
        "--out",
        out.to_str().unwrap(),
    ];
    let child = command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let history = out.join("trial-001").join("history.csv");
    while !std::fs::read_to_string(&history).is_ok_and(|h| h.lines().count() > 1) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "trial 1 never finished an epoch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(
        text(&o).contains("run the same `wgnn tune` command"),
        "{}",
        text(&o)
    );
    let again = ok(&args);
    assert!(again.contains("Resuming `tiny`"), "{again}");
    assert_eq!(results(&out).1.len(), 2);
}

#[test]
fn axes_grids_and_draws() {
    let a: Axis = "lr=1e-3,3e-4".parse().unwrap();
    assert_eq!(a.values, Values::List(vec!["1e-3".into(), "3e-4".into()]));
    let r: Axis = "lr=log:1e-4..1e-2".parse().unwrap();
    assert_eq!(
        r.values,
        Values::Range {
            lo: 1e-4,
            hi: 1e-2,
            log: true
        }
    );
    // Values that hold commas are separated by semicolons.
    let aug: Axis = "augment=shift=2,rotate=10;shift=1".parse().unwrap();
    assert_eq!(
        aug.values,
        Values::List(vec!["shift=2,rotate=10".into(), "shift=1".into()])
    );
    for bad in [
        "lr",
        "colour=red",
        "lr=log:1e-3",
        "lr=5..1",
        "lr=log:0..1",
        "lr=",
    ] {
        let e = bad.parse::<Axis>().unwrap_err().to_string();
        assert!(e.contains("--grid"), "{bad}: {e}");
    }
    let axes: Vec<Axis> = ["lr=1,2,3", "batch-size=32,64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let grid = trials(&axes, None, 1).unwrap();
    assert_eq!(grid.len(), 6);
    assert_eq!(grid[5].label(), "lr=3 batch-size=64");
    assert!(trials(std::slice::from_ref(&r), None, 1)
        .unwrap_err()
        .to_string()
        .contains("--trials"));
    let drawn = trials(&[r.clone(), "epochs=2..5".parse().unwrap()], Some(50), 7).unwrap();
    assert_eq!(
        drawn,
        trials(&[r.clone(), "epochs=2..5".parse().unwrap()], Some(50), 7).unwrap()
    );
    for t in &drawn {
        let lr: f64 = t.get("lr").unwrap().parse().unwrap();
        let epochs: u64 = t.get("epochs").unwrap().parse().unwrap();
        assert!(
            (1e-4..=1e-2).contains(&lr) && (2..=5).contains(&epochs),
            "{}",
            t.label()
        );
    }
    // Log-uniform: about half the draws fall below the geometric middle, 1e-3.
    let below = drawn
        .iter()
        .filter(|t| t.get("lr").unwrap().parse::<f64>().unwrap() < 1e-3)
        .count();
    assert!((15..=35).contains(&below), "{below} of 50 below 1e-3");
    assert!(trials(&[a.clone(), a], None, 1)
        .unwrap_err()
        .to_string()
        .contains("twice"));
}

#[test]
fn model_hyperparameters_change_the_model() {
    let spec = preset("cnn-dropout").unwrap();
    let t = trials(
        &[
            "dropout=0.3".parse().unwrap(),
            "filters=0.5".parse().unwrap(),
            "units=2".parse().unwrap(),
        ],
        None,
        1,
    )
    .unwrap()
    .remove(0);
    let m = apply_to_model(&spec, &t).unwrap();
    let (mut convs, mut dense) = (Vec::new(), Vec::new());
    for l in &m.layers {
        match l {
            Layer::Dropout(Dropout { rate }) => assert_eq!(*rate, 0.3),
            Layer::Conv2D(Conv2D { filters, .. }) => convs.push(*filters),
            Layer::Dense(Dense { units, .. }) => dense.push(*units),
            _ => {}
        }
    }
    assert_eq!(convs, [16, 32], "filters scaled by 0.5");
    assert_eq!(dense, [128, 10], "hidden units doubled, the classes kept");
    let no_dropout = preset("cnn").unwrap();
    let e = apply_to_model(&no_dropout, &t).unwrap_err().to_string();
    assert!(e.contains("no Dropout layer"), "{e}");
}
