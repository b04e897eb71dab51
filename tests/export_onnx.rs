//! `wgnn export --onnx` end to end: a freshly trained model is exported, checked by
//! `onnx.checker.check_model(full_check=True)` and run by onnxruntime (CPU) over the 10,000 MNIST
//! test images in `tests/onnx_check.py`, whose probabilities must agree with `wgnn eval
//! --probabilities` within 1e-4 + 1e-3 * |p| and give the same argmax on every image. Models:
//! `cnn-bn`, `examples/models/every-layer.toml` and the two global poolings
//! (`tests/onnx_models/`), which together hold every layer kind and activation; and `convnet` on
//! a colour set (32x32x3, four classes) written here as keras.datasets keeps CIFAR-10.
//!
//! The Python interpreter is `$WGNN_PYTHON`, else `/tmp/onnxvenv/bin/python` (what `.ci/run`
//! creates), else `python3`. Without numpy, onnx and onnxruntime there the checks fail under
//! `CI=true` and are skipped, saying why, elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::formats::npy;
use common::run::{fails, ok, scratch};

const BIN: &str = "export_onnx";

/// The interpreter with onnx, onnxruntime and numpy.
fn python() -> Option<PathBuf> {
    common::python::python_with(&["numpy", "onnx", "onnxruntime"])
}

/// What a model is trained on and checked over: wgnn's data flags, the input shape the export
/// must declare, and the test images that tests/onnx_check.py feeds onnxruntime.
struct Data {
    flags: Vec<String>,
    input: &'static str,
    classes: usize,
    images: String,
    test_images: u64,
}

/// The first 6,000 MNIST training images, one epoch; its 10,000 test images.
fn mnist() -> Data {
    Data {
        flags: ["--limit", "6000", "--epochs", "1"]
            .map(String::from)
            .into(),
        input: "[N, 28, 28, 1]",
        classes: 10,
        images: "data/mnist/t10k-images-idx3-ubyte.gz".into(),
        test_images: 10_000,
    }
}

/// Trains `model` briefly into a scratch folder, exports it, writes wgnn's test probabilities
/// and checks the export with tests/onnx_check.py; returns the script's JSON figures.
fn export_and_check(name: &str, model: &str, data: &Data) -> Option<serde_json::Value> {
    let py = python()?;
    let dir = scratch(BIN, name);
    let d = dir.to_str().unwrap();
    let mut train = vec!["train", "--model", model, "--validation-split", "0.1"];
    train.extend(data.flags.iter().map(String::as_str));
    ok(&[&train[..], &["--backend", "cpu", "--out", d]].concat());
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
    let output = format!("`probabilities` [N, {}]", data.classes);
    for needle in [
        "opset 15",
        "IR version 8",
        data.input,
        &output,
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
        .args(["--images", &data.images])
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
    assert_eq!(fig["images"], data.test_images);
    assert_eq!(fig["argmax_agree"], data.test_images);
    assert_eq!(fig["within_tolerance"], data.test_images);
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
    let Some(fig) = export_and_check("cnn-bn", "cnn-bn", &mnist()) else {
        return;
    };
    for op in ["BatchNormalization", "Conv", "MaxPool", "Gemm", "Softmax"] {
        assert!(ops(&fig).contains(&op.to_string()), "{op} missing: {fig}");
    }
}

#[test]
fn every_layer_kind_agrees_with_onnxruntime() {
    let Some(fig) = export_and_check("every-layer", "examples/models/every-layer.toml", &mnist())
    else {
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
        let Some(fig) = export_and_check(name, &model, &mnist()) else {
            return;
        };
        assert!(ops(&fig).contains(&op.to_string()), "{op} missing: {fig}");
    }
}

/// A colour set as keras.datasets keeps CIFAR-10 (`[N, 32, 32, 3]` uint8 in an .npz): each of four
/// classes a colour, over a pattern and noise that vary by image, so that a briefly trained
/// model tells them apart with room to spare (no near-ties for the argmax check).
fn colour_npz(path: &Path) {
    const TINTS: [[f32; 3]; 4] = [
        [0.9, 0.2, 0.2],
        [0.2, 0.8, 0.3],
        [0.2, 0.3, 0.9],
        [0.8, 0.8, 0.2],
    ];
    let images = |n: usize, salt: usize| {
        let mut x = Vec::with_capacity(n * 32 * 32 * 3);
        let mut noise = (salt as u32).wrapping_mul(2_654_435_761) | 1;
        for i in 0..n {
            for p in 0..32 * 32 {
                let pattern = ((p % 32 + p / 32 + i) % 9) as f32 / 9.0;
                for tint in TINTS[i % 4] {
                    noise ^= noise << 13;
                    noise ^= noise >> 17;
                    noise ^= noise << 5;
                    let v = 255.0 * tint * (0.5 + 0.5 * pattern) + (noise % 40) as f32;
                    x.push(v.min(255.0) as u8);
                }
            }
        }
        x
    };
    let labels = |n: usize| (0..n).map(|i| (i % 4) as u8).collect::<Vec<u8>>();
    common::formats::write_npz(
        path,
        &[
            ("x_train", npy("|u1", &[1200, 32, 32, 3], &images(1200, 1))),
            ("y_train", npy("|u1", &[1200], &labels(1200))),
            ("x_test", npy("|u1", &[400, 32, 32, 3], &images(400, 2))),
            ("y_test", npy("|u1", &[400], &labels(400))),
        ],
    );
}

#[test]
fn a_colour_model_agrees_with_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("colours.npz");
    colour_npz(&npz);
    let data = Data {
        flags: ["--data-dir", npz.to_str().unwrap(), "--epochs", "2"]
            .map(String::from)
            .into(),
        input: "[N, 32, 32, 3]",
        classes: 4,
        images: npz.display().to_string(),
        test_images: 400,
    };
    let Some(fig) = export_and_check("colour", "convnet", &data) else {
        return;
    };
    assert_eq!(
        fig["input"][1],
        serde_json::json!(["N", 32, 32, 3]),
        "{fig}"
    );
    assert_eq!(fig["output"][1], serde_json::json!(["N", 4]), "{fig}");
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
