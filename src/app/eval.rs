//! `wgnn eval`: test loss and accuracy of a checkpoint, its confusion matrix, precision and recall.

use std::path::{Path, PathBuf};

use super::backend::{with_backend, BackendKind, GraphKind};
use super::device::Device;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::graph::{EpochStats, Plan};
use crate::model::ModelSpec;
use crate::report::Confusion;
use crate::train::{checkpoint, evaluate};

/// Batch used for inference (any value gives the same results).
const EVAL_BATCH: usize = 256;

/// Run checkpoint `dir` (whose definition is `spec`) over `data`, predictions and probabilities
/// included; also returns the device description.
pub fn predict_set(
    dir: &Path,
    spec: &ModelSpec,
    data: &Dataset,
    backend: BackendKind,
    device: &Device,
) -> Result<(EpochStats, String)> {
    let plan = Plan::new(spec.input, &spec.layers, EVAL_BATCH)?;
    if plan.input_len() != data.image_size() {
        return Err(Error::msg(format!(
            "{}: the model takes {}x{}x{} inputs, the images are {}x{}",
            dir.display(),
            spec.input[0],
            spec.input[1],
            spec.input[2],
            data.height,
            data.width
        )));
    }
    let (params, stats) = checkpoint::load_params(dir, &plan)?;
    say_weights(dir)?;
    with_backend(backend, device, plan, GraphKind::Inference, |b| {
        b.set_params(&params, &stats)?;
        let r = evaluate(b, data)?;
        Ok((r, b.describe()))
    })
}

/// Tells people, on stderr, when the weights checkpoint `dir` holds are not the last step's but
/// the moving average its run kept (`--ema`); that description, in words.
pub fn say_weights(dir: &Path) -> Result<Option<String>> {
    let text = checkpoint::averaged(dir)?.map(|m| {
        format!(
            "the moving average of the weights (momentum {m}), which its run kept for evaluation"
        )
    });
    if let Some(text) = &text {
        eprintln!("Note: {} holds {text}; this uses it", dir.display());
    }
    Ok(text)
}

/// `values` as a float32 `.npy` file of shape `[rows, cols]` (NumPy's format 1.0).
pub fn npy_f32(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// The flags of `wgnn eval`.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: super::data::DataArgs,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    /// Also write every test image's class probabilities to FILE (float32 .npy, [images, classes])
    #[arg(long, value_name = "FILE")]
    pub probabilities: Option<PathBuf>,
}

pub fn run(a: &EvalArgs, device: &Device) -> Result<()> {
    let dir = a.checkpoint.as_path();
    let trained_on = checkpoint::load_run(dir)?.data;
    let data = a.data.or_saved(&trained_on).load()?;
    if let (Some(was), Some(now)) = (&trained_on.dataset, data.dataset) {
        if was != now {
            eprintln!(
                "Note: the model in {} was trained on {was}; this evaluates it on {now}",
                dir.display()
            );
        }
    }
    let data = data.splits;
    let spec = checkpoint::load_spec(dir)?;
    let classes = spec.classes()?;
    data.check_test_labels(classes)?;
    let (r, device) = predict_set(dir, &spec, &data.test, a.backend, device)?;
    super::mapped::check()?;
    println!("Model `{}` from {} on {}", spec.name, dir.display(), device);
    println!(
        "Test loss: {:.4} - test accuracy: {:.4} ({} images)",
        r.loss, r.accuracy, r.samples
    );
    let confusion = Confusion::from_predictions(&data.test.labels, &r.preds, classes)?;
    println!("\n{}", confusion.table_named(&data.class_names));
    if let Some(path) = &a.probabilities {
        let rows = r.probs.len() / classes;
        crate::util::fs::write_atomic(path, &npy_f32(&r.probs, rows, classes))?;
        println!(
            "Wrote the probabilities ({rows} x {classes}, float32 .npy) to {}",
            path.display()
        );
    }
    Ok(())
}
