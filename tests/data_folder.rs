//! Image folders as `image_dataset_from_directory` reads them, on PNG files written here: grey
//! and RGB pixels read back exactly, class names from sorted folder names, nested folders, a
//! resize, mixed sizes, a bad file with and without skipping, the packed cache reused and then
//! invalidated; Fashion-MNIST's test set written as PNGs reads back as its IDX files; a colour
//! folder trained end to end on both backends; and a resized run read again as it was trained.

mod common;

use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use wgnn::data::folder;
use wgnn::data::folder_scan::{Color, FolderOptions};
use wgnn::data::{idx, Format};

fn grey(path: &Path, w: u32, h: u32, seed: u32) -> Vec<u8> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = GrayImage::from_fn(w, h, |x, y| {
        image::Luma([((x * 31 + y * 17 + seed * 7) % 256) as u8])
    });
    img.save(path).unwrap();
    img.into_raw()
}

fn rgb(path: &Path, w: u32, h: u32, seed: u32) -> Vec<u8> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 40 + seed) as u8,
            (y * 50 + seed) as u8,
            ((x + y) * 9 + seed * 3) as u8,
        ])
    });
    img.save(path).unwrap();
    img.into_raw()
}

fn read(
    dir: &Path,
    o: &FolderOptions,
) -> wgnn::Result<(wgnn::data::Splits, Vec<(PathBuf, String)>)> {
    folder::load(dir, o)
}

#[test]
fn grey_train_and_test_folders_with_sorted_class_names_and_nesting() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let a0 = grey(&r.join("train/zebra/0.png"), 3, 2, 1);
    let b0 = grey(&r.join("train/apple/0.png"), 3, 2, 2);
    let b1 = grey(&r.join("train/apple/more/1.png"), 3, 2, 3);
    let t0 = grey(&r.join("test/zebra/0.png"), 3, 2, 4);
    std::fs::write(r.join("train/apple/notes.txt"), "not an image").unwrap();
    assert_eq!(Format::detect(r), Some(Format::Folder(r.to_path_buf())));
    let (s, skipped) = read(r, &FolderOptions::default()).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(s.class_names, ["apple", "zebra"]);
    assert_eq!(s.shape(), [2, 3, 1]);
    // Interleaved across classes: apple's first, zebra's first, apple's second.
    assert_eq!(s.train.labels, [0, 1, 0]);
    assert_eq!(s.train.images, [b0, a0, b1].concat());
    assert_eq!(
        (s.test.labels.clone(), s.test.images.to_vec()),
        (vec![1], t0)
    );
}

/// A folder walk that would never end or count images many times: a link back up (`again -> .`),
/// a second link to a class folder, a link to one image (followed: it is a regular file), and a
/// FIFO named like an image (which would block the decoder: left out).
#[cfg(unix)]
#[test]
fn links_are_followed_once_and_what_is_not_a_file_is_left_out() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let a = grey(&r.join("apple/0.png"), 3, 2, 1);
    let b = grey(&r.join("apple/deep/1.png"), 3, 2, 2);
    let z = grey(&r.join("zebra/0.png"), 3, 2, 3);
    symlink(".", r.join("apple/again")).unwrap();
    symlink("..", r.join("apple/deep/up")).unwrap();
    symlink(r.join("apple"), r.join("zebra/apple-too")).unwrap();
    symlink(r.join("zebra/0.png"), r.join("apple/zebra-link.png")).unwrap();
    let fifo = r.join("zebra/pipe.png");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    assert_eq!(Format::detect(r), Some(Format::Folder(r.to_path_buf())));
    let (s, skipped) = read(r, &FolderOptions::default()).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(s.class_names, ["apple", "zebra"]);
    // apple: 0.png, deep/1.png, zebra-link.png; zebra: 0.png (its link to apple's folder adds
    // nothing: apple's class walked that folder first).
    let labels: Vec<u8> = s.train.labels.clone();
    assert_eq!(labels.iter().filter(|&&l| l == 0).count(), 3, "{labels:?}");
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 1, "{labels:?}");
    assert_eq!(s.train.images[..6], a[..]);
    assert!(s.train.images.chunks(6).any(|c| c == &b[..]));
    assert!(s.train.images.chunks(6).filter(|c| *c == &z[..]).count() == 2);
}

#[test]
fn rgb_classes_at_the_top_have_no_test_set_and_colour_can_be_dropped() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let c0 = rgb(&r.join("cat/a.png"), 4, 2, 5);
    let d0 = rgb(&r.join("dog/b.png"), 4, 2, 9);
    let (s, _) = read(r, &FolderOptions::default()).unwrap();
    assert_eq!(s.shape(), [2, 4, 3]);
    assert_eq!(s.train.images, [c0, d0].concat());
    assert!(s.test.is_empty());
    let o = FolderOptions {
        color: Some(Color::Grayscale),
        ..FolderOptions::default()
    };
    let (g, _) = read(r, &o).unwrap();
    assert_eq!(g.shape(), [2, 4, 1]);
    let want = image::DynamicImage::ImageRgb8(image::open(r.join("cat/a.png")).unwrap().to_rgb8())
        .to_luma8()
        .into_raw();
    assert_eq!(g.train.image(0), &want[..]);
}

#[test]
fn mixed_sizes_are_an_error_naming_the_file_unless_resized() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    grey(&r.join("a/0.png"), 4, 4, 1);
    grey(&r.join("b/0.png"), 6, 5, 2);
    let e = read(r, &FolderOptions::default()).unwrap_err().to_string();
    assert!(
        e.contains("b/0.png") && e.contains("is 5x6 but the first image is 4x4"),
        "{e}"
    );
    let o = FolderOptions {
        image_size: Some([2, 3]),
        ..FolderOptions::default()
    };
    let (s, _) = read(r, &o).unwrap();
    assert_eq!(s.shape(), [2, 3, 1]);
    let want = image::open(r.join("b/0.png"))
        .unwrap()
        .resize_exact(3, 2, image::imageops::FilterType::Triangle)
        .to_luma8()
        .into_raw();
    assert_eq!(
        s.train.image(1),
        &want[..],
        "bilinear, as image's Triangle filter"
    );
}

#[test]
fn a_bad_image_fails_naming_it_unless_skipped() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    let good = grey(&r.join("a/0.png"), 2, 2, 1);
    grey(&r.join("b/1.png"), 2, 2, 2);
    std::fs::write(r.join("b/0.png"), b"\x89PNG but truncated").unwrap();
    let e = read(r, &FolderOptions::default()).unwrap_err().to_string();
    assert!(
        e.contains("b/0.png") && e.contains("cannot be read as an image"),
        "{e}"
    );
    let o = FolderOptions {
        skip_bad: true,
        ..FolderOptions::default()
    };
    let (s, skipped) = read(r, &o).unwrap();
    assert_eq!(s.train.n, 2);
    assert_eq!(s.train.image(0), &good[..]);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].0.ends_with("b/0.png"), "{skipped:?}");
}

/// With `--skip-bad-images`, a bad first file is skipped too: the size comes from the first image
/// that can be read.
#[test]
fn a_bad_first_image_is_skipped_and_the_next_sets_the_size() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("a")).unwrap();
    std::fs::write(r.join("a/0.png"), b"\x89PNG but truncated").unwrap();
    let good = grey(&r.join("a/1.png"), 3, 2, 1);
    grey(&r.join("b/0.png"), 3, 2, 2);
    let o = FolderOptions {
        skip_bad: true,
        ..FolderOptions::default()
    };
    let (s, skipped) = read(r, &o).unwrap();
    assert_eq!((s.shape(), s.train.n), ([2, 3, 1], 2));
    // Interleaved across the classes: b's first, then a's second.
    assert_eq!(s.train.labels, [1, 0]);
    assert_eq!(s.train.image(1), &good[..]);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].0.ends_with("a/0.png"), "{skipped:?}");
}

/// The format is told by the bytes, not the name (a JPEG named `.png` is read, as Keras reads
/// it), and BMP files are read.
#[test]
fn a_jpeg_named_png_and_a_bmp_are_read() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::create_dir_all(r.join("a")).unwrap();
    std::fs::create_dir_all(r.join("b")).unwrap();
    let img = GrayImage::from_fn(4, 4, |x, y| image::Luma([(x * 60 + y) as u8]));
    img.save_with_format(r.join("a/0.png"), image::ImageFormat::Jpeg)
        .unwrap();
    img.save_with_format(r.join("b/0.bmp"), image::ImageFormat::Bmp)
        .unwrap();
    let (s, skipped) = read(r, &FolderOptions::default()).unwrap();
    assert!(skipped.is_empty());
    assert_eq!((s.shape(), s.train.n), ([4, 4, 1], 2));
    // The BMP is lossless; the JPEG close.
    assert_eq!(s.train.image(1), img.as_raw().as_slice());
    let jpeg = s.train.image(0);
    assert!(
        jpeg.iter()
            .zip(img.as_raw())
            .all(|(&a, &b)| a.abs_diff(b) < 16),
        "{jpeg:?}"
    );
}

#[test]
fn a_folder_of_one_class_is_refused_as_such() {
    let d = tempfile::tempdir().unwrap();
    grey(&d.path().join("cats/0.png"), 2, 2, 1);
    grey(&d.path().join("cats/1.png"), 2, 2, 2);
    let e = read(d.path(), &FolderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("one class (cats)") && e.contains("at least two"),
        "{e}"
    );
}

#[test]
fn the_packed_cache_is_reused_then_invalidated_by_a_change() {
    let d = tempfile::tempdir().unwrap();
    let (r, cache) = (d.path().join("data"), d.path().join("cache"));
    grey(&r.join("a/0.png"), 2, 2, 1);
    let first = grey(&r.join("b/0.png"), 2, 2, 2);
    let o = FolderOptions {
        cache_dir: Some(cache.clone()),
        ..FolderOptions::default()
    };
    let (s1, _) = read(&r, &o).unwrap();
    assert_eq!(s1.train.image(1), &first[..]);
    // The first read maps the pack: let it go before the pack is changed in place below (a
    // mapping sees such a change; wgnn itself only ever replaces a pack with a new file).
    drop(s1);
    let files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // Mark the cached pixels: a second read that returns the mark read the cache.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let pos = bytes
        .windows(4)
        .position(|w| w == &first[..])
        .expect("the image in the cache");
    bytes[pos] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    let (s2, _) = read(&r, &o).unwrap();
    assert_eq!(
        s2.train.image(1)[0],
        first[0] ^ 0xff,
        "the second read came from the cache"
    );
    // A changed folder is decoded again, and its new pack replaces the old one (once no reader
    // holds the old one: tidying leaves a pack in use).
    drop(s2);
    let new = grey(&r.join("b/0.png"), 2, 2, 7);
    let (s3, _) = read(&r, &o).unwrap();
    assert_eq!(s3.train.image(1), &new[..]);
    let left = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(left, 1, "the earlier pack is removed");
}

/// A FIFO where the pack would be is not opened (that would wait for a writer forever): the folder
/// is decoded again and its pack written in its place.
#[cfg(unix)]
#[test]
fn a_fifo_named_like_the_pack_is_replaced_not_opened() {
    let d = tempfile::tempdir().unwrap();
    let (r, cache) = (d.path().join("data"), d.path().join("cache"));
    grey(&r.join("a/0.png"), 2, 2, 1);
    let b = grey(&r.join("b/0.png"), 2, 2, 2);
    let o = FolderOptions {
        cache_dir: Some(cache.clone()),
        ..FolderOptions::default()
    };
    drop(read(&r, &o).unwrap());
    let pack = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&pack).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&pack).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    // On a thread, so that a read that blocks fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(read(&r, &o).map(|(s, _)| s.train.image(1).to_vec())));
    let got = rx.recv_timeout(std::time::Duration::from_secs(60));
    let got = got.expect("the read blocked on the FIFO").unwrap();
    assert_eq!(got, b);
    assert!(
        std::fs::metadata(&pack).unwrap().is_file(),
        "a pack replaced the FIFO"
    );
}

#[test]
fn fashion_mnist_test_set_as_png_folder_reads_back_as_the_idx_files() {
    let src = Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        src.is_dir(),
        "this test reads Debian's dataset-fashion-mnist package: apt-get install dataset-fashion-mnist"
    );
    let want = idx::read_set(
        &src.join("t10k-images-idx3-ubyte.gz"),
        &src.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let names = wgnn::data::catalog::find("fashion-mnist")
        .unwrap()
        .class_names;
    for i in 0..want.n {
        let class = names[usize::from(want.labels[i])].replace('/', "-");
        let p = d.path().join(format!("test/{class}/{i:05}.png"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        GrayImage::from_raw(28, 28, want.image(i).to_vec())
            .unwrap()
            .save(&p)
            .unwrap();
    }
    // The folder read as a training set (classes at the top): sorted class names, so map them.
    let (s, _) = read(&d.path().join("test"), &FolderOptions::default()).unwrap();
    assert_eq!(s.train.n, want.n);
    // Within a class the files keep their order (the folder interleaves the classes).
    for (c, name) in s.class_names.iter().enumerate() {
        let label = names
            .iter()
            .position(|n| n.replace('/', "-") == *name)
            .unwrap() as u8;
        let got: Vec<usize> = (0..s.train.n)
            .filter(|&k| s.train.labels[k] == c as u8)
            .collect();
        let wanted: Vec<usize> = (0..want.n).filter(|&i| want.labels[i] == label).collect();
        assert_eq!(got.len(), wanted.len(), "class {name}");
        for (&k, &i) in got.iter().zip(&wanted) {
            assert_eq!(s.train.image(k), want.image(i), "image {i}");
        }
    }
}

#[test]
fn a_colour_folder_trains_end_to_end_on_both_backends() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("colours");
    // Red-ish and blue-ish 16x16 images, told apart by colour alone.
    for i in 0..48u32 {
        let (class, tint) = if i % 2 == 0 {
            ("red", [200, 40, 40])
        } else {
            ("blue", [40, 40, 200])
        };
        let split = if i < 40 { "train" } else { "test" };
        let p = r.join(format!("{split}/{class}/{i}.png"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        RgbImage::from_fn(16, 16, |x, y| {
            let n = ((x * 13 + y * 7 + i * 3) % 40) as u8;
            image::Rgb([tint[0] + n, tint[1] + n, tint[2] + n])
        })
        .save(&p)
        .unwrap();
    }
    let data = r.display().to_string();
    for backend in common::with_gpu(["cpu", "gpu"]) {
        let out = d
            .path()
            .join(format!("run-{backend}"))
            .display()
            .to_string();
        let t = common::run::ok(&[
            "train",
            "--model",
            "tiny",
            "--data-dir",
            &data,
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--backend",
            backend,
            "--out",
            &out,
        ]);
        assert!(t.contains("Test loss"), "{t}");
        let run = wgnn::train::checkpoint::load_run(Path::new(&out)).unwrap();
        assert_eq!(
            run.data.class_names,
            ["blue", "red"],
            "class names are kept"
        );
        let e = common::run::ok(&["eval", "--checkpoint", &out]);
        assert!(e.contains("8 images"), "eval reads the run's own data: {e}");
        assert!(
            e.contains("0 blue") && e.contains("1 red"),
            "rows named by class: {e}"
        );
        let png = r.join("test/red/40.png").display().to_string();
        let p = common::run::ok(&["predict", "--checkpoint", &out, &png, "--backend", backend]);
        assert!(
            p.contains("predicted blue") || p.contains("predicted red"),
            "{p}"
        );
        let p = common::run::ok(&[
            "predict",
            "--checkpoint",
            &out,
            "--index",
            "0",
            "--backend",
            backend,
        ]);
        assert!(
            p.contains(", label blue") || p.contains(", label red"),
            "{p}"
        );
    }
}

#[test]
fn a_resized_grey_run_is_read_the_same_way_by_resume_eval_and_predict() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("sizes");
    for i in 0..40u32 {
        let class = ["a", "b"][i as usize % 2];
        let split = if i < 32 { "train" } else { "test" };
        rgb(&r.join(format!("{split}/{class}/{i}.png")), 20, 18, i);
    }
    let (data, out) = (r.display().to_string(), d.path().join("run"));
    let o = out.to_str().unwrap();
    fn train(extra: &[&str]) -> Vec<String> {
        let tiny = [
            "train",
            "--model",
            "tiny",
            "--batch-size",
            "8",
            "--backend",
            "cpu",
        ];
        tiny.iter().chain(extra).map(|s| s.to_string()).collect()
    }
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    common::run::ok(&strs(&train(&[
        "--data-dir",
        &data,
        "--image-size",
        "16x16",
        "--color",
        "grayscale",
        "--epochs",
        "1",
        "--out",
        o,
    ])));
    let run = wgnn::train::checkpoint::load_run(&out).unwrap();
    let read = run
        .data
        .folder
        .expect("the run keeps how it read its folder");
    assert_eq!(
        (read.image_size, read.color, read.skip_bad),
        (Some([16, 16]), Some(Color::Grayscale), false)
    );
    // Without flags, eval, predict --index and --resume read the folder as the run did.
    let e = common::run::ok(&["eval", "--checkpoint", o, "--backend", "cpu"]);
    assert!(e.contains("8 images"), "{e}");
    let p = common::run::ok(&[
        "predict",
        "--checkpoint",
        o,
        "--index",
        "3",
        "--backend",
        "cpu",
    ]);
    assert!(p.contains(", label b"), "{p}");
    // A picture for a model of classes other than digits is resized, not centred as a digit: a
    // uniform one (no ink to find) is predicted.
    let plain = d.path().join("plain.png");
    image::GrayImage::from_pixel(30, 20, image::Luma([120]))
        .save(&plain)
        .unwrap();
    let pl = plain.to_str().unwrap();
    let p = common::run::ok(&["predict", "--checkpoint", o, pl, "--backend", "cpu"]);
    assert!(
        p.contains("predicted a") || p.contains("predicted b"),
        "{p}"
    );
    // Another folder of the same kind is read at the model's size and colour too.
    let copy = d.path().join("copy");
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            let to = copy.join(split).join(class);
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(r.join(split).join(class)).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    let c = copy.to_str().unwrap();
    let e = common::run::ok(&[
        "eval",
        "--checkpoint",
        o,
        "--data-dir",
        c,
        "--backend",
        "cpu",
    ]);
    assert!(e.contains("8 images"), "{e}");
    common::run::ok(&strs(&train(&["--resume", o, "--epochs", "2"])));
    // A reading flag other than the run's is refused by name; the saved run is left as it was.
    let saved = std::fs::read(out.join("history.csv")).unwrap();
    common::run::fails(
        &strs(&train(&[
            "--resume",
            o,
            "--epochs",
            "3",
            "--image-size",
            "10x12",
        ])),
        &[
            "--image-size 10x12",
            "was started with images resized to 16x16",
            o,
        ],
    );
    common::run::fails(
        &strs(&train(&["--resume", o, "--epochs", "3", "--color", "rgb"])),
        &["--color rgb", "was started with grayscale images"],
    );
    assert_eq!(std::fs::read(out.join("history.csv")).unwrap(), saved);
}

#[test]
fn a_kaggle_csv_trains_and_its_test_csv_becomes_a_submission() {
    let d = tempfile::tempdir().unwrap();
    // 12x12 images: a bright left half is class 1, a bright right half class 0.
    let row = |i: usize| -> (u8, Vec<u8>) {
        let class = (i % 2) as u8;
        let px = (0..144)
            .map(|p| {
                let left = p % 12 < 6;
                let v = if left == (class == 1) { 200 } else { 20 };
                (v + (i * 7 + p) % 30) as u8
            })
            .collect();
        (class, px)
    };
    let header: Vec<String> = (0..144).map(|p| format!("pixel{p}")).collect();
    let mut train = format!("label,{}\n", header.join(","));
    for i in 0..64 {
        let (c, px) = row(i);
        let px: Vec<String> = px.iter().map(u8::to_string).collect();
        train += &format!("{c},{}\n", px.join(","));
    }
    let mut test = format!("{}\n", header.join(","));
    for i in 0..5 {
        let px: Vec<String> = row(i).1.iter().map(u8::to_string).collect();
        test += &format!("{}\n", px.join(","));
    }
    std::fs::write(d.path().join("train.csv"), train).unwrap();
    let test_csv = d.path().join("test.csv");
    std::fs::write(&test_csv, test).unwrap();
    let data = d.path().display().to_string();
    let out = d.path().join("run").display().to_string();
    let t = common::run::ok(&[
        "train",
        "--model",
        "tiny",
        "--data-dir",
        &data,
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--backend",
        "cpu",
        "--out",
        &out,
    ]);
    assert!(
        !t.contains("Test loss"),
        "an unlabelled test.csv is no test set: {t}"
    );
    let sub = d.path().join("submission.csv");
    let p = common::run::ok(&[
        "predict",
        "--checkpoint",
        &out,
        "--csv",
        &test_csv.display().to_string(),
        "--out",
        &sub.display().to_string(),
        "--backend",
        "cpu",
    ]);
    assert!(p.contains("Wrote 5 predictions"), "{p}");
    let text = std::fs::read_to_string(&sub).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ImageId,Label");
    assert_eq!(lines.len(), 6);
    for (k, l) in lines[1..].iter().enumerate() {
        let (id, label) = l.split_once(',').unwrap();
        assert_eq!(id, (k + 1).to_string());
        assert!(label == "0" || label == "1", "{l}");
    }
}
