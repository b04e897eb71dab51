//! The `wgnn` binary end to end: every command, and bad input giving a clear error and a non-zero
//! exit (never a panic).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::run::{command, fails, ok, ok_stdout, scratch, text};
use common::{has_gpu, with_gpu};

/// wgpu's own bookkeeping buffers come and go by a few dozen bytes between reports; growth that
/// matters (a tensor per step or per epoch) is far larger.
const NOISE: u64 = 4096;

fn tmp(name: &str) -> PathBuf {
    let d = scratch("cli", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One short training run shared by the tests that need a checkpoint.
fn trained() -> &'static (PathBuf, String) {
    static RUN: OnceLock<(PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = tmp("run");
        let o = ok(&[
            "train",
            "--model",
            "tiny",
            "--epochs",
            "1",
            "--limit",
            "4000",
            "--batch-size",
            "32",
            "--out",
            out.to_str().unwrap(),
        ]);
        (out, o)
    })
}

/// A run's metrics.json, as text (for messages) and parsed.
fn metrics_json(dir: &Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

fn metric(dir: &Path, key: &str) -> f64 {
    let (text, v) = metrics_json(dir);
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("metrics.json has no {key}: {text}"))
}

/// `wgnn train FLAGS --out OUT` (flags split on whitespace), which must succeed; its stdout.
fn train(flags: &str, out: &Path) -> String {
    let mut args: Vec<&str> = vec!["train"];
    args.extend(flags.split_whitespace());
    args.extend(["--out", out.to_str().unwrap()]);
    ok(&args)
}

#[test]
fn summary_prints_keras_parameter_counts() {
    let s = ok(&["summary", "--model", "convnet"]);
    assert!(s.contains("34,826"), "{s}");
    let s = ok(&["summary", "--model", "cnn-bn"]);
    assert!(s.contains("122,570") && s.contains("122,250"), "{s}");
}

#[test]
fn devices_lists_the_adapter_in_use() {
    if !has_gpu() {
        return;
    }
    let s = ok(&["devices"]);
    assert!(s.contains('*'), "{s}");
    // Each adapter's line is followed by its typed properties, indented.
    let lines: Vec<&str> = s.lines().collect();
    let used = lines.iter().position(|l| l.starts_with('*')).unwrap();
    let details = lines[used + 1];
    assert!(
        details.starts_with("     ")
            && details.contains("; subgroups ")
            && details.contains(" storage buffers per stage; "),
        "{s}"
    );
}

#[test]
fn train_writes_every_output_and_eval_agrees() {
    let (dir, out) = trained();
    assert!(
        out.contains("Epoch 1/1") && out.contains("val_accuracy"),
        "{out}"
    );
    for f in [
        "model.safetensors",
        "model.toml",
        "history.csv",
        "curves.png",
        "confusion.png",
        "metrics.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let acc = metric(dir, "test_accuracy");
    assert!(acc > 0.8, "test accuracy {acc}");
    assert!(metric(dir, "train_images_per_second") > 0.0);
    let history = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "{history}");
    let e = ok(&["eval", "--checkpoint", dir.to_str().unwrap()]);
    assert!(
        e.contains(&format!("test accuracy: {acc:.4}")),
        "eval disagrees with training ({acc}):\n{e}"
    );
    assert!(e.to_lowercase().contains("precision"), "{e}");
}

#[test]
fn predict_by_index_and_by_image() {
    let (dir, _) = trained();
    let p = ok(&[
        "predict",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--index",
        "0",
        "--index",
        "1",
    ]);
    assert!(
        p.contains("test[0]: predicted") && p.contains("label 7"),
        "{p}"
    );
    // A dark-on-light "1" drawn as a PNG.
    let img_dir = tmp("img");
    let path = img_dir.join("one.png");
    let mut img = image::GrayImage::from_pixel(80, 100, image::Luma([255]));
    for y in 15..85 {
        for x in 36..46 {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    img.save(&path).unwrap();
    let p = ok(&[
        "predict",
        "--checkpoint",
        dir.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert!(p.contains("one.png: predicted"), "{p}");
    let not_image = img_dir.join("notes.png");
    std::fs::write(&not_image, b"not an image").unwrap();
    fails(
        &[
            "predict",
            "--checkpoint",
            dir.to_str().unwrap(),
            not_image.to_str().unwrap(),
        ],
        &["notes.png"],
    );
}

#[test]
fn show_draws_a_digit_with_its_label() {
    let s = ok(&["show", "--index", "0"]);
    assert!(s.contains("label 5"), "{s}");
    assert!(s.lines().count() >= 28, "{s}");
    fails(&["show", "--index", "60000"], &["--index"]);
    fails(&["show", "--index", "0", "--split", "valid"], &["--split"]);
}

#[test]
fn train_runs_on_the_gpu_adapter() {
    if !has_gpu() {
        return;
    }
    // Resident and streamed (`--stream`): the ring of chunks is made once, so memory stays flat.
    for (name, extra) in [("gpu", ""), ("gpu-stream", " --stream")] {
        train_on_the_gpu_adapter(name, extra);
    }
}

fn train_on_the_gpu_adapter(name: &str, extra: &str) {
    // `--backend auto` prefers the CPU backend over lavapipe; this forces the adapter.
    let out = tmp(name);
    let o = train(
        &format!(
            "--model tiny --epochs 2 --limit 600 --batch-size 16 --backend gpu --verbose{extra}"
        ),
        &out,
    );
    assert!(o.contains("on GPU:"), "{o}");
    let held = if extra.is_empty() {
        "held whole on the GPU"
    } else {
        "streamed, as asked"
    };
    assert!(o.contains(&format!("training set: {held}")), "{o}");
    let (text, v) = metrics_json(&out);
    let mem = v["gpu_memory_per_epoch"]
        .as_array()
        .expect("memory per epoch");
    if gpu_reports_memory() {
        // GPU memory is reported per epoch and does not grow from one epoch to the next.
        assert_eq!(o.matches("GPU memory:").count(), 2, "{o}");
        assert_eq!(mem.len(), 2, "{text}");
        assert!(mem[0]["allocated"].as_u64().unwrap() > 0, "{text}");
        let used = |i: usize| mem[i]["allocated"].as_u64().unwrap();
        assert!(used(1) <= used(0) + NOISE, "GPU memory grew: {text}");
    } else {
        // wgpu's GL backend keeps no allocator report: nothing is made up.
        assert!(mem.is_empty(), "{text}");
    }
    assert!(metric(&out, "test_accuracy") > 0.3);
    assert!(std::fs::read_to_string(out.join("metrics.json"))
        .unwrap()
        .contains("\"backend\": \"gpu\""));
}

/// Mean training loss of epoch 1 from a run's history.csv.
fn first_epoch_loss(dir: &Path) -> f64 {
    let h = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let row = h.lines().nth(1).expect("one epoch row");
    row.split(',').nth(1).unwrap().parse().unwrap()
}

#[test]
fn init_from_continues_a_saved_run() {
    let (dir, _) = trained();
    let out = tmp("continued");
    let flags = format!(
        "--init-from {} --epochs 1 --limit 4000 --batch-size 32",
        dir.display()
    );
    let o = train(&flags, &out);
    // The model comes from the folder, and training starts from its weights: the first epoch's
    // loss is well below that of the fresh run that wrote the folder.
    assert!(o.contains("Training `tiny`"), "{o}");
    let (fresh, continued) = (first_epoch_loss(dir), first_epoch_loss(&out));
    assert!(
        continued < 0.7 * fresh,
        "fresh {fresh}, continued {continued}"
    );
    fails(
        &["train", "--init-from", "/nonexistent/run"],
        &["/nonexistent/run"],
    );
    fails(
        &[
            "train",
            "--model",
            "convnet",
            "--init-from",
            dir.to_str().unwrap(),
        ],
        &["--init-from", "conv2d.kernel", "convnet"],
    );
}

#[test]
fn time_to_accuracy_stops_at_the_target() {
    let out = tmp("tta");
    let o = train(
        "--model tiny --limit 2000 --validation-split 0 --epochs 4 --time-to-accuracy 0.3",
        &out,
    );
    assert!(o.contains("Reached 0.3 test accuracy after"), "{o}");
    let (text, v) = metrics_json(&out);
    let tta = &v["time_to_accuracy"];
    assert_eq!(tta["target"], 0.3, "{text}");
    let epoch = tta["reached"]["epoch"].as_u64().expect("reached");
    // Training stopped at the epoch that reached the target, and the per-epoch test accuracies
    // show it was the first.
    assert_eq!(v["epochs"].as_u64(), Some(epoch), "{text}");
    let accs = tta["test_accuracy_per_epoch"].as_array().unwrap();
    assert_eq!(accs.len() as u64, epoch, "{text}");
    assert!(accs.last().unwrap().as_f64().unwrap() >= 0.3, "{text}");
    assert!(
        accs[..accs.len() - 1]
            .iter()
            .all(|a| a.as_f64().unwrap() < 0.3),
        "{text}"
    );
    assert!(
        tta["reached"]["train_seconds"].as_f64().unwrap() > 0.0,
        "{text}"
    );
    fails(
        &["train", "--time-to-accuracy", "1.5"],
        &["--time-to-accuracy"],
    );
}

#[test]
fn bench_prints_json() {
    if !has_gpu() {
        return;
    }
    let s = ok_stdout(&[
        "bench", "--model", "tiny", "--steps", "3", "--warmup", "1", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert!(v["images_per_second"].as_f64().unwrap() > 0.0, "{s}");
    let s = ok_stdout(&[
        "bench",
        "--model",
        "tiny",
        "--steps",
        "3",
        "--warmup",
        "3",
        "--json",
        "--backend",
        "gpu",
    ]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert_eq!(v["backend"], "gpu", "{s}");
    let text = ok(&[
        "bench",
        "--model",
        "tiny",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--backend",
        "gpu",
    ]);
    if !gpu_reports_memory() {
        // wgpu's GL backend keeps no allocator report: null in JSON, words in text.
        assert!(v["gpu_memory_after_steps"].is_null(), "{s}");
        assert!(
            text.contains("GPU memory in use: not reported by this adapter"),
            "{text}"
        );
        return;
    }
    assert!(
        text.contains("GPU memory in use: ") && text.contains(" MiB"),
        "{text}"
    );
    assert!(
        v["gpu_memory_after_steps"]["allocated"].as_u64().unwrap() > 0,
        "{s}"
    );
    let used = |k: &str| v[k]["allocated"].as_u64().unwrap();
    assert!(
        used("gpu_memory_after_steps") <= used("gpu_memory_after_warmup") + NOISE,
        "GPU memory grew: {s}"
    );
}

/// Whether the adapter the tests run on (WGNN_ADAPTER, else the default) reports its memory
/// use; wgpu's GL backend does not.
fn gpu_reports_memory() -> bool {
    static REPORTS: OnceLock<bool> = OnceLock::new();
    *REPORTS.get_or_init(|| {
        let ctx = wgnn::runtime::GpuContext::open(&wgnn::app::Device::from_env().unwrap().options)
            .expect("GPU tests need an adapter");
        ctx.memory().is_some()
    })
}

#[test]
fn bench_profile_breaks_a_step_down_on_both_backends() {
    for backend in with_gpu(["gpu", "cpu"]) {
        let s = ok_stdout(&[
            "bench",
            "--model",
            "tiny",
            "--batch-size",
            "16",
            "--backend",
            backend,
            "--profile",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
        let rows = v["kernels"].as_array().expect("kernels");
        // At least a forward and a backward entry per layer, each timed.
        assert!(rows.len() >= 10, "{backend}: {s}");
        assert!(
            rows.iter().all(|r| r["ms"].as_f64().unwrap() >= 0.0),
            "{backend}: {s}"
        );
        let total: f64 = rows.iter().map(|r| r["ms"].as_f64().unwrap()).sum();
        assert!(total > 0.0, "{backend}: {s}");
    }
}

#[test]
fn bad_flags_are_clear_errors() {
    fails(&["train", "--batch-size", "0"], &["--batch-size"]);
    fails(&["train", "--lr", "-0.1"], &["--lr"]);
    fails(
        &["train", "--validation-split", "1.5"],
        &["--validation-split"],
    );
    fails(&["train", "--optimizer", "adagrad"], &["--optimizer"]);
    fails(&["train", "--backend", "tpu"], &["--backend"]);
    fails(&["train", "--model", "nope"], &["nope"]);
    fails(&["train", "--model", "missing.toml"], &["missing.toml"]);
}

#[test]
fn bad_data_is_a_clear_error() {
    fails(
        &["train", "--data-dir", "/nonexistent/mnist"],
        &["/nonexistent/mnist"],
    );
    let d = tmp("baddata");
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(d.join(f), [0u8, 0, 8, 1, 0, 0, 0, 0]).unwrap();
    }
    fails(
        &["train", "--data-dir", d.to_str().unwrap()],
        &["train-images-idx3-ubyte"],
    );
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    fails(
        &["eval", "--checkpoint", "/nonexistent/run"],
        &["/nonexistent/run"],
    );
    let (dir, _) = trained();
    // From another model: the weights do not fit the definition in the checkpoint's header.
    let other = tmp("other");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let spec = wgnn::model::preset("convnet").unwrap();
    meta.insert("model_toml".into(), spec.to_toml());
    let foreign = safetensors::serialize(st.tensors(), Some(meta)).unwrap();
    std::fs::write(other.join("model.safetensors"), foreign).unwrap();
    fails(
        &["eval", "--checkpoint", other.to_str().unwrap()],
        &["model.safetensors", "conv2d.kernel"],
    );
    // Corrupt weights.
    std::fs::write(other.join("model.safetensors"), b"garbage").unwrap();
    fails(
        &["eval", "--checkpoint", other.to_str().unwrap()],
        &["model.safetensors"],
    );
}

#[test]
fn any_image_size_and_class_count_with_a_toml_model() {
    // 12x12 images of 3 classes: a bright square in one of three places.
    let dir = tmp("custom");
    let make = |n: usize| -> (Vec<u8>, Vec<u8>) {
        let mut images = vec![0u8; n * 144];
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        for (i, &l) in labels.iter().enumerate() {
            let x0 = 1 + 4 * l as usize;
            for y in 4..8 {
                for x in x0..x0 + 3 {
                    images[i * 144 + y * 12 + x] = 200 + (i % 50) as u8;
                }
            }
        }
        (images, labels)
    };
    for (prefix, n) in [("train", 300), ("t10k", 60)] {
        let (images, labels) = make(n);
        let img = wgnn::data::idx::encode_images(n, 12, 12, &images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        let lab = wgnn::data::idx::encode_labels(&labels).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab).unwrap();
    }
    let model = dir.join("three.toml");
    std::fs::write(
        &model,
        r#"name = "three"
input = [12, 12, 1]
[train]
epochs = 8
batch_size = 16
validation_split = 0.2
[[layers]]
type = "conv2d"
filters = 4
kernel_size = 3
padding = "same"
activation = "relu"
[[layers]]
type = "maxpool2d"
pool_size = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 3
activation = "softmax"
"#,
    )
    .unwrap();
    let out = dir.join("run");
    let d = dir.to_str().unwrap();
    let o = ok(&[
        "train",
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        d,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.contains("240 training images, 60 validation images"),
        "{o}"
    );
    assert!(metric(&out, "test_accuracy") > 0.9, "{o}");
    let e = ok(&[
        "eval",
        "--checkpoint",
        out.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert!(e.contains("60 images"), "{e}");
    // A preset takes its input shape and class count from the data: convnet on 12x12x1 in 3
    // classes (conv 3x3, pool, conv 3x3, pool: 1x1x64, then 3 units: 19,011 parameters).
    let preset_out = dir.join("preset");
    let o = ok(&[
        "train",
        "--model",
        "convnet",
        "--data-dir",
        d,
        "--epochs",
        "1",
        "--out",
        preset_out.to_str().unwrap(),
    ]);
    assert!(
        o.contains("(19,011 parameters") && o.contains("12x12x1, 3 classes"),
        "{o}"
    );
    // A model file keeps its own input: the 12x12 model does not fit MNIST's 28x28 images.
    fails(
        &["train", "--model", model.to_str().unwrap(), "--epochs", "1"],
        &["takes 12x12x1 inputs", "28x28x1 images"],
    );
}

#[test]
fn an_adapter_that_matches_none_fails_every_command() {
    if !has_gpu() {
        return;
    }
    let (run, _) = trained();
    let run = run.to_str().unwrap();
    for (choice, needle) in [
        ("99", "adapter index 99 is out of range"),
        (
            "no-such-gpu",
            "no adapter name or backend matches \"no-such-gpu\"",
        ),
    ] {
        for cmd in [
            vec!["devices"],
            vec!["summary"],
            vec!["show", "--index", "0"],
            vec!["train", "--backend", "cpu", "--epochs", "1"],
            vec!["eval", "--checkpoint", run],
            vec!["predict", "--checkpoint", run, "--index", "0"],
            vec!["bench", "--steps", "1"],
        ] {
            let mut args = cmd.clone();
            args.extend(["--adapter", choice]);
            // The adapters are listed in words: "1 adapter found (0: llvmpipe (Vulkan, CPU, ...))".
            let err = fails(&args, &[needle, "found (0: "]);
            assert!(!err.contains("Index(") && !err.contains("Name("), "{err}");
        }
    }
}

/// A model file in a fresh folder.
fn model_file(name: &str, toml: &str) -> PathBuf {
    let path = tmp(name).join("model.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn oversized_models_and_batches_are_clear_errors() {
    // A batch whose activations overflow the kernels' 32-bit indices, on every command that
    // builds a batch (train, bench).
    let needles = ["layer 1 (conv2d)", "elements", "--batch-size"];
    fails(&["train", "--batch-size", "1000000000"], &needles[..2]);
    fails(&["bench", "--batch-size", "1000000000"], &needles[..2]);
    // A Dense layer of a billion units.
    let big = model_file(
        "billion",
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 1000000000\n\
         [[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n",
    );
    let big = big.to_str().unwrap();
    for backend in with_gpu(["cpu", "gpu"]) {
        fails(
            &["train", "--model", big, "--backend", backend],
            &["layer 2 (dense)", "the kernel (784x1000000000)", "2.9 TiB"],
        );
    }
    // Every tensor under the index limit, but far more than any machine's memory in all:
    // ten 60000x60000 Dense layers (13.4 GiB each, four copies with Adam).
    let mut toml = String::from("[[layers]]\ntype = \"flatten\"\n");
    for _ in 0..10 {
        toml += "[[layers]]\ntype = \"dense\"\nunits = 60000\nactivation = \"relu\"\n";
    }
    toml += "[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
    let huge = model_file("huge", &toml);
    let huge = huge.to_str().unwrap();
    fails(
        &["train", "--model", huge, "--backend", "cpu"],
        &[
            "CPU backend needs about",
            "in all",
            "of this machine's memory",
        ],
    );
    if has_gpu() {
        fails(
            &["bench", "--model", huge, "--backend", "gpu"],
            &["parameter tensors in one buffer", "max_buffer_size"],
        );
    }
    fails(
        &["bench", "--model", "tiny", "--steps", "100000000000"],
        &["--steps 100000000000", "--batch-size 128"],
    );
}

#[test]
fn labels_outside_the_model_name_the_file_index_and_value() {
    let dir = tmp("labels");
    for (prefix, n) in [("train", 40), ("t10k", 10)] {
        let mut labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        if prefix == "train" {
            labels[17] = 42;
        }
        let images = vec![9u8; n * 784];
        let img = wgnn::data::idx::encode_images(n, 28, 28, &images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        let lab = wgnn::data::idx::encode_labels(&labels).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab).unwrap();
    }
    let file = dir.join("train-labels-idx1-ubyte");
    fails(
        &[
            "train",
            "--model",
            "tiny",
            "--dataset",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[
            file.to_str().unwrap(),
            "label 42 at index 17",
            "outside the 10 classes",
        ],
    );
}

/// One GPU bench step of `tiny` with `extra` flags and `WGNN_KERNELS=variable`.
fn bench_one_gpu_step(extra: &[&str], variable: &str) -> std::process::Output {
    let mut args = vec![
        "bench",
        "--model",
        "tiny",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--backend",
        "gpu",
    ];
    args.extend(extra);
    command(&args)
        .env("WGNN_KERNELS", variable)
        .output()
        .expect("wgnn runs")
}

#[test]
fn a_forced_kernel_family_is_named_and_a_bad_one_refused() {
    if !has_gpu() {
        return;
    }
    let run = |family: &str| bench_one_gpu_step(&[], family);
    let o = run("tiled");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("with the tiled kernels forced by WGNN_KERNELS"),
        "{out}"
    );
    let o = run("bogus");
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("WGNN_KERNELS `bogus`"), "{err}");
}

#[test]
fn the_kernels_flag_wins_over_the_variable_and_a_bad_one_is_refused() {
    if !has_gpu() {
        return;
    }
    // The flag wins: a variable that would be an error on its own is not even read.
    let run = |flag: &str| bench_one_gpu_step(&["--kernels", flag], "bogus");
    let o = run("tiled");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("with the tiled kernels forced by --kernels"),
        "{out}"
    );
    let o = run("fast");
    let err = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value 'fast' for '--kernels <FAMILY>'")
            && err.contains("tiled, blocked, auto"),
        "{err}"
    );
}

#[test]
fn fast_and_best_train_with_their_own_defaults_and_flags_override_them() {
    let s = ok(&["summary", "--model", "fast"]);
    assert!(s.contains("Total params: 35,338"), "{s}");
    let s = ok(&["summary", "--model", "best"]);
    assert!(
        s.contains("Total params: 185,482") && s.contains("Trainable params: 185,034"),
        "{s}"
    );
    let str_of = |dir: &Path, key: &str| metrics_json(dir).1[key].clone();
    for backend in with_gpu(["cpu", "gpu"]) {
        let out = tmp(&format!("fast-{backend}"));
        let o = train(
            &format!("--model fast --epochs 1 --limit 1000 --backend {backend}"),
            &out,
        );
        assert!(
            o.contains(
                "1 epochs, batch 128, adam lr 0.02, schedule onecycle, label smoothing 0.1\n"
            ),
            "{o}"
        );
        assert!((metric(&out, "lr") - 0.02).abs() < 1e-6);
        assert!((metric(&out, "label_smoothing") - 0.1).abs() < 1e-6);
        assert_eq!(str_of(&out, "schedule"), "onecycle");
        assert_eq!(str_of(&out, "augment"), serde_json::Value::Null);
        assert_eq!(str_of(&out, "backend"), backend);
        assert!(metric(&out, "test_accuracy") > 0.3);
    }
    let out = tmp("best");
    let o = train("--model best --epochs 1 --limit 600 --backend cpu", &out);
    assert!(
        o.contains(
            "adam lr 0.005, schedule onecycle, label smoothing 0.1, augment shift=2,rotate=8,scale=0.08\n"
        ),
        "{o}"
    );
    assert_eq!(str_of(&out, "augment"), "shift=2,rotate=8,scale=0.08");
    assert!((metric(&out, "label_smoothing") - 0.1).abs() < 1e-6);
    assert_eq!(metric(&out, "batch_size"), 128.0);
    // A resumed run keeps the defaults it started with; a flag that changes them is refused.
    fails(
        &[
            "train",
            "--resume",
            out.to_str().unwrap(),
            "--schedule",
            "constant",
        ],
        &["--schedule constant", "onecycle"],
    );
    // Flags override a preset's defaults; `--augment none` turns its augmentation off.
    let out = tmp("best-flags");
    let o = train(
        "--model best --epochs 1 --limit 600 --backend cpu --schedule constant --augment none --lr 0.001",
        &out,
    );
    assert!(o.contains("adam lr 0.001, label smoothing 0.1\n"), "{o}");
    assert_eq!(str_of(&out, "schedule"), "constant");
    assert_eq!(str_of(&out, "augment"), serde_json::Value::Null);
}

/// `wgnn plan` needs no GPU: the step recorded on wgpu's noop device, with its costs.
#[test]
fn plan_predicts_a_step_without_a_gpu() {
    let s = ok_stdout(&["plan", "--model", "convnet", "--json"]);
    let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert_eq!(v["host_syncs"], 0, "{s}");
    assert!(v["bytes"].as_u64().unwrap() > 100 << 20, "{s}");
    assert!(v["predicted_step_us"].as_f64().unwrap() > 0.0, "{s}");
    let kernels = v["kernels"].as_array().unwrap();
    assert_eq!(v["dispatches"], kernels.len(), "{s}");
    assert_eq!(kernels[0]["name"], "gather::gather", "{s}");
    for k in kernels {
        for field in [
            "name",
            "invocations",
            "serial",
            "bytes",
            "flops",
            "predicted_us",
        ] {
            assert!(!k[field].is_null(), "{field} missing in {k}");
        }
    }
    let text = ok(&[
        "--kernels",
        "tiled",
        "plan",
        "--model",
        "tiny",
        "--batch-size",
        "32",
    ]);
    assert!(
        text.contains("tiny: one training step at batch 32"),
        "{text}"
    );
    assert!(text.contains("conv2d_tiled::forward"), "{text}");
    assert!(text.contains("predicted step"), "{text}");
    fails(
        &["plan", "--batch-size", "0"],
        &["--batch-size must be at least 1"],
    );
    // The reference device's buffers are this machine's memory: too big a plan is an error.
    fails(
        &["plan", "--batch-size", "40000"],
        &["in one buffer", "reference GPU", "use a smaller batch size"],
    );
}

/// Labels that leave most inferred classes empty (0, 1 and 9) are refused with a pointer to
/// `--classes`; with it the run trains a 10-class model and says which classes have no images,
/// and `eval` and `--resume` read the labels the same way; a count below the labels is refused.
#[test]
fn classes_states_the_count_of_labels_that_leave_classes_empty() {
    use common::formats::{npy, write_npz};
    let dir = tmp("classes");
    let p = dir.join("gap.npz");
    let labels = |n: usize| (0..n).map(|i| [0, 1, 9][i % 3]).collect::<Vec<u8>>();
    let pixels = |n: usize| {
        (0..n * 256)
            .map(|i| (i * 37 % 251) as u8)
            .collect::<Vec<u8>>()
    };
    write_npz(
        &p,
        &[
            ("x_train", npy("|u1", &[96, 16, 16], &pixels(96))),
            ("y_train", npy("|u1", &[96], &labels(96))),
            ("x_test", npy("|u1", &[12, 16, 16], &pixels(12))),
            ("y_test", npy("|u1", &[12], &labels(12))),
        ],
    );
    let (data, out) = (p.to_str().unwrap(), dir.join("run"));
    let out = out.to_str().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "train",
            "--model",
            "tiny",
            "--data-dir",
            data,
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "--out",
            out,
        ];
        a.extend(extra);
        a
    };
    fails(
        &args(&[]),
        &["gap.npz", "label 9", "classes 2 to 8", "--classes N"],
    );
    fails(
        &args(&["--classes", "4"]),
        &["gap.npz", "label 9", "outside the 4 classes"],
    );
    let o = ok(&args(&["--classes", "10"]));
    assert!(
        o.contains("7 of the 10 classes have no training images: 2, 3, 4, 5, 6, 7, 8"),
        "{o}"
    );
    ok(&["eval", "--checkpoint", out, "--backend", "cpu"]);
    fails(
        &["train", "--resume", out, "--classes", "11"],
        &["--classes 11", "--classes 10"],
    );
}
