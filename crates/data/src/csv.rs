//! Images as CSV rows, the layout of Kaggle's "Digit Recognizer": a header, then per row an
//! optional `label` column and one column per pixel (`pixel0..pixelN`, values 0-255) of a square
//! grayscale image. `train.csv` is labelled; `test.csv` usually is not, and its predictions are
//! written back as `ImageId,Label`.

use std::path::Path;

use super::{Dataset, Splits};
use wgnn_engine::error::{Error, Result};

/// A CSV file's images, with their labels when it has a `label` column.
pub struct CsvImages {
    pub set: Dataset,
    pub labelled: bool,
}

/// A cell without its surrounding spaces and quotes (`"label"`, as some tools write every cell).
fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(t)
        .trim()
}

fn cell(path: &Path, line: usize, col: usize, s: &str) -> Result<u8> {
    unquote(s).parse::<u8>().map_err(|_| {
        Error::file(
            path,
            format!(
                "line {line}, column {}: {:?} is not a value 0-255",
                col + 1,
                s.trim()
            ),
        )
    })
}

/// The side of a square image of `pixels` pixels.
fn side(path: &Path, pixels: usize) -> Result<usize> {
    let s = (pixels as f64).sqrt().round() as usize;
    if s == 0 || s * s != pixels {
        return Err(Error::file(
            path,
            format!("{pixels} pixel columns do not make a square image"),
        ));
    }
    Ok(s)
}

/// How the first line reads: a header (with a `label` column or not), or a first row of numbers
/// (no header: labelled when the columns are a square plus one, as Kaggle's train.csv).
fn layout(path: &Path, first: &str) -> Result<(bool, bool)> {
    let cols: Vec<&str> = first.split(',').map(unquote).collect();
    let numbers = cols.iter().all(|c| c.parse::<u8>().is_ok());
    if !numbers {
        let labelled = cols[0].eq_ignore_ascii_case("label");
        return Ok((true, labelled));
    }
    let square = |n: usize| (n as f64).sqrt().round().powi(2) as usize == n && n > 0;
    match (square(cols.len()), square(cols.len() - 1)) {
        (true, _) => Ok((false, false)),
        (false, true) => Ok((false, true)),
        _ => Err(Error::file(
            path,
            format!(
                "line 1 has {} numbers and no header: neither a square image nor a label and one",
                cols.len()
            ),
        )),
    }
}

/// Reads `path`. A header names the columns (a first `label` column, then the pixels); without
/// one, the column count tells whether the first is a label. A byte-order mark (as Excel
/// writes) and quoted cells are read.
pub fn read(path: &Path) -> Result<CsvImages> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let &(_, first) = lines.peek().ok_or_else(|| Error::file(path, "is empty"))?;
    let (header, labelled) = layout(path, first)?;
    let width = first.split(',').count();
    if header {
        lines.next();
    }
    let pixels = width - usize::from(labelled);
    let s = side(path, pixels)?;
    let cols = vec![""; width];
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (i, l) in lines {
        let row: Vec<&str> = l.split(',').collect();
        if row.len() != cols.len() {
            return Err(Error::file(
                path,
                format!(
                    "line {}: {} columns, but {} has {}",
                    i + 1,
                    row.len(),
                    if header { "the header" } else { "line 1" },
                    cols.len()
                ),
            ));
        }
        for (c, v) in row.iter().enumerate() {
            let v = cell(path, i + 1, c, v)?;
            if labelled && c == 0 {
                labels.push(v);
            } else {
                images.push(v);
            }
        }
    }
    let n = images.len() / pixels;
    if n == 0 {
        return Err(Error::file(path, "has a header but no rows of pixels"));
    }
    if !labelled {
        labels = vec![0; n];
    }
    Ok(CsvImages {
        set: Dataset {
            images: images.into(),
            labels,
            n,
            height: s,
            width: s,
            channels: 1,
        },
        labelled,
    })
}

/// Whether `dir` holds a `train.csv`.
pub fn is_csv_dir(dir: &Path) -> bool {
    dir.join("train.csv").is_file()
}

/// Loads `dir/train.csv` and, when it is labelled, `dir/test.csv` as the test set.
pub fn load_dir(dir: &Path, class_names: Option<Vec<String>>) -> Result<Splits> {
    let train_path = dir.join("train.csv");
    let train = read(&train_path)?;
    if !train.labelled {
        return Err(Error::file(
            &train_path,
            "has no `label` column (its header must start with `label`)",
        ));
    }
    let test_path = dir.join("test.csv");
    let test = match test_path.is_file() {
        true => Some(read(&test_path)?).filter(|t| t.labelled),
        false => None,
    };
    let test = test.map(|t| t.set).unwrap_or_default();
    Splits::new(train.set, test, class_names, [train_path, test_path])
}

/// Writes Kaggle's submission: `ImageId,Label`, ids from 1.
pub fn write_submission(path: &Path, labels: &[usize]) -> Result<()> {
    let mut out = String::from("ImageId,Label\n");
    for (i, l) in labels.iter().enumerate() {
        out.push_str(&format!("{},{l}\n", i + 1));
    }
    wgnn_engine::util::fs::write_atomic(path, out.as_bytes())
}
