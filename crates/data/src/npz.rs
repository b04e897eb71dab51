//! NumPy `.npz` archives as `keras.datasets` keeps them (`mnist.npz`): the arrays `x_train`,
//! `y_train`, `x_test` and `y_test`; images uint8 `[n, h, w]` or `[n, h, w, c]`, labels any
//! integer type, `[n]` or `[n, 1]`. The archive is read with the `zip` crate and each `.npy`
//! header here: a crate for it (npyz) pulls in a parser whose build compiles C for the target,
//! which the macOS and Windows builds cannot do on this project's Linux CI.

use std::io::{Read, Write};
use std::path::Path;

use super::packed::{self, Meta};
use super::progress::Progress;
use super::{Dataset, Splits};
use wgnn_engine::error::{Error, Result};

type Zip = zip::ZipArchive<std::fs::File>;

/// Largest array read into memory from an archive (larger sets go through the packed cache).
const MAX_ARRAY: u64 = 8 << 30;

/// The bytes of `name.npy` in the archive: its header, then at most the data its header
/// declares. Bytes past those are never decompressed, so an entry that inflates to far more than
/// its shape (a deflate bomb) costs no memory.
fn entry(zip: &mut Zip, path: &Path, name: &str) -> Result<Vec<u8>> {
    let mut f = open_entry(zip, path, name)?;
    let mut bytes = read_header(&mut f, path, name)?;
    let npy = parse_npy(&bytes, path, name)?;
    // A type this reader does not know is refused after, with its own message.
    let width = item_size(&npy.descr).unwrap_or(1);
    let Some(declared) = elements(&npy.shape).and_then(|n| n.checked_mul(width)) else {
        return Err(Error::file(
            path,
            format!(
                "array `{name}` has shape {:?}; that many bytes cannot be addressed",
                npy.shape
            ),
        ));
    };
    let declared = declared as u64;
    if declared > MAX_ARRAY {
        return Err(Error::file(
            path,
            format!(
                "array `{name}` declares {declared} bytes (shape {:?}), more than the {} GiB read into memory",
                npy.shape,
                MAX_ARRAY >> 30
            ),
        ));
    }
    (&mut f)
        .take(declared)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::file(path, format!("array `{name}` cannot be read: {e}")))?;
    Ok(bytes)
}

/// Bytes per element of a `.npy` type string (`|u1`: 1, `<i8`: 8), from its trailing digits.
fn item_size(descr: &str) -> Option<usize> {
    let digits = descr.trim_start_matches(|c: char| !c.is_ascii_digit());
    digits.parse().ok()
}

fn open_entry<'a>(
    zip: &'a mut Zip,
    path: &Path,
    name: &str,
) -> Result<zip::read::ZipFile<'a, std::fs::File>> {
    zip.by_name(&format!("{name}.npy"))
        .map_err(|_| Error::file(path, format!("has no array `{name}` ({name}.npy)")))
}

/// A parsed `.npy` array: its type string (`|u1`, `<i8`), shape and data bytes.
struct Npy<'a> {
    descr: String,
    shape: Vec<usize>,
    data: &'a [u8],
}

/// The value after `'key':` in a header dict, up to the next top-level comma.
fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = dict.find(&format!("'{key}':"))? + key.len() + 3;
    let rest = dict[at..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// Parses the `.npy` format (versions 1 to 3): magic, version, header length, a Python dict
/// literal with `descr`, `fortran_order` and `shape`, then the data in C order.
fn parse_npy<'a>(bytes: &'a [u8], path: &Path, name: &str) -> Result<Npy<'a>> {
    let bad = |why: &str| {
        Error::file(
            path,
            format!("array `{name}` is not a readable .npy: {why}"),
        )
    };
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| bad("no magic"))?;
    let (len, at) = match rest.first() {
        Some(1) if rest.len() >= 4 => (u16::from_le_bytes([rest[2], rest[3]]) as usize, 4),
        Some(2 | 3) if rest.len() >= 6 => (
            u32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize,
            6,
        ),
        _ => return Err(bad("an unknown version")),
    };
    let header = rest
        .get(at..at + len)
        .ok_or_else(|| bad("a truncated header"))?;
    let dict = std::str::from_utf8(header).map_err(|_| bad("a header that is not text"))?;
    let descr = field(dict, "descr")
        .ok_or_else(|| bad("no descr"))?
        .trim_matches(['\'', '"']);
    if field(dict, "fortran_order") != Some("False") {
        return Err(Error::file(
            path,
            format!("array `{name}` is in Fortran order"),
        ));
    }
    let shape = field(dict, "shape").ok_or_else(|| bad("no shape"))?;
    let shape = shape
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| bad("a shape that is not numbers"))
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok(Npy {
        descr: descr.to_string(),
        shape,
        data: &rest[at + len..],
    })
}

/// Images must be uint8 `[n, h, w]` or `[n, h, w, c]`.
fn check_images(npy: &Npy<'_>, path: &Path, name: &str) -> Result<()> {
    if npy.descr != "|u1" {
        return Err(Error::file(
            path,
            format!(
                "array `{name}` holds {}; images must be uint8 (|u1)",
                npy.descr
            ),
        ));
    }
    let shape = &npy.shape;
    let bad = |why: &str| {
        Err(Error::file(
            path,
            format!("array `{name}` has shape {shape:?}; {why}"),
        ))
    };
    if !(3..=4).contains(&shape.len()) {
        return bad("images must be [n, h, w] or [n, h, w, c]");
    }
    if shape[1] == 0 || shape[2] == 0 {
        return bad("its images have no pixels");
    }
    if !matches!(shape.get(3), None | Some(1 | 3)) {
        return bad("images must have 1 channel (grayscale) or 3 (RGB)");
    }
    if elements(shape).is_none() {
        return bad("that many bytes cannot be addressed");
    }
    Ok(())
}

/// The elements of `shape`, or None when the product overflows.
fn elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

fn fewer(path: &Path, name: &str, n: usize) -> Error {
    Error::file(
        path,
        format!("array `{name}` holds fewer than its {n} bytes"),
    )
}

fn images(zip: &mut Zip, path: &Path, name: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = entry(zip, path, name)?;
    let npy = parse_npy(&bytes, path, name)?;
    check_images(&npy, path, name)?;
    let n = elements(&npy.shape).unwrap_or(usize::MAX);
    let data = npy.data.get(..n).ok_or_else(|| fewer(path, name, n))?;
    Ok((npy.shape, data.to_vec()))
}

/// The `.npy` header at the start of `r` (which is left at the first data byte): the bytes up to
/// the data, read without the data.
fn read_header(r: &mut dyn Read, path: &Path, name: &str) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    let cannot =
        |e: std::io::Error| Error::file(path, format!("array `{name}` cannot be read: {e}"));
    r.take(12).read_to_end(&mut head).map_err(cannot)?;
    // Magic (6), version (2), then the dict's length: 2 bytes in version 1, 4 after.
    let (len, at) = match head.get(6) {
        Some(1) if head.len() >= 10 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
        Some(2 | 3) if head.len() >= 12 => (
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
            12,
        ),
        _ => return Ok(head),
    };
    let more = (at + len).saturating_sub(head.len());
    r.take(more as u64).read_to_end(&mut head).map_err(cannot)?;
    Ok(head)
}

/// The shape of the images array `name`, from its header alone.
fn image_shape(zip: &mut Zip, path: &Path, name: &str) -> Result<Vec<usize>> {
    let mut f = open_entry(zip, path, name)?;
    let head = read_header(&mut f, path, name)?;
    let npy = parse_npy(&head, path, name)?;
    check_images(&npy, path, name)?;
    Ok(npy.shape)
}

/// Copies the data of the images array `name` (of `shape`) to `out` a chunk at a time.
fn copy_images(
    zip: &mut Zip,
    path: &Path,
    name: &str,
    shape: &[usize],
    out: &mut dyn Write,
) -> Result<()> {
    let mut f = open_entry(zip, path, name)?;
    read_header(&mut f, path, name)?;
    let n = elements(shape).unwrap_or(usize::MAX);
    let copied = std::io::copy(&mut f.take(n as u64), out)
        .map_err(|e| Error::file(path, format!("array `{name}` cannot be copied: {e}")))?;
    if copied < n as u64 {
        return Err(fewer(path, name, n));
    }
    Ok(())
}

/// One integer of `width` bytes, little-endian unless `big`, signed or not.
fn int_at(b: &[u8], big: bool, signed: bool) -> i64 {
    let mut v: u64 = 0;
    for (i, &x) in b.iter().enumerate() {
        let shift = 8 * if big { b.len() - 1 - i } else { i };
        v |= u64::from(x) << shift;
    }
    let bits = 8 * b.len() as u32;
    if signed && bits < 64 && v >> (bits - 1) & 1 == 1 {
        (v as i64) - (1i64 << bits)
    } else {
        v as i64
    }
}

fn labels(zip: &mut Zip, path: &Path, name: &str) -> Result<Vec<u8>> {
    let bytes = entry(zip, path, name)?;
    let npy = parse_npy(&bytes, path, name)?;
    let shape = &npy.shape;
    if shape.is_empty() || shape.len() > 2 || shape.get(1).is_some_and(|&d| d != 1) {
        return Err(Error::file(
            path,
            format!("array `{name}` has shape {shape:?}; labels must be [n] or [n, 1]"),
        ));
    }
    let d = npy.descr.as_bytes();
    let (big, kind, width) = match d {
        [e @ (b'<' | b'>' | b'|' | b'='), k @ (b'i' | b'u'), w @ (b'1' | b'2' | b'4' | b'8')] => {
            (*e == b'>', *k, usize::from(w - b'0'))
        }
        _ => {
            return Err(Error::file(
                path,
                format!(
                    "array `{name}` holds {}; labels must be integers",
                    npy.descr
                ),
            ))
        }
    };
    let n = shape[0];
    let data = npy.data.get(..n.saturating_mul(width)).ok_or_else(|| {
        Error::file(
            path,
            format!("array `{name}` holds fewer than its {n} labels"),
        )
    })?;
    data.chunks_exact(width)
        .enumerate()
        .map(|(i, b)| {
            let l = int_at(b, big, kind == b'i');
            u8::try_from(l).map_err(|_| {
                Error::file(
                    path,
                    format!("label {l} at index {i} of `{name}` is not a class number 0..=255"),
                )
            })
        })
        .collect()
}

/// A set of `shape` (`images` when read) and its labels, whose counts must agree.
fn dataset(
    shape: &[usize],
    images: Vec<u8>,
    lb: Vec<u8>,
    path: &Path,
    split: &str,
) -> Result<Dataset> {
    if lb.len() != shape[0] {
        return Err(Error::file(
            path,
            format!(
                "`x_{split}` holds {} images but `y_{split}` {} labels",
                shape[0],
                lb.len()
            ),
        ));
    }
    Ok(Dataset {
        images: images.into(),
        labels: lb,
        n: shape[0],
        height: shape[1],
        width: shape[2],
        channels: shape.get(3).copied().unwrap_or(1),
    })
}

fn set(zip: &mut Zip, path: &Path, split: &str) -> Result<Dataset> {
    let (shape, px) = images(zip, path, &format!("x_{split}"))?;
    let lb = labels(zip, path, &format!("y_{split}"))?;
    dataset(&shape, px, lb, path, split)
}

fn open(path: &Path) -> Result<Zip> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    zip::ZipArchive::new(file)
        .map_err(|e| Error::file(path, format!("not a readable .npz (zip) archive: {e}")))
}

/// Loads `path` (an `.npz` file).
pub fn load(path: &Path, class_names: Option<Vec<String>>) -> Result<Splits> {
    let mut zip = open(path)?;
    let train = set(&mut zip, path, "train")?;
    let test = set(&mut zip, path, "test")?;
    Splits::new(
        train,
        test,
        class_names,
        [path.to_path_buf(), path.to_path_buf()],
    )
}

/// Converts `path` into the pack `out` for `key`, streaming: the labels are read whole (they
/// are small), the images are copied out of the archive a chunk at a time, after their headers
/// have been checked against the labels.
pub fn pack(
    path: &Path,
    class_names: Option<Vec<String>>,
    out: &Path,
    key: &str,
    progress: &mut dyn Progress,
) -> Result<()> {
    let mut zip = open(path)?;
    let mut shapes = Vec::new();
    let mut sets = Vec::new();
    for split in ["train", "test"] {
        let shape = image_shape(&mut zip, path, &format!("x_{split}"))?;
        let lb = labels(&mut zip, path, &format!("y_{split}"))?;
        // Without its pixels: the shapes, counts and labels are checked as a read checks them.
        sets.push(dataset(&shape, Vec::new(), lb, path, split)?);
        shapes.push(shape);
    }
    let test = sets.pop().unwrap_or_default();
    let train = sets.pop().unwrap_or_default();
    let splits = Splits::new(
        train,
        test,
        class_names,
        [path.to_path_buf(), path.to_path_buf()],
    )?;
    packed::write((out, key), path, &Meta::of(&splits, &[]), progress, |w| {
        copy_images(&mut zip, path, "x_train", &shapes[0], w)?;
        copy_images(&mut zip, path, "x_test", &shapes[1], w)
    })
}
