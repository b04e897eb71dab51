//! The packed form of a whole data set on disk: a header (magic, key, shape, counts, labels,
//! class names), then every image byte at a page-aligned offset, train then test. A reader maps
//! the file and hands out the images as views of the mapping, so a set larger than memory trains
//! with flat host memory: the kernel pages the bytes in and out as they are gathered.
//!
//! Every size in the header is checked against the file's length before anything is trusted; a
//! pack that does not check out is ignored (and rebuilt by the caller), never read past its end.
//! Only files wgnn wrote are mapped: each is written to a temporary name, synced and renamed into
//! place, so a rewrite makes a new file and a mapping keeps the bytes it was made of.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;

use super::progress::Progress;
use super::{Dataset, Skipped, Splits};
use wgnn_engine::error::{Error, Result};
use wgnn_engine::util::bytes::human;
use wgnn_engine::util::shared::Shared;

const MAGIC: &[u8; 8] = b"WGNNPK01";
/// Where the images start is a multiple of this (a page), so the mapped images are aligned.
const ALIGN: u64 = 4096;
/// Writes of at least this many image bytes report their progress.
const PROGRESS_FROM: u64 = 64 << 20;

/// Everything of a pack but its images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// `[height, width, channels]` of the training and the test images (an empty test set's
    /// may be zeros).
    pub shapes: [[usize; 3]; 2],
    pub train_labels: Vec<u8>,
    pub test_labels: Vec<u8>,
    pub class_names: Vec<String>,
    /// The files the labels came from, for messages.
    pub paths: [PathBuf; 2],
    /// An image folder's files left out, with their reasons.
    pub skipped: Vec<Skipped>,
}

impl Meta {
    /// The pack of `splits` (their images are written separately).
    pub fn of(splits: &Splits, skipped: &[Skipped]) -> Meta {
        Meta {
            shapes: [splits.train.shape(), splits.test.shape()],
            train_labels: splits.train.labels.clone(),
            test_labels: splits.test.labels.clone(),
            class_names: splits.class_names.clone(),
            paths: [
                splits.train_labels_path.clone(),
                splits.test_labels_path.clone(),
            ],
            skipped: skipped.to_vec(),
        }
    }

    /// Bytes of all images, train and test (None when it overflows).
    pub fn image_bytes(&self) -> Option<u64> {
        images_len(
            self.shapes,
            [self.train_labels.len(), self.test_labels.len()],
        )
    }

    /// The header for `key` of the data at `source`, padded to where the images start.
    fn encode(&self, key: &str, source: &Path) -> Result<Vec<u8>> {
        let mut out = MAGIC.to_vec();
        put_bytes(&mut out, key.as_bytes());
        for v in self.shapes.concat() {
            put_u64(&mut out, v as u64);
        }
        for v in [self.train_labels.len(), self.test_labels.len()] {
            put_u64(&mut out, v as u64);
        }
        let at = out.len();
        out.extend([0; 16]); // the images' offset and the file's length, set below
        out.extend(&self.train_labels);
        out.extend(&self.test_labels);
        put_u64(&mut out, self.class_names.len() as u64);
        for n in &self.class_names {
            put_bytes(&mut out, n.as_bytes());
        }
        for p in &self.paths {
            put_bytes(&mut out, p.to_string_lossy().as_bytes());
        }
        put_u64(&mut out, self.skipped.len() as u64);
        for (p, why) in &self.skipped {
            put_bytes(&mut out, p.to_string_lossy().as_bytes());
            put_bytes(&mut out, why.as_bytes());
        }
        // Where the source is, whatever the working folder: a pack whose source is gone is
        // removed when the cache is tidied.
        let full = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        put_bytes(&mut out, full.to_string_lossy().as_bytes());
        let offset = (out.len() as u64).div_ceil(ALIGN) * ALIGN;
        let total = self
            .image_bytes()
            .and_then(|b| b.checked_add(offset))
            .ok_or_else(|| Error::msg("the data set's size overflows"))?;
        out.resize(offset as usize, 0);
        out[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&total.to_le_bytes());
        Ok(out)
    }
}

/// Bytes of `n` images of each shape (None when it overflows).
fn images_len(shapes: [[usize; 3]; 2], n: [usize; 2]) -> Option<u64> {
    let set = |[h, w, c]: [usize; 3], n: usize| -> Option<u64> {
        (h as u64)
            .checked_mul(w as u64)?
            .checked_mul(c as u64)?
            .checked_mul(n as u64)
    };
    set(shapes[0], n[0])?.checked_add(set(shapes[1], n[1])?)
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend(v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend(b);
}

/// A reader over the header's bytes; every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (h, t) = self.0.split_at_checked(8)?;
        self.0 = t;
        Some(u64::from_le_bytes(h.try_into().ok()?))
    }

    fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (h, t) = self.0.split_at_checked(n)?;
        self.0 = t;
        Some(h)
    }

    fn text(&mut self) -> Option<String> {
        let n = self.usize()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The pack at `path` mapped, when it exists, was written for `key` and every size in it checks
/// out against the file's length; None otherwise (the caller rebuilds it).
pub fn read(path: &Path, key: &str) -> Option<(Splits, Vec<Skipped>)> {
    let map = map(path)?;
    let (meta, offset, _) = parse(&map, Some(key))?;
    let images = Shared::new(map);
    let set = |labels: Vec<u8>, [h, w, c]: [usize; 3], at: usize| Dataset {
        images: images.slice(at..at + labels.len() * h * w * c),
        n: labels.len(),
        labels,
        height: h,
        width: w,
        channels: c,
    };
    let train = set(meta.train_labels, meta.shapes[0], offset);
    let test = set(
        meta.test_labels,
        meta.shapes[1],
        offset + train.images.len(),
    );
    let splits = Splits::new(train, test, Some(meta.class_names), meta.paths).ok()?;
    Some((splits, meta.skipped))
}

/// A mapped pack, with its file held under a shared lock for as long as the mapping lives: `tidy`
/// leaves a pack that any process holds.
struct Mapped {
    map: Mmap,
    _file: File,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// The file at `path` mapped, when it is a regular file at least as long as a header (opening a
/// FIFO of that name would wait for a writer forever) and no `tidy` is removing it.
fn map(path: &Path) -> Option<Mapped> {
    std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let file = File::open(path).ok()?;
    file.try_lock_shared().ok()?;
    let len = file.metadata().ok()?.len();
    if len < ALIGN {
        return None;
    }
    // SAFETY: the mapping is read-only and the file is one wgnn wrote to a temporary name and
    // renamed into place, never changes in place: a later pack replaces it with a new file, and
    // `tidy` removes none that a process holds. Only another program truncating this very file
    // could make a read fault, which the command line's guard turns into an error
    // (src/app/mapped.rs).
    let map = unsafe { Mmap::map(&file) }.ok()?;
    (map.len() as u64 == len).then_some(Mapped { map, _file: file })
}

/// Whether a process holds the pack at `path` (a mapping's shared lock).
fn held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    file.try_lock().is_err()
}

/// The header of the mapped `bytes` (written for `key`, when given), where the images start and
/// the source's path, when every size agrees with the file's length.
fn parse(bytes: &[u8], key: Option<&str>) -> Option<(Meta, usize, PathBuf)> {
    let mut c = Cursor(bytes.strip_prefix(MAGIC)?);
    let key_len = c.usize()?;
    let found = c.take(key_len)?;
    key.is_none_or(|k| k.as_bytes() == found).then_some(())?;
    let mut shape = || Some([c.usize()?, c.usize()?, c.usize()?]);
    let shapes = [shape()?, shape()?];
    let (n_train, n_test) = (c.usize()?, c.usize()?);
    let (offset, total) = (c.u64()?, c.u64()?);
    let images = images_len(shapes, [n_train, n_test])?;
    let whole = offset % ALIGN == 0
        && total == bytes.len() as u64
        && offset.checked_add(images) == Some(total)
        && shapes[0].iter().all(|&d| d > 0);
    whole.then_some(())?;
    let train_labels = c.take(n_train)?.to_vec();
    let test_labels = c.take(n_test)?.to_vec();
    let class_names = (0..c.usize()?)
        .map(|_| c.text())
        .collect::<Option<Vec<_>>>()?;
    let paths = [PathBuf::from(c.text()?), PathBuf::from(c.text()?)];
    let skipped = (0..c.usize()?)
        .map(|_| Some((PathBuf::from(c.text()?), c.text()?)))
        .collect::<Option<Vec<_>>>()?;
    let source = PathBuf::from(c.text()?);
    // The header ends at or before the images' offset.
    let header_end = (bytes.len() - c.0.len()) as u64;
    (header_end <= offset).then_some(())?;
    let meta = Meta {
        shapes,
        train_labels,
        test_labels,
        class_names,
        paths,
        skipped,
    };
    Some((meta, usize::try_from(offset).ok()?, source))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes the pack `path` for `key` of the data at `source`: `meta`, then the images that `fill`
/// writes (train then test, exactly `meta.image_bytes()` of them), to a temporary file in the
/// same folder that is synced and renamed into place once whole. Any failure removes the
/// temporary file; one to write it (a full disk) is an error naming the folder and the bytes the
/// pack needs.
pub fn write(
    (path, key): (&Path, &str),
    source: &Path,
    meta: &Meta,
    progress: &mut dyn Progress,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let header = meta.encode(key, source)?;
    let images = meta.image_bytes().unwrap_or(u64::MAX);
    let total = header.len() as u64 + images;
    std::fs::create_dir_all(dir).map_err(|e| cannot_write(dir, total, &e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = File::create(&tmp).map_err(|e| cannot_write(dir, total, &e))?;
    let shown = images >= PROGRESS_FROM;
    if shown {
        let what = format!("packing {} into the cache", source.display());
        progress.begin(&what, Some(total), 0);
    }
    let mut sink = Sink {
        file: BufWriter::with_capacity(1 << 20, file),
        written: 0,
        failed: None,
        progress: shown.then_some(progress),
    };
    let result = sink
        .write_all(&header)
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|()| fill(&mut sink))
        .and_then(|()| sink.finish(total, &tmp));
    if let Some(p) = sink.progress.take() {
        p.end();
    }
    match (result, sink.failed.take()) {
        (Ok(()), _) => install(&tmp, path, key),
        (Err(_), Some(e)) => Err(discard(&tmp, cannot_write(dir, total, &e))),
        (Err(e), None) => Err(discard(&tmp, e)),
    }
}

/// Renames the finished `tmp` to `path`. Where the rename fails (Windows refuses to replace a
/// file another process maps), a whole pack already at `path`, written by another process for
/// the same key, does as well.
fn install(tmp: &Path, path: &Path, key: &str) -> Result<()> {
    match std::fs::rename(tmp, path) {
        Ok(()) => Ok(()),
        Err(_) if read(path, key).is_some() => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) => Err(discard(tmp, Error::io(path, e))),
    }
}

fn discard(tmp: &Path, e: Error) -> Error {
    let _ = std::fs::remove_file(tmp);
    e
}

/// A pack that cannot be written in `dir`: no room (a full disk, a quota, a file size limit) or
/// another reason, with the bytes it needs.
fn cannot_write(dir: &Path, total: u64, e: &std::io::Error) -> Error {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    let needs = format!("{} ({total} bytes)", human(total));
    let msg = match e.kind() {
        StorageFull | QuotaExceeded | FileTooLarge => format!(
            "no room for the packed copy of the data, which needs {needs}: {e}. Free that much space there, or choose another cache folder"
        ),
        _ => format!("cannot write the packed copy of the data, which needs {needs}: {e}"),
    };
    Error::file(dir, msg)
}

/// The temporary file being written: counts the bytes, reports them, and keeps the first write
/// error (so that a full disk is told apart from a bad source, whatever `fill` makes of it).
struct Sink<'a> {
    file: BufWriter<File>,
    written: u64,
    failed: Option<std::io::Error>,
    progress: Option<&'a mut dyn Progress>,
}

impl Sink<'_> {
    fn keep<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if self.failed.is_none() {
                self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        r
    }

    /// Flushes and syncs the file once exactly `total` bytes are in it.
    fn finish(&mut self, total: u64, tmp: &Path) -> Result<()> {
        if self.written != total {
            return Err(Error::file(
                tmp,
                format!(
                    "the packed copy holds {} bytes where its header announces {total}",
                    self.written
                ),
            ));
        }
        let r = self.file.flush();
        self.keep(r).map_err(|e| Error::io(tmp, e))?;
        let r = self.file.get_ref().sync_all();
        self.keep(r).map_err(|e| Error::io(tmp, e))
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.file.write(buf);
        let n = self.keep(r)?;
        self.written += n as u64;
        if let Some(p) = self.progress.as_mut() {
            p.advance(n as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.file.flush();
        self.keep(r)
    }
}

/// Tidies the cache folder `dir` after `keep` was written: removes the other packs named
/// `{prefix}*` (the packs of an earlier state of the same source), the packs whose source is gone
/// (the data's file or folder no longer exists) or that do not check out, and the
/// temporary files of these packs left by a conversion whose process is gone (killed halfway).
/// A pack that a process maps (it holds the pack's shared lock) is left for a later tidy.
pub fn tidy(dir: &Path, prefix: &str, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let hidden = format!(".{prefix}");
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let pack = name.ends_with(".pack") && !name.starts_with('.') && p != keep;
        let stale = pack && (name.starts_with(prefix) || orphan(&p));
        // The lock files of the source's earlier states (this state's is `keep`'s name + .lock).
        let old_lock = name.starts_with(&hidden)
            && name.ends_with(".lock")
            && !keep.file_name().is_some_and(|k| {
                name == format!(".{}.lock", k.to_string_lossy().trim_end_matches(".pack"))
            });
        if (stale && !held(&p)) || old_lock || (name.starts_with(&hidden) && abandoned(&name)) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Whether the pack at `path` does not check out, or its source is gone.
fn orphan(path: &Path) -> bool {
    let header = map(path).and_then(|m| parse(&m, None));
    header.is_none_or(|(_, _, source)| !source.exists())
}

/// Whether `name` is a temporary pack (`.NAME.pack.tmp.PID.N`) whose process is gone. Only Linux
/// says (no `/proc/PID`); elsewhere a temporary file is never assumed abandoned.
fn abandoned(name: &str) -> bool {
    let Some((_, tail)) = name.rsplit_once(".pack.tmp.") else {
        return false;
    };
    let pid = tail.split('.').next().and_then(|p| p.parse::<u32>().ok());
    cfg!(target_os = "linux")
        && pid.is_some_and(|p| {
            p != std::process::id() && !Path::new("/proc").join(p.to_string()).exists()
        })
}
