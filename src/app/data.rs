//! `--dataset` and `--data-dir` on every command that reads data, where they are looked for
//! (from the environment: `WGNN_DATA`, the per-user data folder, Keras' cache), downloading what
//! is missing (`WGNN_MIRROR`), and `wgnn data list|fetch|path`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::choice::choice;
use crate::data::catalog::{self, Info, DATASETS};
use crate::data::download::{self, Source};
use crate::data::folder_scan::{Color, FolderOptions};
use crate::data::locate::{Located, Origin, Places};
use crate::data::progress::Progress;
use crate::data::Skipped;
use crate::data::{read_path_with, Format, ReadOptions, Splits};
use crate::error::{Error, Result};
use crate::train::DataId;

/// Which data a command reads.
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct DataArgs {
    /// A dataset by name: mnist, fashion-mnist, kmnist, cifar10, cifar100 or cifar100-coarse;
    /// found on disk or downloaded once [default: mnist]
    #[arg(long, value_name = "NAME", value_parser = parse_dataset)]
    pub dataset: Option<String>,
    /// The data's folder (or .npz file), in any format wgnn reads: IDX, npz, CIFAR batches or
    /// train.csv [default: where --dataset is found]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Resize an image folder's images to HxW (bilinear) [default: the first image's size]
    #[arg(long, value_name = "HxW", value_parser = parse_size)]
    pub image_size: Option<[usize; 2]>,
    /// Read an image folder as grayscale or rgb [default: what the first image is]
    #[arg(long, value_parser = choice::<Color>())]
    pub color: Option<Color>,
    /// Leave out unreadable images of an image folder (each is listed) instead of failing
    #[arg(long)]
    pub skip_bad_images: bool,
    /// The number of classes, for labels numbered 0..N-1 of which some have no images (IDX,
    /// .npz and CSV data) [default: the largest training label + 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=256))]
    pub classes: Option<u16>,
}

fn parse_size(s: &str) -> std::result::Result<[usize; 2], String> {
    let bad = || format!("\"{s}\" is not a size HxW such as 32x32");
    let (h, w) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    if h == 0 || w == 0 || h > 4096 || w > 4096 {
        return Err(format!("each side of {s} must be 1 to 4096 pixels"));
    }
    Ok([h, w])
}

/// Checks a `--dataset` value against the catalog (clap's value parser).
pub fn parse_dataset(s: &str) -> std::result::Result<String, String> {
    catalog::find(s)
        .map(|i| i.name.to_string())
        .ok_or_else(|| format!("unknown dataset \"{s}\" (known: {})", catalog::names()))
}

/// Data loaded, with where it came from.
pub struct Loaded {
    pub splits: Splits,
    /// The folder or file read.
    pub path: PathBuf,
    /// The dataset's name, when it was asked for by name (or by default).
    pub dataset: Option<&'static str>,
}

impl DataArgs {
    /// The data a saved run was trained on: its dataset by name, read from where it was found
    /// and as it was read.
    pub fn saved(id: &DataId) -> DataArgs {
        let folder = id.folder.clone().unwrap_or_default();
        DataArgs {
            dataset: id.dataset.clone(),
            data_dir: (!id.dir.is_empty()).then(|| PathBuf::from(&id.dir)),
            image_size: folder.image_size,
            color: folder.color,
            skip_bad_images: folder.skip_bad,
            classes: id.classes,
        }
    }

    /// The flags given, as they were typed.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            (self.dataset.is_some(), "--dataset"),
            (self.data_dir.is_some(), "--data-dir"),
            (self.image_size.is_some(), "--image-size"),
            (self.color.is_some(), "--color"),
            (self.skip_bad_images, "--skip-bad-images"),
            (self.classes.is_some(), "--classes"),
        ];
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|&(_, f)| f)
            .collect()
    }

    /// How these flags read an image folder (without a cache folder).
    pub fn folder(&self) -> FolderOptions {
        FolderOptions {
            image_size: self.image_size,
            color: self.color,
            skip_bad: self.skip_bad_images,
            cache_dir: None,
        }
    }

    /// The named dataset (mnist when neither flag is given); none for a bare `--data-dir`.
    pub fn info(&self) -> Option<&'static Info> {
        match (&self.dataset, &self.data_dir) {
            (Some(n), _) => catalog::find(n),
            (None, Some(_)) => None,
            (None, None) => Some(&DATASETS[0]),
        }
    }

    /// The data a saved run reads again (to resume, `eval`, `predict --index`): its own when no
    /// flag names other data, read as it read its image folder where the flags leave that out
    /// (its model takes images of that size and colour). `train::resume` refuses reading flags
    /// that differ from the run's.
    pub fn or_saved(&self, id: &DataId) -> DataArgs {
        let saved = DataArgs::saved(id);
        let mut args = match self.dataset.is_none() && self.data_dir.is_none() {
            true => saved.clone(),
            false => self.clone(),
        };
        args.image_size = self.image_size.or(saved.image_size);
        args.color = self.color.or(saved.color);
        args.skip_bad_images = self.skip_bad_images || saved.skip_bad_images;
        args.classes = self.classes.or(saved.classes);
        args
    }

    /// Finds the data, downloading a named dataset that is nowhere on disk, and loads it through
    /// the packed cache in wgnn's cache folder (converted on the first read, mapped after, and
    /// guarded against another program truncating the pack: `mapped::check` says).
    pub fn load(&self) -> Result<Loaded> {
        let loaded = self.load_unguarded()?;
        if let Some(n) = self.classes {
            stated_classes(&loaded, n)?;
        }
        if let Some(dir) = super::device::cache_dir().map(|d| d.join("data")) {
            let s = &loaded.splits;
            for images in [&s.train.images, &s.test.images] {
                super::mapped::guard(images, &dir);
            }
        }
        Ok(loaded)
    }

    fn load_unguarded(&self) -> Result<Loaded> {
        let places = places(self.data_dir.clone());
        let cache_dir = super::device::cache_dir().map(|d| d.join("data"));
        let mut o = ReadOptions {
            folder: self.folder(),
            cache_dir: cache_dir.clone(),
            ..ReadOptions::default()
        };
        let hint = |e| with_hint(e, cache_dir.as_deref());
        let Some(info) = self.info() else {
            o.class_names = self
                .classes
                .map(|n| (0..n).map(|c| c.to_string()).collect());
            let dir = self.data_dir.clone().unwrap_or_default();
            let read = read_path_with(&dir, &o, &mut Bar::default()).map_err(hint)?;
            return Ok(loaded(read, dir, None));
        };
        (o.class_names, o.coarse) = (info.names(), info.coarse);
        let known = o.class_names.as_ref().map_or(0, Vec::len);
        if let Some(n) = self.classes.filter(|&n| usize::from(n) != known) {
            return Err(Error::msg(format!(
                "--classes {n} does not fit {}, which has {known} classes",
                info.name
            )));
        }
        let located = match places.locate(info) {
            Some(l) => l,
            None if self.data_dir.is_some() => {
                let dir = self.data_dir.clone().unwrap_or_default();
                let read = read_path_with(&dir, &o, &mut Bar::default()).map_err(hint)?;
                return Ok(loaded(read, dir, Some(info.name)));
            }
            None => fetch(info, &places)?,
        };
        let path = located.format.path().to_path_buf();
        let read = located.format.read_with(&o, &mut Bar::default());
        Ok(loaded(read.map_err(hint)?, path, Some(info.name)))
    }
}

/// A `--color` value as it is typed.
pub fn color_name(c: Color) -> &'static str {
    match c {
        Color::Grayscale => "grayscale",
        Color::Rgb => "rgb",
    }
}

/// A folder's error with the flag that would get past it; the cache folder's with the variable
/// that moves it.
fn with_hint(e: Error, cache_dir: Option<&Path>) -> Error {
    if let (Error::File { path, msg }, Some(dir)) = (&e, cache_dir) {
        if Path::new(path) == dir {
            return Error::file(
                dir,
                format!("{msg} (WGNN_CACHE_DIR sets wgnn's cache folder; the packed data goes in its `data` folder)"),
            );
        }
    }
    let m = e.to_string();
    if m.contains("the labels must number the classes") {
        Error::msg(format!(
            "{m}; if the data has classes without images, --classes N states their number"
        ))
    } else if m.contains("cannot be read as an image") {
        Error::msg(format!("{m} (--skip-bad-images leaves such files out)"))
    } else if m.contains("the images must share one size") {
        Error::msg(format!("{m} (--image-size HxW resizes them all)"))
    } else {
        e
    }
}

/// The loaded data, after listing the files an image folder skipped.
fn loaded(
    (splits, skipped): (Splits, Vec<Skipped>),
    path: PathBuf,
    dataset: Option<&'static str>,
) -> Loaded {
    for (p, why) in &skipped {
        eprintln!("Skipped {}: {why}", p.display());
    }
    if !skipped.is_empty() {
        eprintln!("Skipped {} unreadable images in all", skipped.len());
    }
    Loaded {
        splits,
        path,
        dataset,
    }
}

/// Checks `--classes N` against the data read, and says which classes have no training image.
fn stated_classes(loaded: &Loaded, n: u16) -> Result<()> {
    let s = &loaded.splits;
    if s.class_names.len() != usize::from(n) {
        return Err(Error::file(
            &loaded.path,
            format!(
                "names {} classes of its own, so --classes {n} does not apply",
                s.class_names.len()
            ),
        ));
    }
    let mut seen = vec![false; usize::from(n)];
    for &l in &s.train.labels {
        seen[usize::from(l)] = true;
    }
    let empty: Vec<String> = (0..seen.len())
        .filter(|&c| !seen[c])
        .map(|c| c.to_string())
        .collect();
    if !empty.is_empty() {
        eprintln!(
            "Note: {} of the {n} classes have no training images: {}",
            empty.len(),
            empty.join(", ")
        );
    }
    Ok(())
}

/// The places to search, from `--data-dir` and the environment.
pub fn places(data_dir: Option<PathBuf>) -> Places {
    let env_dir = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let keras = env_dir("KERAS_HOME")
        .or_else(|| dirs::home_dir().map(|h| h.join(".keras")))
        .map(|k| k.join("datasets"));
    Places {
        data_dir,
        wgnn_data: env_dir("WGNN_DATA"),
        working: std::env::current_dir().ok().map(|d| d.join("data")),
        user: dirs::data_dir().map(|d| d.join("wgnn")),
        keras,
    }
}

/// The source of downloads: `WGNN_MIRROR` when set.
pub fn source() -> Source {
    Source {
        mirror: std::env::var("WGNN_MIRROR").ok().filter(|m| !m.is_empty()),
        ..Source::default()
    }
}

/// Downloads `info` into the per-user folder and finds it there.
fn fetch(info: &Info, places: &Places) -> Result<Located> {
    let dest = places.download_dir(info).ok_or_else(|| {
        Error::msg(format!(
            "dataset {} is not on disk, and there is no per-user data folder to download it to (no home folder); give --data-dir",
            info.name
        ))
    })?;
    eprintln!(
        "Downloading {} ({}) into {}",
        info.name,
        info.title,
        dest.display()
    );
    download::fetch(info, &dest, &source(), &mut Bar::default())?;
    Format::detect(&dest)
        .map(|format| Located {
            format,
            origin: Origin::UserDir,
        })
        .ok_or_else(|| Error::file(&dest, "holds no data wgnn reads after the download"))
}

/// A download's progress bar on stderr (size, rate, time left); one line per file when stderr
/// is not a terminal.
#[derive(Default)]
struct Bar {
    bar: Option<ProgressBar>,
    name: String,
}

impl Progress for Bar {
    fn begin(&mut self, file: &str, total: Option<u64>, done: u64) {
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(s) = style {
            bar.set_style(s);
        }
        bar.set_message(file.to_string());
        bar.set_position(done);
        self.name = file.to_string();
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn end(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
            if b.is_hidden() {
                eprintln!("  {}: {} bytes", self.name, b.position());
            } else {
                eprintln!("  {} {}", self.name, indicatif::HumanBytes(b.position()));
            }
        }
    }
}

/// `wgnn data ...`
#[derive(Subcommand, Clone, Debug)]
pub enum DataCommand {
    /// Every dataset wgnn knows: classes, image shape, sizes, and where it is on disk
    List,
    /// Download datasets ahead of time (skipped where already on disk)
    Fetch {
        #[arg(required = true, value_parser = parse_dataset)]
        names: Vec<String>,
    },
    /// Print the folder (or file) a dataset is read from
    Path {
        #[arg(value_parser = parse_dataset)]
        name: String,
    },
}

/// Runs `wgnn data ...`.
pub fn command(c: &DataCommand) -> Result<()> {
    let places = places(None);
    match c {
        DataCommand::List => list(&places),
        DataCommand::Fetch { names } => {
            for n in names {
                let info = named(n)?;
                let found = match places.locate(info) {
                    Some(l) => l,
                    None => fetch(info, &places)?,
                };
                println!("{}: {}", info.name, found.format.path().display());
            }
            Ok(())
        }
        DataCommand::Path { name } => {
            let info = named(name)?;
            match places.locate(info) {
                Some(l) => {
                    println!("{}", l.format.path().display());
                    Ok(())
                }
                None => Err(Error::msg(format!(
                    "dataset {} is not on disk; `wgnn data fetch {}` downloads it to {}",
                    info.name,
                    info.name,
                    places
                        .download_dir(info)
                        .map_or("the per-user data folder".into(), |d| d
                            .display()
                            .to_string())
                ))),
            }
        }
    }
}

fn named(n: &str) -> Result<&'static Info> {
    catalog::find(n).ok_or_else(|| {
        Error::msg(format!(
            "unknown dataset \"{n}\" (known: {})",
            catalog::names()
        ))
    })
}

fn list(places: &Places) -> Result<()> {
    println!(
        "{:<16} {:>7} {:>8} {:>7} {:>6}  {:>9}  where",
        "dataset", "classes", "shape", "train", "test", "on disk"
    );
    for info in DATASETS {
        let [h, w, c] = info.shape;
        let (size, place) = match places.locate(info) {
            Some(l) => {
                let p = l.format.path();
                let size = indicatif::HumanBytes(disk_size(p)).to_string();
                (
                    size,
                    format!(
                        "{} ({}, {})",
                        p.display(),
                        l.origin.label(),
                        l.format.kind()
                    ),
                )
            }
            None => ("-".to_string(), "not downloaded".to_string()),
        };
        println!(
            "{:<16} {:>7} {:>8} {:>7} {:>6}  {:>9}  {place}",
            info.name,
            info.classes,
            format!("{h}x{w}x{c}"),
            info.train,
            info.test,
            size
        );
    }
    Ok(())
}

/// Bytes of a file, or of every file under a folder.
fn disk_size(p: &Path) -> u64 {
    if p.is_file() {
        return p.metadata().map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| disk_size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}
