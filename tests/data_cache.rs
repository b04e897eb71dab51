//! The packed cache (`wgnn::data::packed`, `cache`): every format read through it equals the
//! same data read into memory (IDX gzip, raw and 4-dimensional, npz, CIFAR, CSV, an image folder);
//! a second read maps the pack; a changed source (size or modification time) is converted again
//! and its old pack removed; a damaged pack is ignored and rebuilt; mapped data outlives its
//! source being truncated; a full disk (a tmpfs) and a file size limit are clear errors that leave
//! nothing behind; and `wgnn train --backend cpu` runs from the cache.

mod common;
use common::formats::npy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use wgnn::data::{idx, Format, ReadOptions, Splits};

// ---------------------------------------------------------------- data written here

/// Image `i` of a set of `len`-byte images: its class (`i % 3`) decides the brightness of the
/// left or right half, so a model can learn it; the rest varies with `i` and the pixel.
fn image(i: usize, len: usize) -> (u8, Vec<u8>) {
    let class = (i % 3) as u8;
    let px = (0..len)
        .map(|p| {
            let part = (p * 3 / len) as u8;
            let base = if part == class { 200 } else { 30 };
            base + ((i * 7 + p * 13) % 40) as u8
        })
        .collect();
    (class, px)
}

fn set(n: usize, len: usize, first: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut labels, mut px) = (Vec::new(), Vec::new());
    for i in first..first + n {
        let (l, p) = image(i, len);
        labels.push(l);
        px.extend(p);
    }
    (labels, px)
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The four IDX files of `[h, w, c]` images (4-dimensional when `c` is 3), gzip or raw.
fn write_idx(dir: &Path, [h, w, c]: [usize; 3], (n_train, n_test): (usize, usize), gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let suffix = if gzip { ".gz" } else { "" };
    let put = |name: &str, bytes: Vec<u8>| {
        let bytes = if gzip { gz(&bytes) } else { bytes };
        std::fs::write(dir.join(format!("{name}{suffix}")), bytes).unwrap();
    };
    for (images, labels, n, first) in [
        (idx::TRAIN_IMAGES, idx::TRAIN_LABELS, n_train, 0),
        (idx::TEST_IMAGES, idx::TEST_LABELS, n_test, n_train),
    ] {
        let (lb, px) = set(n, h * w * c, first);
        let dims = match c {
            1 => vec![n, h, w],
            _ => vec![n, h, w, c],
        };
        put(
            images,
            [idx::image_header(&dims, px.len()).unwrap(), px].concat(),
        );
        put(labels, idx::encode_labels(&lb).unwrap());
    }
}

/// An `.npz` of RGB images, the training images stored and the rest deflated, labels int64.
fn write_npz(path: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (split, n, first) in [("train", 7, 0), ("test", 3, 7)] {
        let (lb, px) = set(n, 5 * 4 * 3, first);
        let method = match split {
            "train" => zip::CompressionMethod::Stored,
            _ => zip::CompressionMethod::Deflated,
        };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        z.start_file(format!("x_{split}.npy"), opts).unwrap();
        z.write_all(&npy("|u1", &[n, 5, 4, 3], &px)).unwrap();
        let wide: Vec<u8> = lb
            .iter()
            .flat_map(|&l| i64::from(l).to_le_bytes())
            .collect();
        z.start_file(format!("y_{split}.npy"), opts).unwrap();
        z.write_all(&npy("<i8", &[n], &wide)).unwrap();
    }
    z.finish().unwrap();
}

/// CIFAR-10 binary batches, two images each, and the class names.
fn write_cifar(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let names = common::formats::CIFAR10_BATCHES;
    for (b, name) in names.iter().enumerate() {
        let mut bytes = Vec::new();
        for k in 0..2 {
            let (l, px) = image(b * 2 + k, 3072);
            bytes.push(l);
            bytes.extend(px);
        }
        std::fs::write(dir.join(format!("{name}.bin")), bytes).unwrap();
    }
    std::fs::write(dir.join("batches.meta.txt"), "cat\ndog\nfrog\n").unwrap();
}

/// A labelled `train.csv` of 4x4 images.
fn write_csv(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let header: Vec<String> = (0..16).map(|p| format!("pixel{p}")).collect();
    let mut text = format!("label,{}\n", header.join(","));
    for i in 0..9 {
        let (l, px) = image(i, 16);
        let px: Vec<String> = px.iter().map(u8::to_string).collect();
        text += &format!("{l},{}\n", px.join(","));
    }
    std::fs::write(dir.join("train.csv"), text).unwrap();
}

/// An image folder: `train/` and `test/` of three classes of 6x5 RGB PNGs.
fn write_folder(dir: &Path) {
    for (split, n, first) in [("train", 9, 0), ("test", 3, 9)] {
        for i in first..first + n {
            let (l, px) = image(i, 6 * 5 * 3);
            let p = dir.join(format!("{split}/c{l}/{i}.png"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::RgbImage::from_raw(5, 6, px)
                .unwrap()
                .save(&p)
                .unwrap();
        }
    }
}

// ---------------------------------------------------------------- reading

fn memory(data: &Path) -> Splits {
    let f = Format::detect(data).expect("a format");
    f.read(&ReadOptions::default()).unwrap().0
}

fn cached(data: &Path, cache: &Path) -> wgnn::Result<Splits> {
    let o = ReadOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..ReadOptions::default()
    };
    Format::detect(data)
        .expect("a format")
        .read(&o)
        .map(|r| r.0)
}

/// Every file in `dir` but the conversions' lock files (empty, kept on purpose): its one pack,
/// and no temporary file beside it.
fn packs(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    all.retain(|p| p.extension().is_none_or(|e| e != "lock"));
    all.sort();
    all
}

fn the_pack(dir: &Path) -> PathBuf {
    let all = packs(dir);
    assert_eq!(all.len(), 1, "one pack and nothing else: {all:?}");
    assert!(all[0].extension().is_some_and(|e| e == "pack"), "{all:?}");
    all[0].clone()
}

#[test]
fn every_format_through_the_cache_equals_the_read_in_memory() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write_idx(&r.join("idx-gz"), [4, 3, 1], (11, 5), true);
    write_idx(&r.join("idx-raw"), [4, 3, 1], (11, 5), false);
    write_idx(&r.join("idx-rgb"), [4, 3, 3], (10, 4), false);
    write_npz(&r.join("set.npz"));
    write_cifar(&r.join("cifar-10-batches-bin"));
    write_csv(&r.join("csv"));
    write_folder(&r.join("folder"));
    for (name, want) in [
        ("idx-gz", "IDX"),
        ("idx-raw", "IDX"),
        ("idx-rgb", "IDX"),
        ("set.npz", "npz"),
        ("cifar-10-batches-bin", "CIFAR binary"),
        ("csv", "CSV"),
        ("folder", "image folder"),
    ] {
        let data = r.join(name);
        assert_eq!(Format::detect(&data).unwrap().kind(), want, "{name}");
        let cache = r.join(format!("cache-{name}"));
        let mem = memory(&data);
        assert!(!mem.train.is_empty(), "{name}");
        let first = cached(&data, &cache).unwrap();
        assert_eq!(first, mem, "{name}: converted");
        let pack = the_pack(&cache);
        let second = cached(&data, &cache).unwrap();
        assert_eq!(second, mem, "{name}: mapped");
        assert_eq!(the_pack(&cache), pack, "{name}: the same pack");
    }
    let rgb = memory(&r.join("idx-rgb"));
    assert_eq!(rgb.shape(), [4, 3, 3]);
    assert_eq!(rgb.train.image(2), &image(2, 36).1[..]);
}

/// Flips the first byte of the images in `pack` (found by their bytes), in place.
fn mark(pack: &Path, first_image: &[u8]) {
    let mut bytes = std::fs::read(pack).unwrap();
    let at = bytes
        .windows(first_image.len())
        .position(|w| w == first_image)
        .expect("the first image in the pack");
    bytes[at] ^= 0xff;
    std::fs::write(pack, bytes).unwrap();
}

#[test]
fn a_second_read_maps_the_pack_and_a_changed_source_is_converted_again() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [4, 3, 1], (11, 5), true);
    let first = image(0, 12).1;
    assert_eq!(cached(&data, &cache).unwrap().train.image(0), &first[..]);
    // The first read's mapping is gone: the pack is changed in place, which wgnn never does.
    mark(&the_pack(&cache), &first);
    let again = cached(&data, &cache).unwrap();
    assert_eq!(
        again.train.image(0)[0],
        first[0] ^ 0xff,
        "read from the pack"
    );
    drop(again);
    // The same bytes with another modification time: converted again.
    let labels = data.join(format!("{}.gz", idx::TEST_LABELS));
    let f = std::fs::File::options().write(true).open(&labels).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    drop(f);
    assert_eq!(cached(&data, &cache).unwrap(), memory(&data), "new mtime");
    the_pack(&cache);
    // A conversion killed halfway left its temporary file; one still running has its own.
    let name = the_pack(&cache)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let dead = cache.join(format!(".{name}.tmp.999999999.0"));
    let running = cache.join(format!(".{name}.tmp.{}.7", std::process::id()));
    for p in [&dead, &running] {
        std::fs::write(p, b"half").unwrap();
    }
    // More images (another size): converted again, the earlier pack and the dead process's
    // temporary file removed (Linux tells a dead process by its missing /proc entry).
    write_idx(&data, [4, 3, 1], (12, 5), true);
    let grown = cached(&data, &cache).unwrap();
    assert_eq!((grown.train.n, &grown), (12, &memory(&data)), "new size");
    assert!(!dead.exists() && running.exists());
    std::fs::remove_file(&running).unwrap();
    the_pack(&cache);
}

#[test]
fn packs_whose_source_is_gone_are_removed_at_the_next_conversion() {
    let d = tempfile::tempdir().unwrap();
    let (a, b, cache) = (
        d.path().join("a"),
        d.path().join("b"),
        d.path().join("cache"),
    );
    write_idx(&a, [4, 3, 1], (11, 5), false);
    write_idx(&b, [4, 3, 1], (9, 5), false);
    cached(&a, &cache).unwrap();
    cached(&b, &cache).unwrap();
    assert_eq!(packs(&cache).len(), 2);
    std::fs::write(cache.join("junk.pack"), b"not a pack").unwrap();
    std::fs::remove_dir_all(&b).unwrap();
    write_idx(&a, [4, 3, 1], (12, 5), false);
    assert_eq!(cached(&a, &cache).unwrap().train.n, 12);
    // `a`'s earlier pack, `b`'s (its folder is gone) and the junk are removed.
    the_pack(&cache);
}

/// A pack that a process maps holds a shared lock, which tidying respects: a conversion of the
/// source's new state leaves the mapped pack in place (its reader's bytes stay whole everywhere,
/// Windows included), and the first tidy after the reader lets go removes it.
#[test]
fn a_pack_in_use_is_left_by_tidying_until_its_reader_lets_go() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [4, 3, 1], (11, 5), false);
    let reader = cached(&data, &cache).unwrap();
    let read = memory_of(&reader);
    let old = the_pack(&cache);
    write_idx(&data, [4, 3, 1], (12, 5), false);
    assert_eq!(cached(&data, &cache).unwrap().train.n, 12);
    assert!(old.exists(), "a mapped pack was removed");
    assert_eq!(packs(&cache).len(), 2);
    assert_eq!(reader, read, "the reader's bytes changed");
    drop(reader);
    write_idx(&data, [4, 3, 1], (13, 5), false);
    assert_eq!(cached(&data, &cache).unwrap().train.n, 13);
    assert!(!old.exists());
    the_pack(&cache);
}

/// A copy of `s` in memory (to compare a mapped set with itself after the cache changed).
fn memory_of(s: &Splits) -> Splits {
    let copy = |d: &wgnn::data::Dataset| wgnn::data::Dataset {
        images: d.images.to_vec().into(),
        ..d.clone()
    };
    Splits {
        train: copy(&s.train),
        test: copy(&s.test),
        ..s.clone()
    }
}

#[test]
fn a_damaged_pack_is_ignored_and_rebuilt() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [4, 3, 1], (11, 5), false);
    let want = memory(&data);
    cached(&data, &cache).unwrap();
    let pack = the_pack(&cache);
    let whole = std::fs::read(&pack).unwrap();
    let mut damages: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("half", whole[..whole.len() / 2].to_vec()),
        ("one byte short", whole[..whole.len() - 1].to_vec()),
        ("one byte more", [&whole[..], &[0]].concat()),
        ("the header alone", whole[..4096].to_vec()),
    ];
    // The magic, the key, and the training count (after the magic, the key and two shapes).
    let key_len = u64::from_le_bytes(whole[8..16].try_into().unwrap()) as usize;
    for (what, at) in [("magic", 0), ("key", 16), ("count", 16 + key_len + 48)] {
        let mut b = whole.clone();
        b[at] ^= 0x41;
        damages.push((what, b));
    }
    for (what, bytes) in damages {
        std::fs::write(&pack, &bytes).unwrap();
        let got = cached(&data, &cache).unwrap();
        assert_eq!(got, want, "{what}");
        assert_eq!(std::fs::read(the_pack(&cache)).unwrap(), whole, "{what}");
    }
}

#[test]
fn mapped_data_outlives_its_source_being_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [4, 3, 1], (11, 5), false);
    let want = memory(&data);
    let mapped = cached(&data, &cache).unwrap();
    // Another program cuts the source short while the data is in use: the pack is a copy, so
    // every byte still reads (a mapped source would fault with SIGBUS here).
    let images = data.join(idx::TRAIN_IMAGES);
    std::fs::File::options()
        .write(true)
        .open(&images)
        .unwrap()
        .set_len(10)
        .unwrap();
    assert_eq!(mapped, want);
    // The next read sees the truncated source, and says so.
    let e = cached(&data, &cache).unwrap_err().to_string();
    assert!(
        e.contains(idx::TRAIN_IMAGES) && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn idx_images_of_four_dimensions_need_one_or_three_channels() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x");
    let px = vec![7u8; 2 * 3 * 3 * 2];
    let bytes = [idx::image_header(&[2, 3, 3, 2], px.len()).unwrap(), px].concat();
    std::fs::write(&p, &bytes).unwrap();
    let e = idx::read_images(&p).unwrap_err().to_string();
    assert!(
        e.contains("2 channels") && e.contains("1 (grayscale) or 3 (RGB)"),
        "{e}"
    );
    std::fs::write(&p, idx::encode_labels(&[1, 2]).unwrap()).unwrap();
    let e = idx::read_images(&p).unwrap_err().to_string();
    assert!(e.contains("3 or 4 dimension(s)"), "{e}");
}

// ---------------------------------------------------------------- the binary

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--model",
        "tiny",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--backend",
        "cpu",
        "--out",
        out,
    ]
}

#[test]
fn train_on_the_cpu_backend_runs_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [12, 12, 1], (300, 60), true);
    let ds = data.display().to_string();
    let mut results = Vec::new();
    for run in ["converts", "maps"] {
        let out = d.path().join(run).display().to_string();
        let o = common::run::command(&train_args(&ds, &out))
            .env("WGNN_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let t = common::run::text(&o);
        assert!(o.status.success(), "{t}");
        the_pack(&cache.join("data"));
        let line = t
            .lines()
            .find(|l| l.starts_with("Test loss"))
            .map(String::from);
        results.push(line.unwrap_or_else(|| panic!("no test loss in: {t}")));
    }
    // The same seed on the same bytes: the mapped pack trains exactly as the first run did.
    assert_eq!(results[0], results[1]);
}

/// `wgnn train` on a 2.3 MB set with its cache in `cache`, run through `sh -c SCRIPT`, which
/// runs the binary as `"$@"`: its exit status and output.
fn train_through(script: &str, data: &Path, cache: &Path, out: &Path) -> (Option<i32>, String) {
    let (ds, out) = (data.display().to_string(), out.display().to_string());
    let mut args = vec![env!("CARGO_BIN_EXE_wgnn")];
    args.extend(train_args(&ds, &out));
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("WGNN_CACHE_DIR", cache)
        .output()
        .expect("sh runs");
    (o.status.code(), common::run::text(&o))
}

/// The message of a pack that did not fit: it names the folder and the bytes, as a sentence.
fn check_no_room(t: &str, folder: &Path) {
    let folder = folder.display().to_string();
    assert!(
        t.contains(&format!("{folder}: no room for the packed copy")),
        "{t}"
    );
    assert!(t.contains("MiB (") && t.contains(" bytes)"), "{t}");
    assert!(t.contains("WGNN_CACHE_DIR"), "{t}");
    assert!(!t.contains("panicked") && !t.contains("Os {"), "{t}");
}

#[test]
fn a_file_size_limit_is_a_clear_error_that_leaves_no_file() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [28, 28, 1], (3000, 10), false);
    // Writes past 64 blocks fail with EFBIG (the signal that would kill the process is ignored).
    let script = r#"trap "" XFSZ; ulimit -f 64 && exec "$@""#;
    let (code, t) = train_through(script, &data, &cache, &d.path().join("run"));
    assert_eq!(code, Some(1), "{t}");
    check_no_room(&t, &cache.join("data"));
    assert_eq!(packs(&cache.join("data")), Vec::<PathBuf>::new(), "{t}");
}

#[test]
fn a_full_disk_is_a_clear_error_that_leaves_no_file() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [28, 28, 1], (3000, 10), false);
    std::fs::create_dir_all(&cache).unwrap();
    // A 1 MiB tmpfs over the cache folder, in a mount namespace of its own (user namespaces let
    // this run without root); what is left in it is listed before the namespace goes.
    let script = r#"cache="$WGNN_CACHE_DIR"; mount -t tmpfs -o size=1m tmpfs "$cache" || exit 99
        "$@"; code=$?; echo "left: [$(ls -A "$cache/data" | tr '\n' ' ')]"; exit $code"#;
    let wrapped = format!(
        "exec unshare -rm sh -c '{}' sh \"$@\"",
        script.replace('\'', "'\\''")
    );
    let (code, t) = train_through(&wrapped, &data, &cache, &d.path().join("run"));
    assert_ne!(
        code,
        Some(99),
        "this test mounts a tmpfs in a user and mount namespace (`unshare -rm`), which this system refuses: {t}"
    );
    assert_eq!(code, Some(1), "{t}");
    check_no_room(&t, &cache.join("data"));
    assert!(t.contains("left: []"), "a file was left behind: {t}");
}

/// Counts the conversions that report their progress (packs of 64 MiB or more).
struct Conversions<'a>(&'a std::sync::atomic::AtomicUsize);

impl wgnn::data::progress::Progress for Conversions<'_> {
    fn begin(&mut self, _: &str, _: Option<u64>, _: u64) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn advance(&mut self, _: u64) {}
    fn end(&mut self) {}
}

#[test]
fn readers_of_one_source_at_once_convert_it_once() {
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    // 90,000 images of 28x28: 70.6 MB, over the size from which a conversion reports progress.
    write_idx(&data, [28, 28, 1], (90_000, 10), false);
    let format = Format::detect(&data).expect("a format");
    let o = ReadOptions {
        cache_dir: Some(cache.clone()),
        ..ReadOptions::default()
    };
    let begun = std::sync::atomic::AtomicUsize::new(0);
    let sets: Vec<Splits> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| format.read_with(&o, &mut Conversions(&begun)).unwrap().0))
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(
        begun.into_inner(),
        1,
        "one conversion, the others waited and mapped it"
    );
    assert!(sets.iter().all(|s| s == &sets[0]));
    assert_eq!(sets[0].train.len(), 90_000);
    the_pack(&cache);
}

/// Another program truncating a pack that a run maps: the run stops with an error that names the
/// cache folder, exits non-zero and not by a signal, and keeps its last checkpoint; the next read
/// rebuilds the pack. The truncation happens while the run is held stopped (SIGSTOP) after its
/// first checkpoint, so when it happens depends on the run's progress, never on the clock. On the
/// CPU backend (which reads the mapped images at every step) and on the GPU's streamed path
/// (which reads them at every chunk).
#[cfg(target_os = "linux")]
#[test]
fn a_pack_truncated_by_another_program_stops_the_run_with_an_error_not_sigbus() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    let (data, cache) = (d.path().join("data"), d.path().join("cache"));
    write_idx(&data, [16, 16, 1], (2000, 200), false);
    let ds = data.display().to_string();
    let backends = common::with_gpu(["cpu", "gpu"]);
    for backend in backends {
        let out = d.path().join(format!("run-{backend}"));
        let os = out.display().to_string();
        let mut args = train_args(&ds, &os);
        let at = args.iter().position(|&a| a == "cpu").unwrap();
        args[at] = backend;
        let at = args.iter().position(|&a| a == "--epochs").unwrap();
        args[at + 1] = "200";
        args.extend(["--checkpoint-every", "4"]);
        if backend == "gpu" {
            args.push("--stream");
        }
        let mut child = common::run::command(&args)
            .env("WGNN_CACHE_DIR", &cache)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while common::run::checkpointed_steps(&out).is_none() {
            if child.try_wait().unwrap().is_some() {
                let o = child.wait_with_output().unwrap();
                panic!("{backend}: the run ended early: {}", common::run::text(&o));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let pid = child.id().to_string();
        let signal = |s: &str| {
            let ok = Command::new("kill").args([s, &pid]).status().unwrap();
            assert!(ok.success());
        };
        signal("-STOP");
        let saved = common::run::checkpointed_steps(&out).unwrap();
        let pack = the_pack(&cache.join("data"));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&pack)
            .unwrap()
            .set_len(0)
            .unwrap();
        signal("-CONT");
        let o = child.wait_with_output().unwrap();
        let t = common::run::text(&o);
        assert_eq!(
            o.status.signal(),
            None,
            "{backend}: killed by a signal: {t}"
        );
        assert_ne!(o.status.code(), Some(0), "{backend}: {t}");
        for needle in [
            "truncated by another program",
            "last good checkpoint is kept",
        ] {
            assert!(t.contains(needle), "{backend}: {needle:?} not in: {t}");
        }
        assert!(t.contains(&cache.join("data").display().to_string()), "{t}");
        // The checkpoint holds what it held when the pack went (or a later one written before the
        // run next read the pack), and the run resumes from it once the pack is rebuilt.
        assert!(common::run::checkpointed_steps(&out).unwrap() >= saved);
        let r = common::run::command(&["eval", "--checkpoint", &os, "--backend", "cpu"])
            .env("WGNN_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", common::run::text(&r));
    }
}
