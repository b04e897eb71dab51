//! NumPy `.npz` archives as `keras.datasets` keeps them (`mnist.npz`): the arrays `x_train`,
//! `y_train`, `x_test` and `y_test`; images uint8 `[n, h, w]` or `[n, h, w, c]`, labels any
//! integer type, `[n]` or `[n, 1]`.

use std::io::Read;
use std::path::Path;

use npyz::{DType, NpyFile, Order};

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

/// An array's header checked: C order and a plain type; gives its shape and type string.
fn header(npy: &NpyFile<&[u8]>, path: &Path, name: &str) -> Result<(Vec<usize>, String)> {
    if npy.order() != Order::C {
        return Err(Error::file(
            path,
            format!("array `{name}` is in Fortran order"),
        ));
    }
    let DType::Plain(t) = npy.dtype() else {
        return Err(Error::file(
            path,
            format!("array `{name}` is a structured array"),
        ));
    };
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    Ok((shape, t.to_string()))
}

fn images(
    zip: &mut zip::ZipArchive<std::fs::File>,
    path: &Path,
    name: &str,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = entry(zip, path, name)?;
    let bad = |e: std::io::Error| Error::file(path, format!("array `{name}`: {e}"));
    let npy = NpyFile::new(&bytes[..]).map_err(bad)?;
    let (shape, t) = header(&npy, path, name)?;
    if t != "|u1" {
        return Err(Error::file(
            path,
            format!("array `{name}` holds {t}; images must be uint8 (|u1)"),
        ));
    }
    if !(3..=4).contains(&shape.len()) {
        return Err(Error::file(
            path,
            format!("array `{name}` has shape {shape:?}; images must be [n, h, w] or [n, h, w, c]"),
        ));
    }
    Ok((shape, npy.into_vec::<u8>().map_err(bad)?))
}

fn labels(zip: &mut zip::ZipArchive<std::fs::File>, path: &Path, name: &str) -> Result<Vec<u8>> {
    let bytes = entry(zip, path, name)?;
    let bad = |e: std::io::Error| Error::file(path, format!("array `{name}`: {e}"));
    let npy = NpyFile::new(&bytes[..]).map_err(bad)?;
    let (shape, t) = header(&npy, path, name)?;
    if shape.len() > 2 || shape.get(1).is_some_and(|&d| d != 1) {
        return Err(Error::file(
            path,
            format!("array `{name}` has shape {shape:?}; labels must be [n] or [n, 1]"),
        ));
    }
    let wide: Vec<i64> = match &t[1..] {
        "u1" => npy
            .into_vec::<u8>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i1" => npy
            .into_vec::<i8>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i2" => npy
            .into_vec::<i16>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "u2" => npy
            .into_vec::<u16>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i4" => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect(),
        "i8" => npy.into_vec::<i64>().map_err(bad)?,
        _ => {
            return Err(Error::file(
                path,
                format!("array `{name}` holds {t}; labels must be integers"),
            ))
        }
    };
    wide.iter()
        .enumerate()
        .map(|(i, &l)| {
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
        images: px,
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
