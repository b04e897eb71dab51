//! IDX file format (as used by MNIST), raw or gzip-compressed.
//!
//! Layout: a 4-byte magic `00 00 TT DD` (TT = element type, DD = number of
//! dimensions), then DD big-endian `u32` dimension sizes, then the elements.
//! Only unsigned bytes (TT = 0x08) are supported: images use magic
//! `0x00000803` (`[n, rows, cols]`) and labels `0x00000801` (`[n]`).
//!
//! Files are validated before being trusted: wrong magic or element type,
//! wrong number of dimensions, absurd (overflowing) dimensions, truncated data
//! and trailing garbage are all reported as errors naming the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::{Dataset, Splits};
use crate::error::{Error, Result};

/// Magic number of an IDX file of unsigned-byte images `[n, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels `[n]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Largest decompressed file we accept (guards against gzip bombs).
const MAX_DECOMPRESSED: u64 = 4 << 30;

/// Images read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// `n * rows * cols` bytes, row-major.
    pub data: Vec<u8>,
}

/// Reads a whole file, transparently decompressing it when it starts with the
/// gzip header `1f 8b` (whatever its name).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        MultiGzDecoder::new(&raw[..])
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::file(path, format!("corrupt gzip data: {e}")))?;
        if out.len() as u64 > MAX_DECOMPRESSED {
            return Err(Error::file(
                path,
                format!("decompresses to more than {MAX_DECOMPRESSED} bytes"),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn read_be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses an IDX header and checks the payload length; returns the dimensions
/// and the payload. `what` is "images" or "labels" for messages.
fn parse(bytes: &[u8], path: &Path, want_dims: u8, what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let magic = read_be_u32(bytes, 0).ok_or_else(|| {
        Error::file(
            path,
            format!(
                "truncated IDX file: {} bytes, too short for a header",
                bytes.len()
            ),
        )
    })?;
    if magic >> 16 != 0 {
        return Err(Error::file(
            path,
            format!("not an IDX file (bad magic number 0x{magic:08x})"),
        ));
    }
    let dtype = ((magic >> 8) & 0xff) as u8;
    let ndims = (magic & 0xff) as u8;
    if dtype != 0x08 {
        return Err(Error::file(
            path,
            format!(
                "IDX element type 0x{dtype:02x} is not supported (expected unsigned byte, 0x08)"
            ),
        ));
    }
    if ndims != want_dims {
        let hint = match ndims {
            1 => " (this looks like a label file)",
            3 => " (this looks like an image file)",
            _ => "",
        };
        return Err(Error::file(
            path,
            format!(
                "expected an IDX {what} file with {want_dims} dimension(s) (magic 0x{:08x}), found {ndims}{hint}",
                0x0800u32 | u32::from(want_dims)
            ),
        ));
    }
    let header = 4 + 4 * usize::from(ndims);
    let mut dims = Vec::with_capacity(usize::from(ndims));
    for d in 0..usize::from(ndims) {
        let v = read_be_u32(bytes, 4 + 4 * d).ok_or_else(|| {
            Error::file(
                path,
                "truncated IDX file: header ends before its dimensions",
            )
        })?;
        dims.push(v as usize);
    }
    let shown = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&p| p.checked_add(header).is_some())
        .ok_or_else(|| {
            Error::file(
                path,
                format!("absurd IDX dimensions {shown} (the size overflows)"),
            )
        })?;
    let have = bytes.len() - header;
    if have < expected {
        return Err(Error::file(
            path,
            format!(
                "truncated IDX file: the header's dimensions {shown} announce {expected} data bytes, the file has {have}"
            ),
        ));
    }
    if have > expected {
        return Err(Error::file(
            path,
            format!(
                "{} bytes of trailing garbage after the {expected} data bytes announced by the header's dimensions {shown}",
                have - expected
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Parses the bytes of an (already decompressed) IDX image file. `path` is
/// only used in error messages.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let (dims, data) = parse(bytes, path, 3, "images")?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::file(
            path,
            format!("images have an empty size {rows}x{cols}"),
        ));
    }
    Ok(IdxImages {
        n,
        rows,
        cols,
        data,
    })
}

/// Parses the bytes of an (already decompressed) IDX label file. `path` is
/// only used in error messages.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let (_, data) = parse(bytes, path, 1, "labels")?;
    Ok(data)
}

/// Reads an IDX image file (raw or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(&read_maybe_gz(path)?, path)
}

/// Reads an IDX label file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(&read_maybe_gz(path)?, path)
}

/// Encodes images as an IDX file (magic `0x00000803`). `data` must hold
/// `n * rows * cols` bytes.
pub fn encode_images(n: usize, rows: usize, cols: usize, data: &[u8]) -> Result<Vec<u8>> {
    let dims = [n, rows, cols];
    let size = n.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    if size != Some(data.len()) {
        return Err(Error::msg(format!(
            "encode_images: {} bytes do not match dimensions {n}x{rows}x{cols}",
            data.len()
        )));
    }
    let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in dims {
        let d = u32::try_from(d)
            .map_err(|_| Error::msg(format!("encode_images: dimension {d} exceeds u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Encodes labels as an IDX file (magic `0x00000801`).
pub fn encode_labels(labels: &[u8]) -> Result<Vec<u8>> {
    let n = u32::try_from(labels.len())
        .map_err(|_| Error::msg("encode_labels: too many labels for an IDX file"))?;
    let mut out = LABELS_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

/// File names (without `.gz`) of the four files of MNIST and the sets that copy its layout
/// (Fashion-MNIST, KMNIST).
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Finds `name` or `name.gz` in `dir` (raw preferred when both exist).
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

fn require(dir: &Path, name: &str) -> Result<PathBuf> {
    find(dir, name).ok_or_else(|| {
        let raw = dir.join(name);
        Error::file(
            &raw,
            format!(
                "missing data file (expected {} or {}.gz)",
                raw.display(),
                raw.display()
            ),
        )
    })
}

/// Whether `dir` holds any of the four files in IDX form (a missing one is then an error that
/// names it).
pub fn is_idx_dir(dir: &Path) -> bool {
    [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .iter()
        .any(|n| find(dir, n).is_some())
}

/// Builds a grayscale set from IDX image and label files (raw or gzip); the counts must agree.
pub fn read_set(images: &Path, labels: &Path) -> Result<Dataset> {
    let im = read_images(images)?;
    let lb = read_labels(labels)?;
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
        images: im.data.into(),
        labels: lb,
        n: im.n,
        height: im.rows,
        width: im.cols,
        channels: 1,
    })
}

/// Loads the four files from `dir`, each raw or gzip-compressed (`.gz` appended to the name).
pub fn load_dir(dir: &Path, class_names: Option<Vec<String>>) -> Result<Splits> {
    let train_labels = require(dir, TRAIN_LABELS)?;
    let train = read_set(&require(dir, TRAIN_IMAGES)?, &train_labels)?;
    let test_labels = require(dir, TEST_LABELS)?;
    let test = read_set(&require(dir, TEST_IMAGES)?, &test_labels)?;
    Splits::new(train, test, class_names, [train_labels, test_labels])
}
