//! Reading any format through its packed copy in a cache folder (`packed`): the first read
//! converts the source into a pack, later reads map it. A pack is named by a hash of the source
//! (format, path, read options) and one of its state (each file's path, size and modification
//! time), so a changed source misses and is converted again, and the pack of its earlier state is
//! removed. IDX and npz files are converted streaming, a chunk at a time, so a set larger than
//! memory never has to fit in it; CIFAR batches and CSV files are read into memory first.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::format::{Format, ReadOptions};
use super::packed::{self, Meta};
use super::progress::Progress;
use super::{idx, npz, Skipped, Splits};
use wgnn_engine::error::{Error, Result};

/// How a format is read whole into memory (`Format::read_memory`), for the formats converted
/// from memory rather than streamed: the readers are above the cache, which only packs.
pub type ReadMemory = fn(&Format, &ReadOptions) -> Result<(Splits, Vec<Skipped>)>;

/// `format` read through its pack in `dir`, converting it first when there is none that checks
/// out (streaming IDX and npz files, reading anything else with `read_memory`).
pub fn read(
    format: &Format,
    (o, read_memory): (&ReadOptions, ReadMemory),
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<(Splits, Vec<Skipped>)> {
    let sources = sources(format)?;
    let ident = ident_key(format, o);
    let state = state_key(&ident, &sources);
    let prefix = format!("{}-{ident}-", short(format));
    let path = dir.join(format!("{prefix}{state}.pack"));
    if let Some(hit) = packed::read(&path, &state) {
        return Ok(hit);
    }
    // One conversion of a source at a time: processes that start together (tests, `tune`'s
    // shards) wait for the first, then map its pack.
    let lock_path = dir.join(format!(".{prefix}{state}.lock"));
    let _lock = lock(&lock_path)?;
    if let Some(hit) = packed::read(&path, &state) {
        return Ok(hit);
    }
    if let Err(e) = convert((format, o, read_memory), &path, &state, progress) {
        // A failed conversion (a full disk) leaves nothing in the folder; a process waiting on
        // the lock tries for itself.
        let _ = std::fs::remove_file(&lock_path);
        return Err(e);
    }
    packed::tidy(dir, &prefix, &path);
    packed::read(&path, &state).ok_or_else(|| {
        Error::file(
            &path,
            "the packed copy of the data just written does not read back",
        )
    })
}

/// The lock file `path`, held until the returned file is dropped. A conversion that succeeds
/// leaves it in place: removing it could let a waiting process and a new one each lock a
/// different file.
fn lock(path: &Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    file.lock().map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// Writes the pack of `format` to `path`.
fn convert(
    (format, o, read_memory): (&Format, &ReadOptions, ReadMemory),
    path: &Path,
    key: &str,
    progress: &mut dyn Progress,
) -> Result<()> {
    let names = o.class_names.clone();
    match format {
        Format::Idx(d) => idx::pack_dir(d, names, path, key, progress),
        Format::Npz(p) => npz::pack(p, names, path, key, progress),
        _ => {
            let (splits, skipped) = read_memory(format, o)?;
            write_splits((&splits, &skipped), format.path(), (path, key), progress)
        }
    }
}

/// Packs data already in memory (read from `source`) into `path` for `key`.
pub fn write_splits(
    (splits, skipped): (&Splits, &[Skipped]),
    source: &Path,
    (path, key): (&Path, &str),
    progress: &mut dyn Progress,
) -> Result<()> {
    let meta = Meta::of(splits, skipped);
    packed::write((path, key), source, &meta, progress, |w| {
        for set in [&splits.train, &splits.test] {
            w.write_all(&set.images).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

fn short(format: &Format) -> &'static str {
    match format {
        Format::Idx(_) => "idx",
        Format::Npz(_) => "npz",
        Format::Cifar(..) => "cifar",
        Format::Csv(_) => "csv",
        Format::Folder(_) => "folder",
    }
}

/// The files the data is read from: the four IDX files, the archive, or every file of a CIFAR
/// or CSV folder.
fn sources(format: &Format) -> Result<Vec<PathBuf>> {
    match format {
        Format::Idx(d) => idx::files(d).map(Vec::from),
        Format::Npz(p) => Ok(vec![p.clone()]),
        Format::Cifar(d, _) | Format::Csv(d) | Format::Folder(d) => {
            let rd = std::fs::read_dir(d).map_err(|e| Error::io(d, e))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !hidden(p))
                .collect();
            files.sort();
            Ok(files)
        }
    }
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// 32 hex digits of a SHA-256.
pub fn hex(sha: Sha256) -> String {
    sha.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The source's identity: the format, its path and what changes the data read from it.
fn ident_key(format: &Format, o: &ReadOptions) -> String {
    let mut sha = Sha256::new();
    sha.update(format!("{format:?}").as_bytes());
    let full = std::fs::canonicalize(format.path()).unwrap_or_default();
    sha.update(full.to_string_lossy().as_bytes());
    match &o.class_names {
        Some(names) => sha.update(format!("{}:{}", names.len(), names.join("\0"))),
        None => sha.update("-"),
    }
    sha.update([u8::from(o.coarse)]);
    hex(sha)
}

/// The source's state: each file's path, size and modification time.
fn state_key(ident: &str, files: &[PathBuf]) -> String {
    let mut sha = Sha256::new();
    sha.update(ident.as_bytes());
    for p in files {
        add_file(&mut sha, p);
    }
    hex(sha)
}

/// Adds a file's path, size and modification time to a key.
pub fn add_file(sha: &mut Sha256, p: &Path) {
    let meta = std::fs::metadata(p).ok();
    let len = meta.as_ref().map_or(0, |m| m.len());
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    sha.update(p.to_string_lossy().as_bytes());
    sha.update([0]);
    sha.update(len.to_le_bytes());
    sha.update(mtime.to_le_bytes());
}
