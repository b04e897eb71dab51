//! The packed cache of a decoded image folder: one file per folder state, named by a hash of
//! every file's path, class, size and modification time and of the decoded shape, so a changed
//! folder misses the cache and is decoded again. A cache that does not read back whole is
//! ignored, never trusted.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::folder::Skipped;
use super::Dataset;
use crate::error::Result;

const MAGIC: &[u8; 8] = b"WGNNFC01";

/// The cache key of a folder's files (with their classes) read at `[h, w]` with `c` channels.
pub fn key(files: &[(&Path, u8)], [h, w]: [usize; 2], c: usize, skip_bad: bool) -> String {
    let mut sha = Sha256::new();
    for (p, class) in files {
        let meta = std::fs::metadata(p).ok();
        let len = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        sha.update(p.to_string_lossy().as_bytes());
        sha.update([0, *class]);
        sha.update(len.to_le_bytes());
        sha.update(mtime.to_le_bytes());
    }
    for v in [h, w, c, usize::from(skip_bad)] {
        sha.update((v as u64).to_le_bytes());
    }
    sha.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("folder-{key}.bin"))
}

fn put_u64(out: &mut Vec<u8>, v: usize) {
    out.extend((v as u64).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len());
    out.extend(b);
}

/// Writes the cache for `key`.
pub fn write(
    dir: &Path,
    key: &str,
    train: &Dataset,
    test: &Dataset,
    skipped: &[Skipped],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
    let mut out = MAGIC.to_vec();
    for v in [
        train.height,
        train.width,
        train.channels,
        train.n,
        test.n,
        skipped.len(),
    ] {
        put_u64(&mut out, v);
    }
    for set in [train, test] {
        put_bytes(&mut out, &set.images);
        put_bytes(&mut out, &set.labels);
    }
    for (p, why) in skipped {
        put_bytes(&mut out, p.to_string_lossy().as_bytes());
        put_bytes(&mut out, why.as_bytes());
    }
    crate::util::fs::write_atomic(&path(dir, key), &out)
}

/// A reader over the cache's bytes; every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u64(&mut self) -> Option<usize> {
        let (h, t) = self.0.split_at_checked(8)?;
        self.0 = t;
        usize::try_from(u64::from_le_bytes(h.try_into().ok()?)).ok()
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u64()?;
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h.to_vec())
    }
}

/// The cached sets and skipped files for `key`, when a whole, consistent cache exists.
pub fn read(dir: &Path, key: &str) -> Option<(Dataset, Dataset, Vec<Skipped>)> {
    let bytes = std::fs::read(path(dir, key)).ok()?;
    let mut c = Cursor(bytes.strip_prefix(MAGIC)?);
    let (h, w, ch, n_train, n_test, n_skipped) =
        (c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?, c.u64()?);
    let mut set = |n: usize| -> Option<Dataset> {
        let (images, labels) = (c.bytes()?, c.bytes()?);
        let ok = labels.len() == n && images.len() == n.checked_mul(h * w * ch)?;
        ok.then_some(Dataset {
            images: images.into(),
            labels,
            n,
            height: h,
            width: w,
            channels: ch,
        })
    };
    let (train, test) = (set(n_train)?, set(n_test)?);
    let mut skipped = Vec::new();
    for _ in 0..n_skipped {
        let p = String::from_utf8(c.bytes()?).ok()?;
        let why = String::from_utf8(c.bytes()?).ok()?;
        skipped.push((PathBuf::from(p), why));
    }
    c.0.is_empty().then_some((train, test, skipped))
}
