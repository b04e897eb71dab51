//! `wgnn predict`: the predicted digit and the class probabilities for images or test-set indices.

use std::path::{Path, PathBuf};

use super::backend::BackendKind;
use super::device::Device;
use super::eval::predict_set;
use crate::data::image::{load_input, Picture};
use crate::data::Dataset;
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
    /// A CSV of images (Kaggle's test.csv: pixel0..pixelN per row); the predictions go to --out
    #[arg(long, value_name = "FILE", requires = "out")]
    pub csv: Option<PathBuf>,
    /// Where --csv's predictions go, as Kaggle's submission file (ImageId,Label)
    #[arg(long, value_name = "FILE", requires = "csv")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: super::data::DataArgs,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
}

pub enum Inputs {
    Images(Vec<PathBuf>),
    Indices(Vec<usize>),
    Csv { path: PathBuf, out: PathBuf },
}

/// `wgnn predict`: image files, test-set indices or a CSV file, one of them.
pub fn run(a: &PredictArgs, device: &Device) -> Result<()> {
    let inputs = match (a.images.is_empty(), a.index.is_empty(), &a.csv, &a.out) {
        (false, true, None, _) => Inputs::Images(a.images.clone()),
        (true, false, None, _) => Inputs::Indices(a.index.clone()),
        (true, true, Some(path), Some(out)) => Inputs::Csv {
            path: path.clone(),
            out: out.clone(),
        },
        _ => {
            return Err(Error::msg(
                "predict: give image files, --index N or --csv FILE --out FILE (one of them)",
            ))
        }
    };
    predict(&a.checkpoint, inputs, &a.data, a.backend, device)
}

pub fn predict(
    dir: &Path,
    inputs: Inputs,
    data: &super::data::DataArgs,
    backend: BackendKind,
    device: &Device,
) -> Result<()> {
    let spec = checkpoint::load_spec(dir)?;
    let trained_on = checkpoint::load_run(dir)?.data;
    let (set, names, truth) = match inputs {
        Inputs::Images(paths) => {
            let picture = Picture::for_data(
                trained_on.dataset.as_deref(),
                &trained_on.class_names,
                spec.input[2],
            );
            image_files(spec.input, picture, &paths)?
        }
        Inputs::Indices(idx) => test_images(&data.or_saved(&trained_on), &idx)?,
        Inputs::Csv { path, out } => return csv_file(dir, &spec, &path, &out, backend, device),
    };
    let (r, _) = predict_set(dir, &spec, &set, backend, device)?;
    let classes = r.probs.len() / set.n.max(1);
    let class = |c: usize| {
        trained_on
            .class_names
            .get(c)
            .cloned()
            .unwrap_or(c.to_string())
    };
    for (k, name) in names.iter().enumerate() {
        let probs = &r.probs[k * classes..(k + 1) * classes];
        let p = r.preds[k] as usize;
        let mut line = format!("{name}: predicted {} ({:.1}%)", class(p), 100.0 * probs[p]);
        if let Some(t) = &truth {
            line += &format!(", label {}", class(usize::from(t[k])));
        }
        println!("{line}");
        let row: Vec<String> = probs
            .iter()
            .enumerate()
            .map(|(c, p)| format!("{}:{p:.3}", class(c)))
            .collect();
        println!("  {}", row.join(" "));
    }
    Ok(())
}

type Named = (Dataset, Vec<String>, Option<Vec<u8>>);

/// Image files, each turned into an `input`-shaped model input as `picture` says (a centred
/// digit, or the picture resized).
fn image_files(input: [usize; 3], picture: Picture, paths: &[PathBuf]) -> Result<Named> {
    let [h, w, c] = input;
    let mut images = Vec::new();
    for p in paths {
        images.extend(load_input(p, input, picture)?);
    }
    let n = paths.len();
    let set = Dataset {
        images: images.into(),
        labels: vec![0; n],
        n,
        height: h,
        width: w,
        channels: c,
    };
    Ok((
        set,
        paths.iter().map(|p| p.display().to_string()).collect(),
        None,
    ))
}

/// Test-set images by index, with their labels.
fn test_images(data: &super::data::DataArgs, idx: &[usize]) -> Result<Named> {
    let test = data.load()?.splits.test;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for &i in idx {
        let label = test.label(i).ok_or_else(|| {
            Error::msg(format!(
                "--index {i} is out of range: the test set has {} images",
                test.len()
            ))
        })?;
        images.extend_from_slice(test.image(i));
        labels.push(label);
    }
    super::mapped::check()?;
    let set = Dataset {
        images: images.into(),
        labels: labels.clone(),
        n: idx.len(),
        ..test
    };
    Ok((
        set,
        idx.iter().map(|i| format!("test[{i}]")).collect(),
        Some(labels),
    ))
}

/// Predicts every row of a CSV file and writes Kaggle's submission file.
fn csv_file(
    dir: &Path,
    spec: &ModelSpec,
    path: &Path,
    out: &Path,
    backend: BackendKind,
    device: &Device,
) -> Result<()> {
    let set = crate::data::csv::read(path)?.set;
    if set.shape() != spec.input {
        return Err(Error::file(
            path,
            format!(
                "holds {} images but the model in {} takes {}",
                crate::data::shape_str(set.shape()),
                dir.display(),
                crate::data::shape_str(spec.input)
            ),
        ));
    }
    let (r, _) = predict_set(dir, spec, &set, backend, device)?;
    let preds: Vec<usize> = r.preds.iter().map(|&p| p as usize).collect();
    crate::data::csv::write_submission(out, &preds)?;
    println!(
        "Wrote {} predictions to {} (ImageId,Label)",
        preds.len(),
        out.display()
    );
    Ok(())
}
