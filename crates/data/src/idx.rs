//! IDX file format (as used by MNIST), raw or gzip-compressed.
//!
//! Layout: a 4-byte magic `00 00 TT DD` (TT = element type, DD = number of
//! dimensions), then DD big-endian `u32` dimension sizes, then the elements.
//! Only unsigned bytes (TT = 0x08) are supported: images use magic
//! `0x00000803` (`[n, rows, cols]`, grayscale) or `0x00000804` (`[n, rows, cols, channels]`,
//! channels 1 or 3 interleaved) and labels `0x00000801` (`[n]`).
//!
//! Files are validated before being trusted: wrong magic or element type,
//! wrong number of dimensions, absurd (overflowing) dimensions, truncated data
//! and trailing garbage are all reported as errors naming the file.

use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::packed::{self, Meta};
use super::progress::Progress;
use super::{Dataset, Splits};
use wgnn_engine::error::{Error, Result};

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
    /// 1 for a 3-dimensional file; the last dimension of a 4-dimensional one.
    pub channels: usize,
    /// `n * rows * cols * channels` bytes, row-major, channels interleaved.
    pub data: Vec<u8>,
}

/// The dimension counts an image file may have.
const IMAGE_DIMS: &[u8] = &[3, 4];

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

/// What an IDX header announces: the dimensions, the header's length and the payload's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub dims: Vec<usize>,
    pub len: usize,
    pub data_len: usize,
}

/// The header's length for the magic number at the start of `bytes`, when it is there.
fn header_len(bytes: &[u8]) -> Option<usize> {
    read_be_u32(bytes, 0).map(|m| 4 + 4 * (m & 0xff) as usize)
}

/// Parses the IDX header at the start of `bytes` (what follows it is not looked at): unsigned
/// bytes with one of `want_dims` dimensions, whose product does not overflow. `what` is "images"
/// or "labels" for messages.
fn parse_header(bytes: &[u8], path: &Path, want_dims: &[u8], what: &str) -> Result<Header> {
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
    if !want_dims.contains(&ndims) {
        return Err(wrong_dims(path, want_dims, ndims, what));
    }
    let len = 4 + 4 * usize::from(ndims);
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
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&p| p.checked_add(len).is_some())
        .ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "absurd IDX dimensions {} (the size overflows)",
                    dims_str(&dims)
                ),
            )
        })?;
    Ok(Header {
        dims,
        len,
        data_len,
    })
}

fn wrong_dims(path: &Path, want_dims: &[u8], ndims: u8, what: &str) -> Error {
    let hint = match ndims {
        1 => " (this looks like a label file)",
        3 | 4 => " (this looks like an image file)",
        _ => "",
    };
    let counts: Vec<String> = want_dims.iter().map(u8::to_string).collect();
    let magics: Vec<String> = want_dims
        .iter()
        .map(|d| format!("0x{:08x}", 0x0800u32 | u32::from(*d)))
        .collect();
    Error::file(
        path,
        format!(
            "expected an IDX {what} file with {} dimension(s) (magic {}), found {ndims}{hint}",
            counts.join(" or "),
            magics.join(" or ")
        ),
    )
}

/// `28x28`, as messages give dimensions.
fn dims_str(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The payload is exactly what the header announces: `have` bytes follow the header.
fn check_payload(h: &Header, have: u64, path: &Path) -> Result<()> {
    let (expected, shown) = (h.data_len as u64, dims_str(&h.dims));
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
    Ok(())
}

/// Parses an IDX file's bytes and checks the payload length; returns the dimensions and the
/// payload.
fn parse(bytes: &[u8], path: &Path, want_dims: &[u8], what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let h = parse_header(bytes, path, want_dims, what)?;
    check_payload(&h, (bytes.len() - h.len) as u64, path)?;
    Ok((h.dims, bytes[h.len..].to_vec()))
}

/// The image shape `(n, rows, cols, channels)` of a header's dimensions, checked.
fn image_shape(dims: &[usize], path: &Path) -> Result<(usize, usize, usize, usize)> {
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    let channels = dims.get(3).copied().unwrap_or(1);
    if rows == 0 || cols == 0 {
        return Err(Error::file(
            path,
            format!("images have an empty size {rows}x{cols}"),
        ));
    }
    if channels != 1 && channels != 3 {
        return Err(Error::file(
            path,
            format!("images have {channels} channels; wgnn reads 1 (grayscale) or 3 (RGB)"),
        ));
    }
    Ok((n, rows, cols, channels))
}

/// Parses the bytes of an (already decompressed) IDX image file. `path` is
/// only used in error messages.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let (dims, data) = parse(bytes, path, IMAGE_DIMS, "images")?;
    let (n, rows, cols, channels) = image_shape(&dims, path)?;
    Ok(IdxImages {
        n,
        rows,
        cols,
        channels,
        data,
    })
}

/// Parses the bytes of an (already decompressed) IDX label file. `path` is
/// only used in error messages.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let (_, data) = parse(bytes, path, &[1], "labels")?;
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

/// An IDX file opened for reading a chunk at a time: raw, or through gzip when it starts with
/// `1f 8b`. A raw file's length is known, so its sizes are checked before a byte is copied.
pub struct Stream {
    reader: Box<dyn Read>,
    raw_len: Option<u64>,
}

impl Stream {
    pub fn open(path: &Path) -> Result<Stream> {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut magic = [0u8; 2];
        let got = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
        f.rewind().map_err(|e| Error::io(path, e))?;
        let f = BufReader::with_capacity(1 << 20, f);
        Ok(match (got, magic) {
            (2, [0x1f, 0x8b]) => Stream {
                reader: Box::new(MultiGzDecoder::new(f)),
                raw_len: None,
            },
            _ => Stream {
                reader: Box::new(f),
                raw_len: Some(len),
            },
        })
    }

    /// Fills `buf` as far as the stream goes; how many bytes it got.
    fn fill(&mut self, buf: &mut [u8], path: &Path) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::file(path, format!("cannot be read: {e}"))),
            }
        }
        Ok(got)
    }

    /// Reads and checks an image file's header (and a raw file's length against it).
    pub fn image_header(&mut self, path: &Path) -> Result<Header> {
        let mut b = vec![0u8; 4];
        let got = self.fill(&mut b, path)?;
        b.truncate(got);
        // Read the dimensions only for a well-formed magic number; otherwise the header's
        // parser says what is wrong with it.
        let plausible = got == 4 && b[0] == 0 && b[1] == 0 && b[2] == 8;
        if let Some(len) = header_len(&b).filter(|_| plausible && IMAGE_DIMS.contains(&b[3])) {
            b.resize(len, 0);
            let got = self.fill(&mut b[4..], path)?;
            b.truncate(4 + got);
        }
        let h = parse_header(&b, path, IMAGE_DIMS, "images")?;
        image_shape(&h.dims, path)?;
        if let Some(len) = self.raw_len {
            check_payload(&h, len - h.len as u64, path)?;
        }
        Ok(h)
    }

    /// Copies the payload `h` announces to `out` a chunk at a time, then checks that nothing
    /// follows it.
    pub fn copy_payload(&mut self, h: &Header, out: &mut dyn Write, path: &Path) -> Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        let mut left = h.data_len as u64;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = self.fill(&mut buf[..want], path)?;
            if got == 0 {
                return check_payload(h, h.data_len as u64 - left, path);
            }
            out.write_all(&buf[..got]).map_err(|e| Error::io(path, e))?;
            left -= got as u64;
        }
        let mut trailing = 0u64;
        loop {
            match self.fill(&mut buf, path)? {
                0 => break,
                n => trailing += n as u64,
            }
        }
        check_payload(h, h.data_len as u64 + trailing, path)
    }
}

/// Encodes images as an IDX file (magic `0x00000803`). `data` must hold
/// `n * rows * cols` bytes.
pub fn encode_images(n: usize, rows: usize, cols: usize, data: &[u8]) -> Result<Vec<u8>> {
    Ok([image_header(&[n, rows, cols], data.len())?, data.to_vec()].concat())
}

/// The header of an IDX image file of dimensions `dims` (3: `[n, rows, cols]`, 4: with the
/// channels last) whose payload is `len` bytes, which must be the dimensions' product: what
/// goes before the pixels when a large file is written a chunk at a time.
pub fn image_header(dims: &[usize], len: usize) -> Result<Vec<u8>> {
    let shown = dims_str(dims);
    let size = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if size != Some(len) || !(3..=4).contains(&dims.len()) {
        return Err(Error::msg(format!(
            "encode_images: {len} bytes do not match dimensions {shown}"
        )));
    }
    let mut out = (0x0800u32 | dims.len() as u32).to_be_bytes().to_vec();
    for &d in dims {
        let d = u32::try_from(d)
            .map_err(|_| Error::msg(format!("encode_images: dimension {d} exceeds u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
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

/// Builds a set from IDX image and label files (raw or gzip); the counts must agree.
pub fn read_set(images: &Path, labels: &Path) -> Result<Dataset> {
    let im = read_images(images)?;
    let lb = read_labels(labels)?;
    count_check(images, im.n, labels, lb.len())?;
    Ok(Dataset {
        images: im.data.into(),
        labels: lb,
        n: im.n,
        height: im.rows,
        width: im.cols,
        channels: im.channels,
    })
}

fn count_check(images: &Path, n: usize, labels: &Path, n_labels: usize) -> Result<()> {
    if n == n_labels {
        return Ok(());
    }
    Err(Error::msg(format!(
        "{} holds {n} images but {} holds {n_labels} labels",
        images.display(),
        labels.display(),
    )))
}

/// Loads the four files from `dir`, each raw or gzip-compressed (`.gz` appended to the name).
pub fn load_dir(dir: &Path, class_names: Option<Vec<String>>) -> Result<Splits> {
    let [train_images, train_labels, test_images, test_labels] = files(dir)?;
    let train = read_set(&train_images, &train_labels)?;
    let test = read_set(&test_images, &test_labels)?;
    Splits::new(train, test, class_names, [train_labels, test_labels])
}

/// The four files of `dir`: training images and labels, test images and labels.
pub fn files(dir: &Path) -> Result<[PathBuf; 4]> {
    Ok([
        require(dir, TRAIN_IMAGES)?,
        require(dir, TRAIN_LABELS)?,
        require(dir, TEST_IMAGES)?,
        require(dir, TEST_LABELS)?,
    ])
}

/// Converts the four files of `dir` into the pack `out` for `key`, streaming: the labels are
/// read whole (they are small), the images are copied through the decoder a chunk at a time,
/// after their headers have been checked against the labels.
pub fn pack_dir(
    dir: &Path,
    class_names: Option<Vec<String>>,
    out: &Path,
    key: &str,
    progress: &mut dyn Progress,
) -> Result<()> {
    let [train_images, train_labels, test_images, test_labels] = files(dir)?;
    let mut train = Stream::open(&train_images)?;
    let train_h = train.image_header(&train_images)?;
    let mut test = Stream::open(&test_images)?;
    let test_h = test.image_header(&test_images)?;
    let hollow = |h: &Header, images: &Path, labels: &Path| -> Result<Dataset> {
        let lb = read_labels(labels)?;
        let (n, rows, cols, channels) = image_shape(&h.dims, images)?;
        count_check(images, n, labels, lb.len())?;
        Ok(Dataset {
            images: Default::default(),
            labels: lb,
            n,
            height: rows,
            width: cols,
            channels,
        })
    };
    // Shapes, counts and labels are checked as an in-memory read checks them, on sets without
    // their pixels.
    let splits = Splits::new(
        hollow(&train_h, &train_images, &train_labels)?,
        hollow(&test_h, &test_images, &test_labels)?,
        class_names,
        [train_labels, test_labels],
    )?;
    packed::write((out, key), dir, &Meta::of(&splits, &[]), progress, |w| {
        train.copy_payload(&train_h, w, &train_images)?;
        test.copy_payload(&test_h, w, &test_images)
    })
}
