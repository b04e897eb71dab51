//! Reading the data a path holds, in whichever format [`Format::detect`] finds there: straight
//! into memory, or through the packed cache.

use std::path::Path;

use super::cache;
use super::cifar;
use super::folder;
use super::folder_scan::FolderOptions;
use super::format::{Format, ReadOptions, EXPECTED};
use super::progress::{Progress, Quiet};
use super::{csv, idx, npz, Skipped, Splits};
use wgnn_engine::error::{Error, Result};

impl Format {
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
            (_, Some(dir)) => cache::read(self, (o, Format::read_memory), dir, progress),
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
