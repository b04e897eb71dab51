//! Which format a data folder (or file) holds, found from what is inside it, without reading it.

use std::path::{Path, PathBuf};

use super::cifar::Layout;
use super::folder_scan::{self, FolderOptions};
use super::{csv, idx};

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
    /// Image files in one folder per class (`train/` and `test/`, or the classes at the top).
    Folder(PathBuf),
}

/// How to read data: class names where the files have none, CIFAR-100's superclasses, an image
/// folder's options, and the cache folder.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    pub class_names: Option<Vec<String>>,
    pub coarse: bool,
    pub folder: FolderOptions,
    /// Where packed copies of the data go (`cache`): the first read converts the data into one,
    /// later reads map it, so the images are not held in memory. None: read into memory. An
    /// image folder uses it unless its own options name a folder.
    pub cache_dir: Option<PathBuf>,
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
        if let Some(p) = single_npz(path) {
            return Some(Format::Npz(p));
        }
        folder_scan::is_folder(path).then(|| Format::Folder(path.to_path_buf()))
    }

    /// The path the data was found at.
    pub fn path(&self) -> &Path {
        match self {
            Format::Idx(p)
            | Format::Npz(p)
            | Format::Csv(p)
            | Format::Cifar(p, _)
            | Format::Folder(p) => p,
        }
    }

    /// A short name for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Format::Idx(_) => "IDX",
            Format::Npz(_) => "npz",
            Format::Cifar(_, Layout::Cifar10Bin | Layout::Cifar100Bin) => "CIFAR binary",
            Format::Cifar(..) => "CIFAR pickle",
            Format::Csv(_) => "CSV",
            Format::Folder(_) => "image folder",
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
pub const EXPECTED: &str = "the four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), a .npz archive (x_train, y_train, x_test, y_test), CIFAR batches, train.csv, or image folders (train/<class>/*.png and test/<class>/, or <class>/*.png)";
