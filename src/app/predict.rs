//! `wgnn predict`: the predicted digit and the class probabilities for images or test-set indices.

use std::path::{Path, PathBuf};

use super::backend::BackendKind;
use super::device::Device;
use super::eval::predict_set;
use crate::data::{image::load_digit, Dataset};
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::train::checkpoint;

/// The flags of `wgnn predict`.
#[derive(clap::Args, Clone, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Image files (any size; dark-on-light images are inverted)
    pub images: Vec<PathBuf>,
    /// Test-set index (repeatable)
    #[arg(long)]
    pub index: Vec<usize>,
    #[command(flatten)]
    pub data: super::data::DataArgs,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

pub enum Inputs {
    Images(Vec<PathBuf>),
    Indices(Vec<usize>),
}

/// `wgnn predict`: image files or test-set indices, not both and not neither.
pub fn run(a: &PredictArgs, device: &Device) -> Result<()> {
    let inputs = match (a.images.is_empty(), a.index.is_empty()) {
        (false, true) => Inputs::Images(a.images.clone()),
        (true, false) => Inputs::Indices(a.index.clone()),
        _ => {
            return Err(Error::msg(
                "predict: give image files or --index N, not both and not neither",
            ))
        }
    };
    predict(&a.checkpoint, inputs, &a.data, a.backend, device)
}

/// The model of checkpoint `dir`, which must take grey-scale images: drawn or photographed digits
/// are turned into one channel (`command` names who asks, for the error).
pub fn grey_model(dir: &Path, command: &str) -> Result<ModelSpec> {
    let spec = checkpoint::load_spec(dir)?;
    if spec.input[2] != 1 {
        return Err(Error::msg(format!(
            "{}: {command} handles grey-scale models only",
            dir.display()
        )));
    }
    Ok(spec)
}

pub fn predict(
    dir: &Path,
    inputs: Inputs,
    data: &super::data::DataArgs,
    backend: BackendKind,
    device: &Device,
) -> Result<()> {
    let spec = grey_model(dir, "predict")?;
    let [h, w, _] = spec.input;
    let (set, names, truth) = match inputs {
        Inputs::Images(paths) => {
            let mut images = Vec::new();
            for p in &paths {
                images.extend(load_digit(p, h, w)?);
            }
            let n = paths.len();
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            (
                Dataset {
                    images,
                    labels: vec![0; n],
                    n,
                    height: h,
                    width: w,
                    channels: 1,
                },
                names,
                None,
            )
        }
        Inputs::Indices(idx) => {
            let test = data.load()?.splits.test;
            let mut images = Vec::new();
            let mut labels = Vec::new();
            for &i in &idx {
                let label = test.label(i).ok_or_else(|| {
                    Error::msg(format!(
                        "--index {i} is out of range: the test set has {} images",
                        test.len()
                    ))
                })?;
                images.extend_from_slice(test.image(i));
                labels.push(label);
            }
            let names: Vec<String> = idx.iter().map(|i| format!("test[{i}]")).collect();
            let n = idx.len();
            let set = Dataset {
                images,
                labels: labels.clone(),
                n,
                height: test.height,
                width: test.width,
                channels: test.channels,
            };
            (set, names, Some(labels))
        }
    };
    let (r, _) = predict_set(dir, &spec, &set, backend, device)?;
    let classes = r.probs.len() / set.n.max(1);
    for (k, name) in names.iter().enumerate() {
        let probs = &r.probs[k * classes..(k + 1) * classes];
        let mut line = format!(
            "{name}: predicted {} ({:.1}%)",
            r.preds[k],
            100.0 * probs[r.preds[k] as usize]
        );
        if let Some(t) = &truth {
            line += &format!(", label {}", t[k]);
        }
        println!("{line}");
        let row: Vec<String> = probs
            .iter()
            .enumerate()
            .map(|(c, p)| format!("{c}:{p:.3}"))
            .collect();
        println!("  {}", row.join(" "));
    }
    Ok(())
}
