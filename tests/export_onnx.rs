//! `wgnn export --onnx` end to end: a freshly trained model is exported, checked by
//! `onnx.checker.check_model(full_check=True)` and run by onnxruntime (CPU) over the 10,000 MNIST
//! test images in `tests/onnx_check.py`, whose probabilities must agree with `wgnn eval
//! --probabilities` within 1e-4 + 1e-3 * |p| and give the same argmax on every image. Models:
//! `cnn-bn`, `examples/models/every-layer.toml` and the two global poolings
//! (`tests/onnx_models/`), which together hold every layer kind and activation.
//!
//! The Python interpreter is `$WGNN_PYTHON`, else `/tmp/onnxvenv/bin/python` (what `.ci/run`
//! creates), else `python3`. Without numpy, onnx and onnxruntime there the checks fail under
//! `CI=true` and are skipped, saying why, elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run::{fails, ok, scratch};

const BIN: &str = "export_onnx";

/// The interpreter with onnx, onnxruntime and numpy, or None (after saying why) when a local run
/// may skip; panics under CI.
fn python() -> Option<PathBuf> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match std::env::var_os("WGNN_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec!["/tmp/onnxvenv/bin/python".into(), "python3".into()],
    };
    for py in candidates {
        let o = Command::new(&py)
            .args(["-c", "import numpy, onnx, onnxruntime"])
            .output();
        match o {
            Ok(o) if o.status.success() => return Some(py),
            Ok(o) => tried.push(format!(
                "{}: {}",
                py.display(),
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Err(e) => tried.push(format!("{}: {e}", py.display())),
        }
    }
    let why = format!(
        "no Python with numpy, onnx and onnxruntime (set WGNN_PYTHON, or run `python3 -m venv /tmp/onnxvenv && /tmp/onnxvenv/bin/pip install onnx onnxruntime numpy`); tried {}",
        tried.join("; ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED the ONNX checks: {why}");
    None
}

/// Trains `model` briefly into a scratch folder, exports it, writes wgnn's test probabilities
/// and checks the export with tests/onnx_check.py; returns the script's JSON figures.
fn export_and_check(name: &str, model: &str) -> Option<serde_json::Value> {
    let py = python()?;
    let dir = scratch(BIN, name);
    let d = dir.to_str().unwrap();
    ok(&[
        "train",
        "--model",
        model,
        "--epochs",
        "1",
        "--limit",
        "6000",
        "--validation-split",
        "0.1",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    let onnx = dir.join("model.onnx");
    let out = ok(&[
        "export",
        "--checkpoint",
        d,
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    let bytes = std::fs::metadata(&onnx)
        .expect("the ONNX file exists")
        .len();
    for needle in [
        "opset 15",
        "IR version 8",
        "[N, 28, 28, 1]",
        "`probabilities` [N, 10]",
        &format!("({} bytes)", wgnn::model::thousands(bytes as usize)),
    ] {
        assert!(out.contains(needle), "expected `{needle}` in: {out}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let probs = dir.join("probs.npy");
    ok(&[
        "eval",
        "--checkpoint",
        d,
        "--backend",
        "cpu",
        "--probabilities",
        probs.to_str().unwrap(),
    ]);
    let o = Command::new(&py)
        .arg("tests/onnx_check.py")
        .arg(&onnx)
        .arg(&probs)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{model}: {text}");
    assert!(
        o.status.success(),
        "onnx_check.py failed for {model}:\n{text}"
    );
    let fig: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.starts_with('{'))
            .expect("a JSON line"),
    )
    .unwrap();
    assert_eq!(fig["images"], 10000);
    assert_eq!(fig["argmax_agree"], 10000);
    assert_eq!(fig["within_tolerance"], 10000);
    assert!(fig["max_abs_diff"].as_f64().unwrap() <= 1e-4);
    assert_eq!(fig["opset"], 15);
    assert_eq!(fig["ir_version"], 8);
    let _ = std::fs::remove_dir_all(&dir);
    Some(fig)
}

fn ops(fig: &serde_json::Value) -> Vec<String> {
    fig["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn cnn_bn_agrees_with_onnxruntime() {
    let Some(fig) = export_and_check("cnn-bn", "cnn-bn") else {
        return;
    };
    for op in ["BatchNormalization", "Conv", "MaxPool", "Gemm", "Softmax"] {
        assert!(ops(&fig).contains(&op.to_string()), "{op} missing: {fig}");
    }
}

#[test]
fn every_layer_kind_agrees_with_onnxruntime() {
    let Some(fig) = export_and_check("every-layer", "examples/models/every-layer.toml") else {
        return;
    };
    for op in [
        "Conv",
        "Tanh",
        "MaxPool",
        "BatchNormalization",
        "Elu",
        "AveragePool",
        "LeakyRelu",
        "Relu",
        "Flatten",
        "Gemm",
        "Sigmoid",
        "Softmax",
    ] {
        assert!(ops(&fig).contains(&op.to_string()), "{op} missing: {fig}");
    }
}

#[test]
fn global_poolings_agree_with_onnxruntime() {
    for (name, op) in [
        ("global_avg", "GlobalAveragePool"),
        ("global_max", "GlobalMaxPool"),
    ] {
        let model = format!("tests/onnx_models/{name}.toml");
        let Some(fig) = export_and_check(name, &model) else {
            return;
        };
        assert!(ops(&fig).contains(&op.to_string()), "{op} missing: {fig}");
    }
}

#[test]
fn export_errors_name_the_culprit() {
    fails(
        &[
            "export",
            "--checkpoint",
            "/nonexistent/run",
            "--onnx",
            "/tmp/x.onnx",
        ],
        &["/nonexistent/run", "does not exist"],
    );
    // A folder that is not a checkpoint.
    let empty = scratch(BIN, "not-a-run");
    std::fs::create_dir_all(&empty).unwrap();
    fails(
        &[
            "export",
            "--checkpoint",
            empty.to_str().unwrap(),
            "--onnx",
            "/tmp/x.onnx",
        ],
        &["model.safetensors"],
    );
    // Corrupt weights.
    std::fs::write(empty.join("model.safetensors"), b"garbage").unwrap();
    fails(
        &[
            "export",
            "--checkpoint",
            empty.to_str().unwrap(),
            "--onnx",
            "/tmp/x.onnx",
        ],
        &["model.safetensors"],
    );
    // An unwritable destination: its parent is a file.
    let dir = scratch(BIN, "tiny");
    let d = dir.to_str().unwrap();
    ok(&[
        "train",
        "--model",
        "tiny",
        "--epochs",
        "1",
        "--limit",
        "300",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    let blocked: &Path = &dir.join("model.toml").join("model.onnx");
    fails(
        &[
            "export",
            "--checkpoint",
            d,
            "--onnx",
            blocked.to_str().unwrap(),
        ],
        &["cannot write the ONNX file", &blocked.display().to_string()],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}
