//! NumPy `.npz` archives as `keras.datasets` keeps them (`mnist.npz`): the arrays `x_train`,
//! `y_train`, `x_test` and `y_test`; images uint8 `[n, h, w]` or `[n, h, w, c]`, labels any
//! integer type, `[n]` or `[n, 1]`. The archive is read with the `zip` crate and each `.npy`
//! header here: a crate for it (npyz) pulls in a parser whose build compiles C for the target,
//! which the macOS and Windows builds cannot do on this project's Linux CI.

use std::io::Read;
use std::path::Path;

use super::{Dataset, Splits};
use crate::error::{Error, Result};

/// Largest array read from an archive (guards against a zip bomb).
const MAX_ARRAY: u64 = 8 << 30;

/// The bytes of `name.npy` in the archive.
fn entry(zip: &mut zip::ZipArchive<std::fs::File>, path: &Path, name: &str) -> Result<Vec<u8>> {
    let mut f = zip
        .by_name(&format!("{name}.npy"))
        .map_err(|_| Error::file(path, format!("has no array `{name}` ({name}.npy)")))?;
    let mut bytes = Vec::new();
    (&mut f)
        .take(MAX_ARRAY)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::file(path, format!("array `{name}` cannot be read: {e}")))?;
    Ok(bytes)
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

fn images(
    zip: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
    name: &str,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = entry(zip, path, name)?;
    let npy = parse_npy(&bytes, path, name)?;
    if npy.descr != "|u1" {
        return Err(Error::file(
            path,
            format!(
                "array `{name}` holds {}; images must be uint8 (|u1)",
                npy.descr
            ),
        ));
    }
    if !(3..=4).contains(&npy.shape.len()) {
        return Err(Error::file(
            path,
            format!(
                "array `{name}` has shape {:?}; images must be [n, h, w] or [n, h, w, c]",
                npy.shape
            ),
        ));
    }
    let n: usize = npy.shape.iter().product();
    let data = npy.data.get(..n).ok_or_else(|| {
        Error::file(
            path,
            format!("array `{name}` holds fewer than its {n} bytes"),
        )
    })?;
    Ok((npy.shape, data.to_vec()))
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

fn labels(zip: &mut zip::ZipArchive<std::fs::File>, path: &Path, name: &str) -> Result<Vec<u8>> {
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
    let data = npy.data.get(..n * width).ok_or_else(|| {
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

fn set(zip: &mut zip::ZipArchive<std::fs::File>, path: &Path, split: &str) -> Result<Dataset> {
    let (shape, px) = images(zip, path, &format!("x_{split}"))?;
    let lb = labels(zip, path, &format!("y_{split}"))?;
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
        images: px.into(),
        labels: lb,
        n: shape[0],
        height: shape[1],
        width: shape[2],
        channels: shape.get(3).copied().unwrap_or(1),
    })
}

/// Loads `path` (an `.npz` file).
pub fn load(path: &Path, class_names: Option<Vec<String>>) -> Result<Splits> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::file(path, format!("not a readable .npz (zip) archive: {e}")))?;
    let train = set(&mut zip, path, "train")?;
    let test = set(&mut zip, path, "test")?;
    Splits::new(
        train,
        test,
        class_names,
        [path.to_path_buf(), path.to_path_buf()],
    )
}
