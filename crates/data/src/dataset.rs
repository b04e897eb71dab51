//! A labelled image set in memory, and a training/test pair of them with their class names.

use std::ops::Range;
use std::path::{Path, PathBuf};

use wgnn_engine::error::{Error, Result};
use wgnn_engine::util::shared::Shared;

/// An input file that could not be used, and why (an image folder read with `skip_bad`).
pub type Skipped = (PathBuf, String);

/// A set of labelled images (u8 pixels), `[n, height, width, channels]` like Keras' arrays.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Dataset {
    /// `n * height * width * channels` bytes, image after image, each row-major with its channels
    /// interleaved (RGBRGB...). Shared: slices and copies of a set cost nothing, and the bytes
    /// may be a file mapped into memory.
    pub images: Shared,
    /// One label per image.
    pub labels: Vec<u8>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
}

impl Dataset {
    /// The first `n` samples (all of them, if fewer), as the graphs take data.
    pub fn host(&self, n: usize) -> wgnn_engine::graph::HostData {
        let n = n.min(self.len());
        wgnn_engine::graph::HostData {
            images: self.images.slice(0..n * self.image_size()),
            labels: self.labels[..n].to_vec().into(),
            sample_len: self.image_size(),
        }
    }

    /// Bytes of one image (`height * width * channels`). Out-of-range `i` gives an empty slice.
    pub fn image(&self, i: usize) -> &[u8] {
        let sz = self.image_size();
        self.images.get(i * sz..(i + 1) * sz).unwrap_or(&[])
    }

    /// Label of one image, `None` when out of range.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    /// Bytes per image.
    pub fn image_size(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The image shape `[height, width, channels]`, as a model's input is given.
    pub fn shape(&self) -> [usize; 3] {
        [self.height, self.width, self.channels]
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
            images: self.images.slice(start * sz..end * sz),
            labels: self.labels.get(start..end).unwrap_or_default().to_vec(),
            n: end - start,
            height: self.height,
            width: self.width,
            channels: self.channels,
        }
    }

    /// The first `limit` images (all of them when there are fewer).
    pub fn take(&self, limit: usize) -> Dataset {
        self.slice(0..limit)
    }
}

/// A training set and a test set of the same image shape, with the names of their classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splits {
    pub train: Dataset,
    /// Empty when the data has no test set (an image folder without `test/`).
    pub test: Dataset,
    /// One name per class ("0".."9" for the digit sets): the dataset's own, else one per number
    /// up to the largest training label (at least 2).
    pub class_names: Vec<String>,
    /// The files the labels came from, for messages.
    pub train_labels_path: PathBuf,
    pub test_labels_path: PathBuf,
}

/// The first label of `labels` (read from `path`) that is not below `classes`, as an error
/// naming the file, the index and the value.
pub fn check_labels(labels: &[u8], classes: usize, path: &Path) -> Result<()> {
    outside(labels, classes, "the model's", path)
}

/// `check_labels` with the owner of the classes named (`the`, `the model's`).
fn outside(labels: &[u8], classes: usize, whose: &str, path: &Path) -> Result<()> {
    match labels.iter().position(|&l| usize::from(l) >= classes) {
        None => Ok(()),
        Some(i) => Err(Error::file(
            path,
            format!(
                "label {} at index {i} is outside {whose} {classes} classes (0..={})",
                labels[i],
                classes.saturating_sub(1)
            ),
        )),
    }
}

/// The classes of labels with no names: 0..=the largest training label. When most of those would
/// hold no training image (label 99 among 0..9: one damaged byte of MNIST's labels; 200 in an
/// `.npz` of two classes), the largest label is refused rather than widening the model to classes
/// no image has; a few empty classes (a small subset) pass.
fn inferred_classes(labels: &[u8], path: &Path) -> Result<Vec<String>> {
    let mut seen = [false; 256];
    for &l in labels {
        seen[usize::from(l)] = true;
    }
    let top = usize::from(labels.iter().copied().max().unwrap_or(0));
    if top == 0 {
        return Err(Error::file(
            path,
            "labels every image 0: the data has one class, and a classifier needs at least two",
        ));
    }
    let present = seen[..=top].iter().filter(|&&s| s).count();
    let empty = top + 1 - present;
    if empty > present {
        let at = labels
            .iter()
            .position(|&l| usize::from(l) == top)
            .unwrap_or(0);
        let gap = (0..top).find(|&c| !seen[c]).unwrap_or(0);
        let end = (gap..top).take_while(|&c| !seen[c]).last().unwrap_or(gap);
        let classes = match end > gap {
            true => format!("classes {gap} to {end}"),
            false => format!("class {gap}"),
        };
        return Err(Error::file(
            path,
            format!(
                "has label {top} at index {at}, which would make {} classes, {empty} of them without any image (no image of {classes}): the labels must number the classes 0, 1, 2, ... (is a label damaged?)",
                top + 1
            ),
        ));
    }
    Ok((0..=top).map(|c| c.to_string()).collect())
}

impl Splits {
    /// Builds the pair, checking that both sets have one image shape and that every label is one
    /// of `class_names` (when given; else the classes are 0..=the largest training label).
    pub fn new(
        train: Dataset,
        test: Dataset,
        class_names: Option<Vec<String>>,
        [train_labels_path, test_labels_path]: [PathBuf; 2],
    ) -> Result<Splits> {
        if train.is_empty() {
            return Err(Error::file(&train_labels_path, "contains no images"));
        }
        if !test.is_empty() && train.shape() != test.shape() {
            return Err(Error::msg(format!(
                "the training images ({}) are {} but the test images ({}) are {}",
                train_labels_path.display(),
                shape_str(train.shape()),
                test_labels_path.display(),
                shape_str(test.shape())
            )));
        }
        let names = match class_names {
            Some(names) => names,
            None => inferred_classes(&train.labels, &train_labels_path)?,
        };
        let classes = names.len();
        outside(&train.labels, classes, "the", &train_labels_path)?;
        outside(&test.labels, classes, "the", &test_labels_path)?;
        if classes < 2 {
            return Err(Error::file(
                &train_labels_path,
                format!(
                    "has one class ({}); a classifier needs at least two",
                    names.join(", ")
                ),
            ));
        }
        Ok(Splits {
            train,
            test,
            class_names: names,
            train_labels_path,
            test_labels_path,
        })
    }

    /// The image shape `[height, width, channels]`.
    pub fn shape(&self) -> [usize; 3] {
        self.train.shape()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

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

/// `28x28x1`, as messages give an image shape.
pub use wgnn_engine::util::text::shape_hwc as shape_str;

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
