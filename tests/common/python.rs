//! The Python interpreter for the checks that run other projects' own readers (onnxruntime,
//! TensorBoard): `$WGNN_PYTHON`, else `/tmp/onnxvenv/bin/python` (the venv `.ci/run` creates),
//! else `python3`. Without the modules a check needs, it fails under `CI=true` and is skipped,
//! saying why, elsewhere.

use std::path::PathBuf;
use std::process::Command;

/// The first interpreter that imports every module of `modules`, or None (after saying why) when
/// a local run may skip; panics under CI.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match std::env::var_os("WGNN_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec!["/tmp/onnxvenv/bin/python".into(), "python3".into()],
    };
    let import = format!("import {}", modules.join(", "));
    for py in candidates {
        match Command::new(&py).args(["-c", &import]).output() {
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
        "no Python with {} (set WGNN_PYTHON, or run `python3 -m venv /tmp/onnxvenv && /tmp/onnxvenv/bin/pip install {}`); tried {}",
        modules.join(", "),
        modules.join(" "),
        tried.join("; ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}
