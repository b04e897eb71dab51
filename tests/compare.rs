//! `wgnn compare` end to end: the table, its Markdown form and the plot agree with the runs'
//! metrics.json and history.csv, and a folder that is not a finished run is a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wgnn::app::compare::best_val;
use wgnn::model::{resolve, thousands};
use wgnn::report::RUN_COLORS;
use wgnn::train::{EpochRecord, History};

fn wgnn_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgnn"))
        .args(args)
        .current_dir(dir)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("wgnn runs")
}

fn ok(args: &[&str]) -> String {
    ok_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let o = wgnn_in(dir, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "wgnn {args:?} failed:\n{out}\n{err}");
    out.into_owned()
}

/// Fails with `code` and a message containing every needle, without panicking.
fn fails(args: &[&str], code: i32, needles: &[&str]) {
    let o = wgnn_in(Path::new(env!("CARGO_MANIFEST_DIR")), args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "wgnn {args:?}: {err}");
    assert!(!err.contains("panicked"), "wgnn {args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "wgnn {args:?}: expected `{n}` in: {err}");
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgnn-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const QUICK: [&str; 8] = [
    "--limit",
    "1000",
    "--batch-size",
    "50",
    "--epochs",
    "2",
    "--backend",
    "cpu",
];

/// The row a run should get, computed here from its files: run, model, params, epochs, best
/// validation accuracy (epoch), test accuracy, train time.
fn expected_row(dir: &Path) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let h = History::read_csv(&dir.join("history.csv")).unwrap();
    let mut best: Option<(f32, usize)> = None;
    for r in &h.records {
        if let Some(a) = r.val_accuracy {
            if best.is_none_or(|(b, _)| a > b) {
                best = Some((a, r.epoch));
            }
        }
    }
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    vec![
        dir.display().to_string(),
        m["model"].as_str().unwrap().to_string(),
        thousands(m["params"].as_u64().unwrap() as usize),
        h.len().to_string(),
        match best {
            Some((a, e)) => format!("{} ({e})", pct(f64::from(a))),
            None => "none".into(),
        },
        pct(m["test_accuracy"].as_f64().unwrap()),
        format!("{:.1} s", m["train_seconds"].as_f64().unwrap()),
    ]
}

/// The rows of the printed table (cells are two or more spaces apart), without the header.
fn text_rows(out: &str) -> Vec<Vec<String>> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("run "));
    let header = lines.next().expect("a table header");
    assert!(header.contains("best val acc (epoch)"), "{header}");
    lines
        .take_while(|l| !l.starts_with("Saved"))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

fn markdown_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("| run | model | params |"), "{text}");
    assert_eq!(lines[1], "|---|---|---:|---:|---:|---:|---:|");
    lines[2..]
        .iter()
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn colors_present(png: &Path) -> Vec<bool> {
    let img = image::open(png).unwrap();
    assert_eq!((img.width(), img.height()), (1400, 560));
    let img = img.to_rgb8();
    RUN_COLORS
        .iter()
        .map(|&(r, g, b)| img.pixels().any(|p| p.0 == [r, g, b]))
        .collect()
}

#[test]
fn compare_trains_then_tables_and_plots_the_runs() {
    let dir = tmp("train");
    let dir_s = dir.to_str().unwrap();
    let mut args = vec!["compare", "--train", "tiny", "shallow", "--out-dir", dir_s];
    args.extend(QUICK);
    let out = ok(&args);
    let (tiny, shallow) = (dir.join("tiny"), dir.join("shallow"));
    let rows = text_rows(&out);
    assert_eq!(rows, vec![expected_row(&tiny), expected_row(&shallow)]);
    assert_eq!(rows[0][2], "27,562");
    let shallow_params = resolve("shallow").unwrap().param_counts().unwrap().0;
    assert_eq!(rows[1][2], thousands(shallow_params));
    // Both were trained on the same 800 images and validated on the same 200, with seed 42.
    for run in [&tiny, &shallow] {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(
            (m["train_images"].as_u64(), m["validation_images"].as_u64()),
            (Some(800), Some(200))
        );
        assert_eq!(m["seed"].as_u64(), Some(42));
    }
    assert_eq!(markdown_rows(&dir.join("compare.md")), rows);
    assert_eq!(
        colors_present(&dir.join("compare.png"))[..3],
        [true, true, false]
    );

    // A third run without validation, compared from the folders with the default --out: the
    // current folder's compare.png and compare.md.
    let noval = dir.join("noval");
    let mut args = vec![
        "train",
        "--model",
        "tiny",
        "--validation-split",
        "0",
        "--out",
        noval.to_str().unwrap(),
    ];
    args.extend(QUICK);
    ok(&args);
    let cwd = tmp("cwd");
    let dirs = [&tiny, &shallow, &noval].map(|d| d.to_str().unwrap().to_string());
    let out = ok_in(&cwd, &["compare", &dirs[0], &dirs[1], &dirs[2]]);
    let rows = text_rows(&out);
    assert_eq!(
        rows,
        vec![
            expected_row(&tiny),
            expected_row(&shallow),
            expected_row(&noval)
        ]
    );
    assert_eq!(rows[2][4], "none");
    assert_eq!(markdown_rows(&cwd.join("compare.md")), rows);
    assert_eq!(
        colors_present(&cwd.join("compare.png"))[..4],
        [true, true, true, false]
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cwd);
}

#[test]
fn best_validation_accuracy_is_the_first_highest_epoch() {
    let rec = |epoch, val_accuracy: Option<f32>| EpochRecord {
        epoch,
        loss: 1.0,
        accuracy: 0.5,
        val_loss: val_accuracy.map(|_| 1.0),
        val_accuracy,
        seconds: 1.0,
        lr: None,
    };
    let h = History {
        records: vec![
            rec(1, Some(0.8)),
            rec(2, Some(0.9)),
            rec(3, Some(0.85)),
            rec(4, Some(0.9)),
        ],
    };
    assert_eq!(best_val(&h), Some((0.9, 2)));
    let h = History {
        records: vec![rec(1, None), rec(2, None)],
    };
    assert_eq!(best_val(&h), None);
}

#[test]
fn folders_that_are_not_finished_runs_are_clear_errors() {
    let dir = tmp("bad");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = empty.to_str().unwrap();
    fails(
        &["compare", e],
        1,
        &[
            e,
            "is not a finished run",
            "no metrics.json and no history.csv",
        ],
    );
    let half = dir.join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("metrics.json"), "{\"model\": \"tiny\"}").unwrap();
    let h = half.to_str().unwrap();
    fails(&["compare", h], 1, &[h, "no history.csv"]);
    std::fs::write(half.join("history.csv"), wgnn::train::history::CSV_HEADER).unwrap();
    fails(&["compare", h], 1, &["history.csv", "holds no epochs"]);
    std::fs::write(
        half.join("history.csv"),
        format!(
            "{}\n1,2.0,0.1,,,1.0,0.001\n",
            wgnn::train::history::CSV_HEADER
        ),
    )
    .unwrap();
    fails(
        &["compare", h],
        1,
        &[
            "metrics.json",
            "is not the metrics of a wgnn run",
            "missing field",
        ],
    );
    let missing = dir.join("missing");
    let m = missing.to_str().unwrap();
    fails(&["compare", m], 1, &[m, "no such folder"]);
    fails(&["compare"], 1, &["give one or more run folders"]);
    fails(
        &["compare", e, "--out", "plot.jpg"],
        1,
        &["--out plot.jpg", ".png"],
    );
    fails(&["compare", "--train", "nope"], 1, &["--train nope"]);
    fails(
        &["compare", "--train", "tiny", "tiny"],
        1,
        &["`tiny` is given twice"],
    );
    // tiny validates on its last 20%, deep on its last 10%: not comparable as they are.
    fails(
        &["compare", "--train", "tiny", "deep"],
        1,
        &["`tiny`", "`deep`", "--validation-split"],
    );
    fails(
        &["compare", e, "--train", "tiny"],
        1,
        &["run folders or --train MODEL..., not both"],
    );
    // Training flags without --train are a usage error.
    fails(&["compare", e, "--epochs", "2"], 2, &["--train"]);
    // Data flags choose what --train trains on; run folders keep their own data.
    fails(
        &["compare", e, "--dataset", "fashion-mnist", "--color", "rgb"],
        1,
        &[
            "--dataset, --color chooses the data to train on",
            "--train MODEL",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
