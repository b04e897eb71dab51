//! The MNIST data set: four IDX files in a directory.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::idx;
use crate::error::{Error, Result};

/// File names (without `.gz`) of the four MNIST files.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A set of labelled grayscale images (u8, 0 = background).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dataset {
    /// `n * height * width` bytes, image after image, each row-major.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
}

impl Dataset {
    /// The first `n` samples (all of them, if fewer), as the graphs take data.
    pub fn host(&self, n: usize) -> crate::graph::HostData<'_> {
        let n = n.min(self.len());
        crate::graph::HostData {
            images: &self.images[..n * self.image_size()],
            labels: &self.labels[..n],
            sample_len: self.image_size(),
        }
    }

    /// Pixels of one image (`height * width` bytes). Out-of-range `i` gives
    /// an empty slice.
    pub fn image(&self, i: usize) -> &[u8] {
        let sz = self.image_size();
        self.images.get(i * sz..(i + 1) * sz).unwrap_or(&[])
    }

    /// Label of one image, `None` when out of range.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    /// Pixels per image.
    pub fn image_size(&self) -> usize {
        self.height * self.width
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the set has no images.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// A copy of images `range` (clamped to the data set).
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        let start = range.start.min(self.n);
        let end = range.end.clamp(start, self.n);
        let sz = self.image_size();
        // `get` keeps this panic-free even for a hand-built, inconsistent set.
        Dataset {
            images: self
                .images
                .get(start * sz..end * sz)
                .unwrap_or_default()
                .to_vec(),
            labels: self.labels.get(start..end).unwrap_or_default().to_vec(),
            n: end - start,
            height: self.height,
            width: self.width,
        }
    }

    /// The first `limit` images (all of them when there are fewer).
    pub fn take(&self, limit: usize) -> Dataset {
        self.slice(0..limit)
    }

    /// Builds a data set from IDX image and label files (raw or gzip); the
    /// counts must agree.
    pub fn from_idx_files(images: &Path, labels: &Path) -> Result<Dataset> {
        let im = idx::read_images(images)?;
        let lb = idx::read_labels(labels)?;
        if im.n != lb.len() {
            return Err(Error::msg(format!(
                "{} holds {} images but {} holds {} labels",
                images.display(),
                im.n,
                labels.display(),
                lb.len()
            )));
        }
        Ok(Dataset {
            images: im.data,
            labels: lb,
            n: im.n,
            height: im.rows,
            width: im.cols,
        })
    }
}

/// Training and test sets of MNIST (or any data set in the same format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    pub train: Dataset,
    pub test: Dataset,
    /// Number of classes: largest training label + 1 (at least 2).
    pub classes: usize,
    /// The label files the sets came from, for messages.
    pub train_labels_path: PathBuf,
    pub test_labels_path: PathBuf,
}

/// The first label of `labels` (read from `path`) that is not below `classes`, as an error
/// naming the file, the index and the value.
pub fn check_labels(labels: &[u8], classes: usize, path: &Path) -> Result<()> {
    match labels.iter().position(|&l| usize::from(l) >= classes) {
        None => Ok(()),
        Some(i) => Err(Error::file(
            path,
            format!(
                "label {} at index {i} is outside the model's {classes} classes (0..={})",
                labels[i],
                classes.saturating_sub(1)
            ),
        )),
    }
}

impl Mnist {
    /// Every training and test label is one of the model's `classes`.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        check_labels(&self.train.labels, classes, &self.train_labels_path)?;
        self.check_test_labels(classes)
    }

    /// Every test label is one of the model's `classes` (what `eval` needs).
    pub fn check_test_labels(&self, classes: usize) -> Result<()> {
        check_labels(&self.test.labels, classes, &self.test_labels_path)
    }
}

/// Finds `name` or `name.gz` in `dir` (raw preferred when both exist).
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::file(
        &raw,
        format!(
            "missing data file (expected {} or {})",
            raw.display(),
            gz.display()
        ),
    ))
}

/// Loads the four MNIST files from `dir`. Each may be raw or gzip-compressed
/// (`.gz` appended to the name).
pub fn load_dir(dir: &Path) -> Result<Mnist> {
    if !dir.is_dir() {
        let expected = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
            .map(|n| dir.join(format!("{n}[.gz]")).display().to_string())
            .join(", ");
        return Err(Error::file(
            dir,
            format!("data directory does not exist (expected {expected})"),
        ));
    }
    let train_labels_path = find(dir, TRAIN_LABELS)?;
    let train = Dataset::from_idx_files(&find(dir, TRAIN_IMAGES)?, &train_labels_path)?;
    let test_labels_path = find(dir, TEST_LABELS)?;
    let test = Dataset::from_idx_files(&find(dir, TEST_IMAGES)?, &test_labels_path)?;
    if train.n == 0 {
        return Err(Error::file(find(dir, TRAIN_IMAGES)?, "contains no images"));
    }
    if (train.height, train.width) != (test.height, test.width) {
        return Err(Error::msg(format!(
            "{}: training images are {}x{} but test images ({}) are {}x{}",
            dir.display(),
            train.height,
            train.width,
            find(dir, TEST_IMAGES)?.display(),
            test.height,
            test.width
        )));
    }
    let classes = (usize::from(train.labels.iter().copied().max().unwrap_or(0)) + 1).max(2);
    if let Some(i) = test.labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(Error::file(
            &test_labels_path,
            format!(
                "label {} at index {i} is out of range: the training labels define {classes} classes (0..={})",
                test.labels[i],
                classes - 1
            ),
        ));
    }
    Ok(Mnist {
        train,
        test,
        classes,
        train_labels_path,
        test_labels_path,
    })
}

/// Splits off the last `fraction` of `ds` as a validation set, as Keras'
/// `validation_split` does (no shuffling): the split point is
/// `floor(n * (1 - fraction))`. `fraction` must be in `[0, 1)`.
pub fn split_validation(ds: &Dataset, fraction: f32) -> Result<(Dataset, Dataset)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::msg(format!(
            "validation split {fraction} must be in [0, 1)"
        )));
    }
    // Go through the decimal form so that 0.1f32 means 0.1, as in Python.
    let f: f64 = fraction.to_string().parse().unwrap_or(f64::from(fraction));
    let at = (((ds.n as f64) * (1.0 - f)).floor() as usize).min(ds.n);
    Ok((ds.slice(0..at), ds.slice(at..ds.n)))
}

/// Splits off the last `n` images of `ds` as a validation set. `n` must leave
/// at least one training image.
pub fn split_last(ds: &Dataset, n: usize) -> Result<(Dataset, Dataset)> {
    if n >= ds.n {
        return Err(Error::msg(format!(
            "cannot hold out the last {n} images for validation: the training set has only {}",
            ds.n
        )));
    }
    let at = ds.n - n;
    Ok((ds.slice(0..at), ds.slice(at..ds.n)))
}
