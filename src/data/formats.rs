//! Which format a data folder (or file) holds, found from what is inside, and loading it.

use std::path::{Path, PathBuf};

use super::cifar::{self, Layout};
use super::{csv, idx, npz, Splits};
use crate::error::{Error, Result};

/// A format wgnn reads, with the path it was found at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The four IDX files (raw or gzip) in a folder.
    Idx(PathBuf),
    /// A NumPy archive as `keras.datasets` writes it.
    Npz(PathBuf),
    /// A CIFAR batches folder.
    Cifar(PathBuf, Layout),
    /// Kaggle-style `train.csv` (and `test.csv`) in a folder.
    Csv(PathBuf),
}

impl Format {
    /// What `path` holds, if it is data wgnn reads: a `.npz` file, or a folder with IDX files,
    /// one `.npz`, CIFAR batches (in it or in the folder its archive unpacks to) or `train.csv`.
    pub fn detect(path: &Path) -> Option<Format> {
        if path.is_file() {
            return is_npz(path).then(|| Format::Npz(path.to_path_buf()));
        }
        if !path.is_dir() {
            return None;
        }
        if idx::is_idx_dir(path) {
            return Some(Format::Idx(path.to_path_buf()));
        }
        if let Some(l) = Layout::detect(path) {
            return Some(Format::Cifar(path.to_path_buf(), l));
        }
        for sub in Layout::FOLDERS {
            if let Some(l) = Layout::detect(&path.join(sub)) {
                return Some(Format::Cifar(path.join(sub), l));
            }
        }
        if csv::is_csv_dir(path) {
            return Some(Format::Csv(path.to_path_buf()));
        }
        single_npz(path).map(Format::Npz)
    }

    /// A short name for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Format::Idx(_) => "IDX",
            Format::Npz(_) => "npz",
            Format::Cifar(_, Layout::Cifar10Bin | Layout::Cifar100Bin) => "CIFAR binary",
            Format::Cifar(..) => "CIFAR pickle",
            Format::Csv(_) => "CSV",
        }
    }

    /// Reads the data; `class_names` names the classes where the files do not, `coarse` picks
    /// CIFAR-100's superclasses.
    pub fn load(&self, class_names: Option<Vec<String>>, coarse: bool) -> Result<Splits> {
        match self {
            Format::Idx(d) => idx::load_dir(d, class_names),
            Format::Npz(p) => npz::load(p, class_names),
            Format::Cifar(d, l) => cifar::load_dir(d, *l, coarse),
            Format::Csv(d) => csv::load_dir(d, class_names),
        }
    }
}

fn is_npz(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The folder's only `.npz` file.
fn single_npz(dir: &Path) -> Option<PathBuf> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_npz(p))
        .collect();
    (found.len() == 1).then(|| found[0].clone())
}

/// What a folder must hold, for the message when it holds none of it.
pub const EXPECTED: &str = "the four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), a .npz archive (x_train, y_train, x_test, y_test), CIFAR batches, or train.csv";

/// Loads whatever `path` holds; an error names the path and what was looked for.
pub fn load_path(path: &Path, class_names: Option<Vec<String>>, coarse: bool) -> Result<Splits> {
    if !path.exists() {
        return Err(Error::file(
            path,
            format!("data directory does not exist (expected {EXPECTED})"),
        ));
    }
    match Format::detect(path) {
        Some(f) => f.load(class_names, coarse),
        None => Err(Error::file(
            path,
            format!("holds no data wgnn reads (expected {EXPECTED})"),
        )),
    }
}
