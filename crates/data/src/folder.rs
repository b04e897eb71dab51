//! Image folders as Keras' `image_dataset_from_directory` reads them: `DIR/train/<class>/*.png`
//! and `DIR/test/<class>/...`, or one `DIR/<class>/...` (no test set). Class names are the
//! folder names, sorted. Images are decoded once, in parallel, resized (bilinear) when asked,
//! and kept in a packed cache keyed by the file list, sizes and modification times, so a second
//! run starts at once and a changed folder is decoded again. Files are taken in turn from each
//! class (see `list`).

use std::path::Path;

use image::imageops::FilterType;
use image::DynamicImage;
use rayon::prelude::*;

use super::folder_scan::{class_dirs, list, split_root, Color, FolderOptions, Item};
use super::progress::{Progress, Quiet};
use super::{folder_cache, Dataset, Skipped, Splits};
use wgnn_engine::error::{Error, Result};

/// The image in the file at `path`, its format told by its bytes (a JPEG named `.png` is read,
/// as Keras reads it), not its name.
fn open(path: &Path) -> std::result::Result<DynamicImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    crate::image::decode(&bytes, crate::image::MAX_SIDE)
        .map_err(|why| format!("cannot be read as an image ({why})"))
}

/// The decoded shape: from the options, else from the first image that can be read (with
/// `skip_bad`, unreadable ones before it are skipped later, like any other).
fn target(items: &[Item], o: &FolderOptions) -> Result<([usize; 2], usize)> {
    let mut first = None;
    for it in items {
        match open(&it.path) {
            Ok(img) => {
                first = Some(img);
                break;
            }
            Err(_) if o.skip_bad => continue,
            Err(why) => return Err(Error::file(&it.path, why)),
        }
    }
    let Some(img) = first else {
        let dir = items.first().map_or(Path::new("."), |i| i.path.as_path());
        return Err(Error::file(
            dir,
            "none of the images can be read (all were skipped)",
        ));
    };
    let size = o
        .image_size
        .unwrap_or([img.height() as usize, img.width() as usize]);
    let grey = matches!(img.color().channel_count(), 1 | 2);
    let channels = match o.color {
        Some(Color::Grayscale) => 1,
        Some(Color::Rgb) => 3,
        None if grey => 1,
        None => 3,
    };
    Ok((size, channels))
}

/// One image decoded to `[h, w, c]` bytes.
fn decode(
    path: &Path,
    [h, w]: [usize; 2],
    c: usize,
    resize: bool,
) -> std::result::Result<Vec<u8>, String> {
    let img = open(path)?;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let img = if (ih, iw) == (h, w) {
        img
    } else if resize {
        img.resize_exact(w as u32, h as u32, FilterType::Triangle)
    } else {
        return Err(format!(
            "is {ih}x{iw} but the first image is {h}x{w}: the images must share one size unless a size to resize them to is given"
        ));
    };
    Ok(match c {
        1 => DynamicImage::ImageLuma8(img.to_luma8()).into_bytes(),
        _ => DynamicImage::ImageRgb8(img.to_rgb8()).into_bytes(),
    })
}

/// Decodes `items` in parallel into a set; a bad file fails the whole set unless skipped.
fn decode_all(
    items: &[Item],
    size: [usize; 2],
    c: usize,
    o: &FolderOptions,
    skipped: &mut Vec<Skipped>,
) -> Result<Dataset> {
    let resize = o.image_size.is_some();
    let decoded: Vec<_> = items
        .par_iter()
        .map(|it| decode(&it.path, size, c, resize))
        .collect();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (it, d) in items.iter().zip(decoded) {
        match d {
            Ok(px) => {
                images.extend(px);
                labels.push(it.class);
            }
            Err(why) if o.skip_bad => skipped.push((it.path.clone(), why)),
            Err(why) => return Err(Error::file(&it.path, why)),
        }
    }
    Ok(Dataset {
        n: labels.len(),
        images: images.into(),
        labels,
        height: size[0],
        width: size[1],
        channels: c,
    })
}

/// Loads the folder `dir`; the files skipped (with `skip_bad`) come back with their reasons.
pub fn load(dir: &Path, o: &FolderOptions) -> Result<(Splits, Vec<Skipped>)> {
    load_with(dir, o, &mut Quiet)
}

/// `load`, reporting the writing of a large cache to `progress`.
pub fn load_with(
    dir: &Path,
    o: &FolderOptions,
    progress: &mut dyn Progress,
) -> Result<(Splits, Vec<Skipped>)> {
    let train_root = split_root(dir);
    let names: Vec<String> = class_dirs(&train_root)?
        .iter()
        .map(|c| {
            c.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if names.len() > 256 {
        return Err(Error::file(
            dir,
            format!(
                "has {} class folders; at most 256 are supported",
                names.len()
            ),
        ));
    }
    let train_items = list(&train_root, &names)?;
    let test_root = dir.join("test");
    let test_items = match train_root != dir && test_root.is_dir() {
        true => list(&test_root, &names)?,
        false => Vec::new(),
    };
    if train_items.is_empty() {
        return Err(Error::file(
            &train_root,
            "holds no images (png, jpg, jpeg or bmp) in its class folders",
        ));
    }
    let (size, c) = target(&train_items, o)?;
    let files: Vec<(&Path, u8)> = train_items
        .iter()
        .chain(&test_items)
        .map(|i| (i.path.as_path(), i.class))
        .collect();
    let cached = o
        .cache_dir
        .as_ref()
        .map(|d| folder_cache::Entry::new(d, dir, &files, o, (size, c)));
    if let Some(hit) = cached.as_ref().and_then(folder_cache::Entry::read) {
        return Ok(hit);
    }
    let mut skipped = Vec::new();
    let train = decode_all(&train_items, size, c, o, &mut skipped)?;
    let test = decode_all(&test_items, size, c, o, &mut skipped)?;
    let read = finish(train, test, names, &train_root, &test_root, skipped)?;
    match &cached {
        // The decoded images are dropped for the mapped pack: memory stays flat while training.
        Some(entry) => entry.write(read, progress),
        None => Ok(read),
    }
}

fn finish(
    train: Dataset,
    test: Dataset,
    names: Vec<String>,
    train_root: &Path,
    test_root: &Path,
    skipped: Vec<Skipped>,
) -> Result<(Splits, Vec<Skipped>)> {
    let splits = Splits::new(
        train,
        test,
        Some(names),
        [train_root.to_path_buf(), test_root.to_path_buf()],
    )?;
    Ok((splits, skipped))
}
