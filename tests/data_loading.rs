use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use wgnn::data::{self, ascii, idx, image as digit, Dataset};
use wgnn::error::Error;

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a small MNIST-like directory: `n_train`/`n_test` images of `h`x`w`,
/// labels `i % classes`; pixel = label * 10 + i (mod 256).
fn write_small(dir: &Path, n_train: usize, n_test: usize, h: usize, w: usize, gzip: bool) {
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let images: Vec<u8> = (0..n * h * w).map(|i| (i % 251) as u8).collect();
        let img = idx::encode_images(n, h, w, &images).unwrap();
        let lab = idx::encode_labels(&labels).unwrap();
        let (img, lab, ext) = if gzip {
            (gz(&img), gz(&lab), ".gz")
        } else {
            (img, lab, "")
        };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), lab).unwrap();
    }
}

fn err_string<T: std::fmt::Debug>(r: wgnn::error::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn real_mnist_loads_with_expected_shapes_and_hashes() {
    let m = data::load_dir(&mnist_dir()).unwrap();
    assert_eq!(m.train.n, 60_000);
    assert_eq!(m.test.n, 10_000);
    assert_eq!((m.train.height, m.train.width), (28, 28));
    assert_eq!((m.test.height, m.test.width), (28, 28));
    assert_eq!(m.train.images.len(), 60_000 * 784);
    assert_eq!(m.train.labels.len(), 60_000);
    assert_eq!(m.classes(), 10);
    // Well-known facts about MNIST.
    assert_eq!(&m.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&m.test.labels[..5], &[7, 2, 1, 0, 4]);
    let mut counts = [0usize; 10];
    for &l in &m.train.labels {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(m.train.image(0).len(), 784);
    assert_eq!(*m.train.image(0).iter().max().unwrap(), 255);
    assert_eq!(m.train.image(0)[0], 0);
    // The decompressed bytes match the published SHA-256 sums (checked via
    // the raw round trip: re-encoding gives back the original file).
    let raw = idx::read_maybe_gz(&mnist_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(raw.len(), 8 + 10_000);
    assert_eq!(idx::encode_labels(&m.test.labels).unwrap(), raw);
    let raw = idx::read_maybe_gz(&mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(
        idx::encode_images(10_000, 28, 28, &m.test.images).unwrap(),
        raw
    );
}

#[test]
fn real_mnist_sha256_matches_when_sha256sum_is_available() {
    // Cross-check the decompressed files against SHA256SUMS.raw with the
    // system tool (skipped silently where it is missing).
    let sums = std::fs::read_to_string(mnist_dir().join("SHA256SUMS.raw")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for line in sums.lines() {
        let mut it = line.split_whitespace();
        let (hash, name) = (it.next().unwrap(), it.next().unwrap());
        let bytes = idx::read_maybe_gz(&mnist_dir().join(format!("{name}.gz"))).unwrap();
        let p = tmp.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let Ok(out) = std::process::Command::new("sha256sum").arg(&p).output() else {
            return;
        };
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(got.starts_with(hash), "{name}: {got} != {hash}");
    }
}

#[test]
fn raw_and_gzip_small_files_load() {
    for gzip in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path(), 12, 6, 4, 5, gzip);
        let m = data::load_dir(tmp.path()).unwrap();
        assert_eq!(m.train.n, 12);
        assert_eq!(m.test.n, 6);
        assert_eq!((m.train.height, m.train.width), (4, 5));
        assert_eq!(m.classes(), 3);
        assert_eq!(
            m.train.labels,
            (0..12).map(|i| (i % 3) as u8).collect::<Vec<_>>()
        );
        assert_eq!(
            m.train.image(1),
            &(20..40).map(|i| i as u8).collect::<Vec<_>>()[..]
        );
    }
}

#[test]
fn gzip_detected_by_header_not_name() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("labels-without-gz-suffix");
    std::fs::write(&p, gz(&idx::encode_labels(&[1, 2, 3]).unwrap())).unwrap();
    assert_eq!(idx::read_labels(&p).unwrap(), vec![1, 2, 3]);
}

#[test]
fn missing_dir_names_expected_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nope");
    let e = err_string(data::load_dir(&dir));
    assert!(e.contains("nope"), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
}

#[test]
fn missing_file_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, false);
    std::fs::remove_file(tmp.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(e.contains("t10k-labels-idx1-ubyte.gz"), "{e}");
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn wrong_magic_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, false);
    let p = tmp.path().join("train-images-idx3-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b[0] = 0x12;
    std::fs::write(&p, &b).unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    assert!(e.contains("magic"), "{e}");
    // Label file given where images are expected.
    let e = err_string(idx::read_images(
        &tmp.path().join("train-labels-idx1-ubyte"),
    ));
    assert!(e.contains("label file"), "{e}");
    // Wrong element type (0x0D = float).
    b[0] = 0;
    b[2] = 0x0d;
    std::fs::write(&p, &b).unwrap();
    let e = err_string(idx::read_images(&p));
    assert!(e.contains("element type 0x0d"), "{e}");
}

#[test]
fn truncated_and_trailing_garbage_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, false);
    let p = tmp.path().join("train-images-idx3-ubyte");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() - 5]).unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
    std::fs::write(&p, &full[..6]).unwrap();
    let e = err_string(idx::read_images(&p));
    assert!(e.contains("truncated"), "{e}");
    let mut longer = full.clone();
    longer.extend_from_slice(&[1, 2, 3]);
    std::fs::write(&p, &longer).unwrap();
    let e = err_string(idx::read_images(&p));
    assert!(e.contains("3 bytes of trailing garbage"), "{e}");
    // Truncated gzip stream.
    let gzb = gz(&full);
    std::fs::write(&p, &gzb[..gzb.len() / 2]).unwrap();
    let e = err_string(idx::read_images(&p));
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}

#[test]
fn absurd_dims_are_rejected_without_allocating() {
    let mut b = idx::IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in [u32::MAX, u32::MAX, u32::MAX] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    let e = idx::parse_images(&b, Path::new("huge.idx"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("huge.idx:"), "{e}");
    assert!(e.contains("absurd") || e.contains("truncated"), "{e}");
}

#[test]
fn count_mismatch_names_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, false);
    std::fs::write(
        tmp.path().join("train-labels-idx1-ubyte"),
        idx::encode_labels(&[0, 1, 2]).unwrap(),
    )
    .unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("train-labels-idx1-ubyte"),
        "{e}"
    );
    assert!(e.contains("4 images") && e.contains("3 labels"), "{e}");
}

#[test]
fn test_label_out_of_range_names_file_and_index() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 6, 3, 2, 2, false);
    std::fs::write(
        tmp.path().join("t10k-labels-idx1-ubyte"),
        idx::encode_labels(&[0, 7, 1]).unwrap(),
    )
    .unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
    assert!(e.contains("label 7 at index 1"), "{e}");
}

#[test]
fn image_size_mismatch_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, false);
    std::fs::write(
        tmp.path().join("t10k-images-idx3-ubyte"),
        idx::encode_images(2, 4, 4, &[0; 32]).unwrap(),
    )
    .unwrap();
    let e = err_string(data::load_dir(tmp.path()));
    assert!(e.contains("3x3") && e.contains("4x4"), "{e}");
}

#[test]
fn raw_preferred_over_gz_and_errors_are_file_variants() {
    let tmp = tempfile::tempdir().unwrap();
    write_small(tmp.path(), 4, 2, 3, 3, true);
    write_small(tmp.path(), 5, 2, 3, 3, false);
    assert_eq!(data::load_dir(tmp.path()).unwrap().train.n, 5);
    let e = data::load_dir(&tmp.path().join("missing")).unwrap_err();
    assert!(matches!(e, Error::File { .. }));
}

fn toy(n: usize) -> Dataset {
    Dataset {
        images: (0..n * 4).map(|i| i as u8).collect(),
        labels: (0..n).map(|i| i as u8).collect(),
        n,
        height: 2,
        width: 2,
        channels: 1,
    }
}

#[test]
fn slice_take_and_splits() {
    let ds = toy(10);
    let s = ds.slice(2..5);
    assert_eq!(s.n, 3);
    assert_eq!(s.labels, vec![2, 3, 4]);
    assert_eq!(s.image(0), &[8, 9, 10, 11]);
    assert_eq!(ds.slice(8..100).n, 2);
    assert_eq!(ds.slice(20..30).n, 0);
    assert_eq!(ds.take(4).labels, vec![0, 1, 2, 3]);
    assert_eq!(ds.take(100).n, 10);
    assert_eq!(ds.image(99), &[] as &[u8]);

    // Keras: split at floor(n * (1 - fraction)), validation from the end.
    let (tr, va) = data::split_validation(&ds, 0.25).unwrap();
    assert_eq!((tr.n, va.n), (7, 3));
    assert_eq!(va.labels, vec![7, 8, 9]);
    let (tr, va) = data::split_validation(&ds, 0.0).unwrap();
    assert_eq!((tr.n, va.n), (10, 0));
    assert!(data::split_validation(&ds, 1.0).is_err());
    assert!(data::split_validation(&ds, f32::NAN).is_err());
    let (tr, va) = wgnn::data::split_last(&ds, 4).unwrap();
    assert_eq!(tr.labels, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(va.labels, vec![6, 7, 8, 9]);
    assert!(data::split_last(&ds, 10)
        .unwrap_err()
        .to_string()
        .contains("10"));
}

#[test]
fn real_mnist_split_like_keras() {
    let m = data::load_dir(&mnist_dir()).unwrap();
    let (tr, va) = data::split_validation(&m.train, 0.1).unwrap();
    assert_eq!((tr.n, va.n), (54_000, 6_000));
    assert_eq!(va.image(0), m.train.image(54_000));
    let (tr, va) = data::split_last(&m.train, 10_000).unwrap();
    assert_eq!((tr.n, va.n), (50_000, 10_000));
    assert_eq!(va.labels[..], m.train.labels[50_000..]);
}

/// A thick vertical bar ("1") drawn black on white, off-centre.
fn write_one_png(path: &Path, w: u32, h: u32) {
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        if (20..32).contains(&x) && (15..85).contains(&y) {
            image::Luma([0u8])
        } else {
            image::Luma([255u8])
        }
    });
    img.save(path).unwrap();
}

fn centre_of_mass(img: &[u8], h: usize, w: usize) -> (f64, f64) {
    let (mut m, mut my, mut mx) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let v = img[y * w + x] as f64;
            m += v;
            my += v * (y as f64 + 0.5);
            mx += v * (x as f64 + 0.5);
        }
    }
    (my / m, mx / m)
}

fn ink_box(img: &[u8], h: usize, w: usize) -> (usize, usize, usize, usize) {
    let (mut y0, mut x0, mut y1, mut x1) = (h, w, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if img[y * w + x] > 40 {
                y0 = y0.min(y);
                x0 = x0.min(x);
                y1 = y1.max(y);
                x1 = x1.max(x);
            }
        }
    }
    (y0, x0, y1, x1)
}

#[test]
fn load_digit_makes_mnist_style_input() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("one.png");
    write_one_png(&p, 80, 100);
    let img = digit::load_digit(&p, 28, 28).unwrap();
    assert_eq!(img.len(), 784);
    // White on black: corners are background, the stroke is bright.
    assert_eq!(img[0], 0);
    assert_eq!(img[783], 0);
    assert_eq!(*img.iter().max().unwrap(), 255);
    // Centred by centre of mass.
    let (cy, cx) = centre_of_mass(&img, 28, 28);
    assert!(
        (cy - 14.0).abs() < 1.0 && (cx - 14.0).abs() < 1.0,
        "({cy}, {cx})"
    );
    // The longer side (70 px tall) is scaled to 20 px.
    let (y0, x0, y1, x1) = ink_box(&img, 28, 28);
    assert!((19..=21).contains(&(y1 - y0 + 1)), "height {}", y1 - y0 + 1);
    // 12/70 * 20 ≈ 3.4 px wide.
    assert!((3..=5).contains(&(x1 - x0 + 1)), "width {}", x1 - x0 + 1);
    // Generalised size: box is 20/28 of the frame.
    let img = digit::load_digit(&p, 56, 42).unwrap();
    assert_eq!(img.len(), 56 * 42);
    let (y0, _, y1, _) = ink_box(&img, 56, 42);
    assert!((39..=41).contains(&(y1 - y0 + 1)), "height {}", y1 - y0 + 1);
}

#[test]
fn load_digit_keeps_white_on_black_and_handles_jpeg() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("seven.jpg");
    let img = image::GrayImage::from_fn(60, 60, |x, y| {
        let on = (10..50).contains(&x) && (8..14).contains(&y)
            || (x + y > 55 && x + y < 64 && (8..55).contains(&y));
        image::Luma([if on { 250 } else { 5 }])
    });
    img.save(&p).unwrap();
    let out = digit::load_digit(&p, 28, 28).unwrap();
    assert_eq!(out[0], 0);
    assert!(out.iter().filter(|&&v| v > 128).count() > 30);
}

#[test]
fn load_digit_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("notes.png");
    std::fs::write(&p, b"this is not a picture").unwrap();
    let e = err_string(digit::load_digit(&p, 28, 28));
    assert!(e.contains("notes.png"), "{e}");
    let e = err_string(digit::load_digit(&tmp.path().join("absent.png"), 28, 28));
    assert!(e.contains("absent.png"), "{e}");
    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_pixel(30, 30, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let e = err_string(digit::load_digit(&blank, 28, 28));
    assert!(e.contains("blank.png") && e.contains("no digit"), "{e}");
}

#[test]
fn ascii_render_draws_shades() {
    let mut img = vec![0u8; 16];
    img[5] = 255;
    img[6] = 128;
    let s = ascii::render(&img, 4, 4);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0], "+--------+");
    assert_eq!(lines[1], "|        |");
    assert_eq!(lines[2], "|  @@++  |");
    let hb = ascii::render_half_blocks(&img, 4, 4);
    assert_eq!(hb.lines().next().unwrap(), " ▄▄ ");
}
