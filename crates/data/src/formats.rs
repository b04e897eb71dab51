//! Which format a data folder (or file) holds, found from what is inside, and loading it.

use std::path::{Path, PathBuf};

use super::cifar::{self, Layout};
use super::download::{Progress, Quiet};
use super::folder::{self, FolderOptions, Skipped};
use super::{csv, idx, npz, Splits};
use wgnn_engine::error::{Error, Result};

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
        folder::is_folder(path).then(|| Format::Folder(path.to_path_buf()))
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

    /// Reads the data; `class_names` names the classes where the files do not, `coarse` picks
    /// CIFAR-100's superclasses.
    pub fn load(&self, class_names: Option<Vec<String>>, coarse: bool) -> Result<Splits> {
        let o = ReadOptions {
            class_names,
            coarse,
            ..ReadOptions::default()
        };
        self.read(&o).map(|(s, _)| s)
    }

    /// Reads the data with every option; an image folder also gives the files it skipped.
    pub fn read(&self, o: &ReadOptions) -> Result<(Splits, Vec<Skipped>)> {
        self.read_with(o, &mut Quiet)
    }

    /// `read`, reporting the conversion of a large set into the cache to `progress`.
    pub fn read_with(
        &self,
        o: &ReadOptions,
        progress: &mut dyn Progress,
    ) -> Result<(Splits, Vec<Skipped>)> {
        match (self, &o.cache_dir) {
            (Format::Folder(d), _) => {
                let mut f = o.folder.clone();
                f.cache_dir = f.cache_dir.or_else(|| o.cache_dir.clone());
                folder::load_with(d, &f, progress)
            }
            (_, Some(dir)) => super::cache::read(self, o, dir, progress),
            (_, None) => self.read_memory(o),
        }
    }

    /// Reads the data into memory, without the cache.
    pub fn read_memory(&self, o: &ReadOptions) -> Result<(Splits, Vec<Skipped>)> {
        let names = o.class_names.clone();
        let splits = match self {
            Format::Idx(d) => idx::load_dir(d, names)?,
            Format::Npz(p) => npz::load(p, names)?,
            Format::Cifar(d, l) => cifar::load_dir(d, *l, o.coarse)?,
            Format::Csv(d) => csv::load_dir(d, names)?,
            Format::Folder(d) => {
                let f = FolderOptions {
                    cache_dir: None,
                    ..o.folder.clone()
                };
                return folder::load(d, &f);
            }
        };
        Ok((splits, Vec::new()))
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

/// Loads whatever `path` holds; an error names the path and what was looked for.
pub fn load_path(path: &Path, class_names: Option<Vec<String>>, coarse: bool) -> Result<Splits> {
    let o = ReadOptions {
        class_names,
        coarse,
        ..ReadOptions::default()
    };
    read_path(path, &o).map(|(s, _)| s)
}

/// `load_path` with every option.
pub fn read_path(path: &Path, o: &ReadOptions) -> Result<(Splits, Vec<Skipped>)> {
    read_path_with(path, o, &mut Quiet)
}

/// `read_path`, reporting the conversion of a large set into the cache to `progress`.
pub fn read_path_with(
    path: &Path,
    o: &ReadOptions,
    progress: &mut dyn Progress,
) -> Result<(Splits, Vec<Skipped>)> {
    if !path.exists() {
        return Err(Error::file(
            path,
            format!("data directory does not exist (expected {EXPECTED})"),
        ));
    }
    match Format::detect(path) {
        Some(f) => f.read_with(o, progress),
        None => Err(Error::file(
            path,
            format!("holds no data wgnn reads (expected {EXPECTED})"),
        )),
    }
}
