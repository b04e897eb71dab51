//! CIFAR-10 and CIFAR-100 in their two published layouts: the binary batches
//! (`cifar-10-batches-bin/data_batch_N.bin`, `cifar-100-binary/train.bin`) and the Python pickle
//! batches (`cifar-10-batches-py/data_batch_N`, `cifar-100-python/train`). Both store each image
//! as three 32x32 planes (R, G, B); they are interleaved here into `[32, 32, 3]`.

use std::path::{Path, PathBuf};

use super::pickle::{self, Value};
use super::{Dataset, Splits};
use wgnn_engine::error::{Error, Result};

const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE * 3;

/// Which CIFAR files a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Cifar10Bin,
    Cifar10Py,
    Cifar100Bin,
    Cifar100Py,
}

impl Layout {
    /// The layout of `dir` (the batches folder itself), if it is one.
    pub fn detect(dir: &Path) -> Option<Layout> {
        let has = |n: &str| dir.join(n).is_file();
        if has("data_batch_1.bin") && has("test_batch.bin") {
            Some(Layout::Cifar10Bin)
        } else if has("data_batch_1") && has("test_batch") {
            Some(Layout::Cifar10Py)
        } else if has("train.bin") && has("test.bin") {
            Some(Layout::Cifar100Bin)
        } else if has("train") && has("test") && has("meta") {
            Some(Layout::Cifar100Py)
        } else {
            None
        }
    }

    /// The folder names the archives unpack to.
    pub const FOLDERS: [&'static str; 4] = [
        "cifar-10-batches-bin",
        "cifar-10-batches-py",
        "cifar-100-binary",
        "cifar-100-python",
    ];
}

/// Planes `[3, 32, 32]` to interleaved `[32, 32, 3]`.
fn interleave(planes: &[u8], out: &mut Vec<u8>) {
    let plane = SIDE * SIDE;
    for p in 0..plane {
        out.extend_from_slice(&[planes[p], planes[plane + p], planes[2 * plane + p]]);
    }
}

fn set(images: Vec<u8>, labels: Vec<u8>) -> Dataset {
    Dataset {
        n: labels.len(),
        images: images.into(),
        labels,
        height: SIDE,
        width: SIDE,
        channels: 3,
    }
}

/// Reads binary batches: records of `label_bytes` label bytes (the last one is the label used,
/// unless `coarse` picks CIFAR-100's first) and 3072 pixel bytes.
fn read_bin(files: &[PathBuf], label_bytes: usize, coarse: bool) -> Result<Dataset> {
    let rec = label_bytes + PIXELS;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        if bytes.is_empty() || bytes.len() % rec != 0 {
            return Err(Error::file(
                f,
                format!(
                    "{} bytes is not a whole number of {rec}-byte CIFAR records",
                    bytes.len()
                ),
            ));
        }
        for r in bytes.chunks_exact(rec) {
            labels.push(if coarse { r[0] } else { r[label_bytes - 1] });
            interleave(&r[label_bytes..], &mut images);
        }
    }
    Ok(set(images, labels))
}

/// Class names, one per line (`batches.meta.txt`, `fine_label_names.txt`).
fn read_names_txt(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn load_pickle(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    pickle::parse(&bytes, &path.display().to_string())
}

/// One pickle batch: `data` (a `[n, 3072]` uint8 array) and `labels` (or `fine_labels` /
/// `coarse_labels`).
fn read_py_batch(path: &Path, key: &str, images: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<()> {
    let v = load_pickle(path)?;
    let bad = |what: &str| Error::file(path, format!("not a CIFAR batch: {what}"));
    let (shape, data) = v
        .get("data")
        .and_then(Value::ndarray)
        .ok_or_else(|| bad("no `data` array of bytes"))?;
    let n = shape.first().copied().unwrap_or(0);
    if shape.iter().product::<usize>() != n * PIXELS || data.len() != n * PIXELS {
        return Err(bad(&format!(
            "`data` has shape {shape:?}, not [n, {PIXELS}]"
        )));
    }
    let list = v.get(key).and_then(Value::items);
    let list = list.ok_or_else(|| bad(&format!("no `{key}` list")))?;
    if list.len() != n {
        return Err(bad(&format!("{} labels for {n} images", list.len())));
    }
    for (i, l) in list.iter().enumerate() {
        match l {
            Value::Int(x) if (0..256).contains(x) => labels.push(*x as u8),
            Value::Int(x) => {
                return Err(bad(&format!(
                    "label {i} is {x}, outside the class numbers 0 to 255"
                )))
            }
            other => {
                return Err(bad(&format!(
                    "label {i} is {}, not a class number",
                    other.describe()
                )))
            }
        }
    }
    for img in data.chunks_exact(PIXELS) {
        interleave(img, images);
    }
    Ok(())
}

fn read_py(files: &[PathBuf], key: &str) -> Result<Dataset> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        read_py_batch(f, key, &mut images, &mut labels)?;
    }
    Ok(set(images, labels))
}

/// Class names from a pickled meta dict (`batches.meta`, `meta`).
fn read_py_names(path: &Path, key: &str) -> Result<Vec<String>> {
    let v = load_pickle(path)?;
    let names = v.get(key).and_then(Value::items);
    let names = names.ok_or_else(|| Error::file(path, format!("no `{key}` list of names")))?;
    names
        .iter()
        .map(|n| {
            n.text()
                .ok_or_else(|| Error::file(path, format!("a `{key}` entry is not a string")))
        })
        .collect()
}

/// Loads the batches folder `dir`; `coarse` picks CIFAR-100's 20 superclasses.
pub fn load_dir(dir: &Path, layout: Layout, coarse: bool) -> Result<Splits> {
    let p = |n: &str| dir.join(n);
    let train_files = |ext: &str| {
        (1..=5)
            .map(|i| p(&format!("data_batch_{i}{ext}")))
            .collect::<Vec<_>>()
    };
    let (train, test, names, paths) = match layout {
        Layout::Cifar10Bin => (
            read_bin(&train_files(".bin"), 1, false)?,
            read_bin(&[p("test_batch.bin")], 1, false)?,
            read_names_txt(&p("batches.meta.txt")).ok(),
            [p("data_batch_1.bin"), p("test_batch.bin")],
        ),
        Layout::Cifar10Py => (
            read_py(&train_files(""), "labels")?,
            read_py(&[p("test_batch")], "labels")?,
            read_py_names(&p("batches.meta"), "label_names").ok(),
            [p("data_batch_1"), p("test_batch")],
        ),
        Layout::Cifar100Bin => {
            let names = if coarse {
                "coarse_label_names.txt"
            } else {
                "fine_label_names.txt"
            };
            (
                read_bin(&[p("train.bin")], 2, coarse)?,
                read_bin(&[p("test.bin")], 2, coarse)?,
                read_names_txt(&p(names)).ok(),
                [p("train.bin"), p("test.bin")],
            )
        }
        Layout::Cifar100Py => {
            let key = if coarse {
                "coarse_labels"
            } else {
                "fine_labels"
            };
            let names = if coarse {
                "coarse_label_names"
            } else {
                "fine_label_names"
            };
            (
                read_py(&[p("train")], key)?,
                read_py(&[p("test")], key)?,
                read_py_names(&p("meta"), names).ok(),
                [p("train"), p("test")],
            )
        }
    };
    let names = names.filter(|n| !n.is_empty());
    if let Some(n) = &names {
        named_labels(n, &train, &paths[0], dir, layout, coarse)?;
    }
    Splits::new(train, test, names, paths)
}

/// The file that names the classes in `layout`.
fn names_file(layout: Layout, coarse: bool) -> &'static str {
    match (layout, coarse) {
        (Layout::Cifar10Bin, _) => "batches.meta.txt",
        (Layout::Cifar10Py, _) => "batches.meta",
        (Layout::Cifar100Bin, true) => "coarse_label_names.txt",
        (Layout::Cifar100Bin, false) => "fine_label_names.txt",
        (Layout::Cifar100Py, _) => "meta",
    }
}

/// Refuses names that are fewer than the training labels need, blaming the names file (the
/// batches are more likely whole than a names file edited by hand).
fn named_labels(
    names: &[String],
    train: &Dataset,
    train_path: &Path,
    dir: &Path,
    layout: Layout,
    coarse: bool,
) -> Result<()> {
    let Some(top) = train.labels.iter().copied().max() else {
        return Ok(());
    };
    if usize::from(top) < names.len() {
        return Ok(());
    }
    let at = train.labels.iter().position(|&l| l == top).unwrap_or(0);
    Err(Error::file(
        dir.join(names_file(layout, coarse)),
        format!(
            "names {} class{}, but the training labels go up to {top} ({} has label {top} at index {at}): name every class in it, or remove it to number the classes",
            names.len(),
            if names.len() == 1 { "" } else { "es" },
            train_path.file_name().unwrap_or_default().to_string_lossy()
        ),
    ))
}
