//! What an image folder holds, before any image is decoded: whether a folder is one
//! (`train/<class>/` or `<class>/` holding images), its classes (the subfolders, sorted), its image
//! files (nested folders belong to their top class folder), and how the user asked to read it
//! ([`FolderOptions`]). Format detection reads this without the decoders or the cache.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use wgnn_engine::error::{Error, Result};
use wgnn_engine::util::text::Named;

/// Channels wanted: grayscale or RGB (default: what the first image is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Grayscale,
    Rgb,
}

impl Named for Color {
    const ALL: &'static [Self] = &[Self::Grayscale, Self::Rgb];
    fn name(self) -> &'static str {
        match self {
            Self::Grayscale => "grayscale",
            Self::Rgb => "rgb",
        }
    }
}

/// How to read a folder. A run keeps these (not the cache folder) to read its folder again as
/// it was trained on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FolderOptions {
    /// `[height, width]` to resize every image to (default: the first image's size, and any other
    /// size is an error).
    pub image_size: Option<[usize; 2]>,
    pub color: Option<Color>,
    /// Leave out unreadable images (each listed with its reason) instead of failing.
    pub skip_bad: bool,
    /// Where the packed caches go; none: decode every time.
    #[serde(skip)]
    pub cache_dir: Option<PathBuf>,
}

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// The class folders of `dir`: its subfolders, sorted by name.
pub(crate) fn class_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir() && !hidden(p))
        .collect())
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The folders a walk has entered, by their canonical path: a link to a folder already walked (a
/// loop such as `again -> .`, or a second way to the same folder) is not entered again, so every
/// image counts once and the walk ends.
#[derive(Default)]
struct Walked(HashSet<PathBuf>);

impl Walked {
    /// Whether `dir` is a folder not walked yet (and now walked).
    fn enter(&mut self, dir: &Path) -> bool {
        std::fs::canonicalize(dir).is_ok_and(|c| self.0.insert(c))
    }
}

/// Whether `p` names an image file: the extension, and a regular file (through a link), not a
/// FIFO, socket or device, which would block or feed the decoder forever.
fn is_image_file(p: &Path) -> bool {
    is_image(p) && std::fs::metadata(p).is_ok_and(|m| m.is_file())
}

/// Every image under `dir` (recursively: nested folders belong to their top class folder).
fn images_under(dir: &Path, walked: &mut Walked, out: &mut Vec<PathBuf>) -> Result<()> {
    if !walked.enter(dir) {
        return Ok(());
    }
    for p in sorted_entries(dir)? {
        if hidden(&p) {
            continue;
        }
        if p.is_dir() {
            images_under(&p, walked, out)?;
        } else if is_image_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Whether `dir` is an image folder: `train/<class>/` or `<class>/` holding images.
pub fn is_folder(dir: &Path) -> bool {
    let root = split_root(dir);
    let mut walked = Walked::default();
    class_dirs(&root).is_ok_and(|cs| cs.iter().any(|c| has_image(c, &mut walked)))
}

/// Whether any image lies under `dir`; stops at the first (detection must not list a whole
/// folder that `load` lists again).
fn has_image(dir: &Path, walked: &mut Walked) -> bool {
    if !walked.enter(dir) {
        return false;
    }
    sorted_entries(dir).is_ok_and(|es| {
        es.iter().filter(|p| !hidden(p)).any(|p| {
            if p.is_dir() {
                has_image(p, walked)
            } else {
                is_image_file(p)
            }
        })
    })
}

/// `DIR/train` when it exists, else `DIR`.
pub(crate) fn split_root(dir: &Path) -> PathBuf {
    let t = dir.join("train");
    if t.is_dir() {
        t
    } else {
        dir.to_path_buf()
    }
}

/// One file and its class.
pub(crate) struct Item {
    pub(crate) path: PathBuf,
    pub(crate) class: u8,
}

/// The files of a split, interleaved across the classes (the first file of each class in
/// `names` order, then the second, ...), so that a validation split taken from the end, as
/// Keras' `validation_split` takes it, holds every class rather than the last ones.
pub(crate) fn list(root: &Path, names: &[String]) -> Result<Vec<Item>> {
    let mut per_class: Vec<std::vec::IntoIter<Item>> = Vec::new();
    // One walk for every class: a folder linked into a second class belongs to the first.
    let mut walked = Walked::default();
    for c in class_dirs(root)? {
        let name = c
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(k) = names.iter().position(|n| *n == name) else {
            return Err(Error::file(
                &c,
                format!(
                    "class folder `{name}` is not one of the training classes ({})",
                    names.join(", ")
                ),
            ));
        };
        let mut files = Vec::new();
        images_under(&c, &mut walked, &mut files)?;
        let class = k as u8;
        let items: Vec<Item> = files.into_iter().map(|path| Item { path, class }).collect();
        per_class.push(items.into_iter());
    }
    let mut items = Vec::new();
    loop {
        let before = items.len();
        items.extend(per_class.iter_mut().filter_map(Iterator::next));
        if items.len() == before {
            return Ok(items);
        }
    }
}
