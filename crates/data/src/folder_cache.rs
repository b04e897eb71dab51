//! Where a decoded image folder's pack (`packed`) lives in the cache folder: one file per folder
//! state, named by a hash of the folder and its options and one of every file's path, class,
//! size and modification time and of the decoded shape, so a changed folder misses the cache and
//! is decoded again (and the pack of its earlier state removed). A pack that does not check out
//! is ignored, never trusted.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::cache::{add_file, hex};
use super::folder_scan::FolderOptions;
use super::progress::Progress;
use super::{packed, Skipped, Splits};
use wgnn_engine::error::{Error, Result};

/// The cache key of a folder's files (with their classes) read at `[h, w]` with `c` channels.
pub fn key(files: &[(&Path, u8)], [h, w]: [usize; 2], c: usize, skip_bad: bool) -> String {
    let mut sha = Sha256::new();
    for (p, class) in files {
        add_file(&mut sha, p);
        sha.update([*class]);
    }
    for v in [h, w, c, usize::from(skip_bad)] {
        sha.update((v as u64).to_le_bytes());
    }
    hex(sha)
}

/// The pack of one folder state.
pub struct Entry {
    folder: PathBuf,
    dir: PathBuf,
    /// The name all packs of this folder read with these options start with.
    prefix: String,
    path: PathBuf,
    key: String,
}

impl Entry {
    /// The pack in `cache_dir` of `folder` holding `files`, read with `o` at `size` and `c`.
    pub fn new(
        cache_dir: &Path,
        folder: &Path,
        files: &[(&Path, u8)],
        o: &FolderOptions,
        (size, c): ([usize; 2], usize),
    ) -> Entry {
        let mut sha = Sha256::new();
        let full = std::fs::canonicalize(folder).unwrap_or_default();
        sha.update(full.to_string_lossy().as_bytes());
        sha.update(format!("{:?} {:?}", o.image_size, o.color));
        let prefix = format!("folder-{}-", hex(sha));
        let key = key(files, size, c, o.skip_bad);
        Entry {
            folder: folder.to_path_buf(),
            dir: cache_dir.to_path_buf(),
            path: cache_dir.join(format!("{prefix}{key}.pack")),
            prefix,
            key,
        }
    }

    /// The cached sets and skipped files, when a whole, consistent pack exists.
    pub fn read(&self) -> Option<(Splits, Vec<Skipped>)> {
        packed::read(&self.path, &self.key)
    }

    /// Packs the decoded folder, then maps the pack in its place.
    pub fn write(
        &self,
        (splits, skipped): (Splits, Vec<Skipped>),
        progress: &mut dyn Progress,
    ) -> Result<(Splits, Vec<Skipped>)> {
        let at = (self.path.as_path(), self.key.as_str());
        super::cache::write_splits((&splits, &skipped), &self.folder, at, progress)?;
        drop(splits);
        packed::tidy(&self.dir, &self.prefix, &self.path);
        self.read().ok_or_else(|| {
            Error::file(
                &self.path,
                "the packed copy of the data just written does not read back",
            )
        })
    }
}
