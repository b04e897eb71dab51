//! TensorBoard's event files in a run folder (`logs/train/`, `logs/validation/`), as Keras'
//! `TensorBoard` callback writes them: TensorBoard's own reader (`EventAccumulator`, through
//! tests/tensorboard_check.py) loads them with Keras' tags, one value per epoch equal to
//! `history.csv` bit for bit, the running loss every `--log-every` steps, a histogram of every
//! parameter per epoch and the report's images; and a run killed then resumed has each step once.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::run::{command, ok, scratch};
use serde_json::Value;
use wgnn::train::events::read_dir_events;

const BIN: &str = "tensorboard";

/// `history.csv`'s column `col` (by header name), one value per epoch, as f32.
fn history(dir: &Path, col: &str) -> Vec<f32> {
    let text = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|&h| h == col).unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap())
        .collect()
}

/// What TensorBoard's reader finds in `folder`.
fn read_with_tensorboard(py: &Path, folder: &Path) -> Value {
    let o = Command::new(py)
        .arg("tests/tensorboard_check.py")
        .arg(folder)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `(step, value)` pairs of a scalar tag.
fn scalars(v: &Value, tag: &str) -> Vec<(u64, f32)> {
    v["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag} in {v}"))
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap() as f32))
        .collect()
}

#[test]
fn tensorboards_reader_loads_a_runs_event_files_with_kerass_tags() {
    let Some(py) = common::python::python_with(&["tensorboard"]) else {
        return;
    };
    let dir = scratch(BIN, "run");
    let d = dir.to_str().unwrap();
    ok(&[
        "train",
        "--model",
        "tiny",
        "--epochs",
        "2",
        "--limit",
        "3000",
        "--batch-size",
        "32",
        "--backend",
        "cpu",
        "--log-every",
        "10",
        "--out",
        d,
    ]);
    let train = read_with_tensorboard(&py, &dir.join("logs/train"));
    let val = read_with_tensorboard(&py, &dir.join("logs/validation"));
    // Each epoch value at step epoch - 1, equal to history.csv's to the bit.
    for (file, tag, column) in [
        (&train, "epoch_loss", "loss"),
        (&train, "epoch_accuracy", "accuracy"),
        (&train, "epoch_learning_rate", "lr"),
        (&val, "epoch_loss", "val_loss"),
        (&val, "epoch_accuracy", "val_accuracy"),
    ] {
        let want: Vec<(u64, f32)> = (0..).zip(history(&dir, column)).collect();
        assert_eq!(scalars(file, tag), want, "{tag} against {column}");
    }
    // 2,400 training images in batches of 32: 75 steps an epoch, 150 in all.
    let steps: Vec<u64> = scalars(&train, "batch_loss").iter().map(|s| s.0).collect();
    assert_eq!(steps, (1..=15).map(|k| 10 * k).collect::<Vec<_>>());
    assert!(scalars(&train, "batch_loss")
        .iter()
        .all(|s| s.1.is_finite()));
    // One histogram per parameter per epoch, each counting the whole tensor.
    let histos = train["histograms"].as_object().unwrap();
    assert_eq!(histos.len(), 8, "{histos:?}");
    assert_eq!(
        histos["sequential/conv2d/kernel/histogram"],
        serde_json::json!([[0, 72.0], [1, 72.0]])
    );
    for tag in ["learning_curves", "confusion_matrix"] {
        let img = &train["images"][tag][0];
        assert_eq!(img[0], 1, "{tag} at the last epoch's step");
        assert!(img[1].as_u64().unwrap() > 100 && img[3].as_u64().unwrap() > 1000);
    }
    assert!(val["histograms"].as_object().unwrap().is_empty());
}

/// Every (tag, step) a run's training event files hold, with how many times each appears.
fn steps_written(dir: &Path) -> BTreeMap<(String, i64), usize> {
    let mut seen = BTreeMap::new();
    for e in read_dir_events(&dir.join("logs/train")) {
        for v in e.summary.iter().flat_map(|s| &s.value) {
            *seen.entry((v.tag.clone(), e.step)).or_default() += 1;
        }
    }
    seen
}

/// A run SIGKILLed after checkpoints of its first epoch, then resumed to the end: every epoch
/// and every logged step is in the event files once (the kill's moment depends on the run's
/// progress, never on the clock).
#[test]
fn a_killed_then_resumed_run_logs_each_step_once() {
    let dir = scratch(BIN, "killed");
    let d = dir.to_str().unwrap();
    let args = [
        "train",
        "--model",
        "tiny",
        "--epochs",
        "3",
        "--limit",
        "3000",
        "--batch-size",
        "32",
        "--backend",
        "cpu",
        "--checkpoint-every",
        "7",
        "--log-every",
        "5",
        "--out",
        d,
    ];
    let mut child = command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while common::run::checkpointed_steps(&dir).is_none_or(|t| t < 40)
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let resumed = ok(&["train", "--resume", d]);
    assert!(resumed.contains("Resuming `tiny`"), "{resumed}");
    let seen = steps_written(&dir);
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "written twice: {twice:?}");
    let steps = |tag: &str| -> Vec<i64> {
        seen.keys()
            .filter(|(t, _)| t == tag)
            .map(|(_, s)| *s)
            .collect()
    };
    assert_eq!(steps("epoch_loss"), [0, 1, 2]);
    // 225 steps in all: a record every 5, whichever side of the kill wrote it.
    let batch = steps("batch_loss");
    assert_eq!(batch, (1..=45).map(|k| 5 * k).collect::<Vec<_>>());
    assert_eq!(history(&dir, "loss").len(), 3);
}
