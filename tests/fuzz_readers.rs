//! Property tests of the readers of files people download (pickles, `.npz`, CSV, images): mutated
//! valid files and random bytes never panic, and every error is a sentence that names the file and
//! shows no Rust Debug text; hostile inputs built to exhaust memory or the stack (a memo that
//! doubles itself, a million nested lists, a memo index far out) are refused within the stated
//! caps, which the tests measure (the process's peak memory), not assume. Fixed seeds: every run
//! replays the same cases.

mod common;
use common::formats::{npy, write_npz, Pickle};
use common::fuzz::{mutations, no_panic, random_inputs};

use std::collections::BTreeSet;
use std::path::Path;

use wgnn::data::pickle::{self, Value};

/// A CIFAR-like batch of `n` 3072-byte images, in pickle `protocol`.
fn batch(protocol: u8, n: usize) -> Vec<u8> {
    let raw: Vec<u8> = (0..n * 3072).map(|i| (i * 7 % 251) as u8).collect();
    Pickle::new(protocol).dict(|p| {
        p.text("labels");
        p.int_list(&(0..n as u32).map(|i| i % 3).collect::<Vec<_>>());
        p.text("data");
        p.ndarray([n as u32, 3072], &raw);
    })
}

/// Parses a pickle and, when it parses, reads it as a batch; returns the error's words.
fn read_pickle(case: &str, bytes: &[u8], seen: &mut BTreeSet<String>) {
    let file = "data_batch_1";
    if let Some(v) = no_panic(case, bytes, Some(file), || pickle::parse(bytes, file)) {
        // Whatever parsed is a tree a reader can walk and drop.
        let _ = v.get("data").and_then(Value::ndarray);
        let _ = v.get("labels").and_then(Value::items);
    } else if let Err(e) = pickle::parse(bytes, file) {
        seen.insert(shape_of(&e.to_string()));
    }
}

/// An error message with its numbers taken out: what kind of error it is.
fn shape_of(msg: &str) -> String {
    msg.chars().filter(|c| !c.is_ascii_digit()).collect()
}

#[test]
fn mutated_and_random_pickles_never_panic() {
    let mut seen = BTreeSet::new();
    for (seed, protocol) in [(11, 2), (12, 3), (13, 5)] {
        let valid = batch(protocol, 2);
        assert!(pickle::parse(&valid, "x").unwrap().get("data").is_some());
        for (i, bytes) in mutations(seed, &valid, 4_000).enumerate() {
            read_pickle(
                &format!("pickle-{protocol}-mutation-{i}"),
                &bytes,
                &mut seen,
            );
        }
    }
    for (i, bytes) in random_inputs(14, b"\x80\x02", 96, 20_000).enumerate() {
        read_pickle(&format!("pickle-random-{i}"), &bytes, &mut seen);
    }
    // The cases reach many distinct errors, not one early refusal.
    assert!(seen.len() >= 20, "{} kinds of error: {seen:#?}", seen.len());
    eprintln!("32000 pickles: {} kinds of error", seen.len());
}

/// The bytes `pickle.dumps({'data': numpy.arange(6, dtype=numpy.uint8).reshape(2, 3),
/// 'labels': [1, 2]}, protocol=5)` wrote with numpy 2.4.6 and Python 3.
const NUMPY_PROTOCOL_5: &[u8] = b"\x80\x05\x95\x98\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04data\x94\x8c\x13numpy._core.numeric\x94\x8c\x0b_frombuffer\x94\x93\x94(\x96\x06\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x94\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94\x8c\x02u1\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bK\x02K\x03\x86\x94\x8c\x01C\x94t\x94R\x94\x8c\x06labels\x94]\x94(K\x01K\x02eu.";

#[test]
fn numpys_own_protocol_5_pickle_is_read() {
    let v = pickle::parse(NUMPY_PROTOCOL_5, "p5").unwrap();
    let (shape, data) = v.get("data").and_then(Value::ndarray).unwrap();
    assert_eq!((shape, data), (vec![2, 3], &[0u8, 1, 2, 3, 4, 5][..]));
    let labels = v.get("labels").and_then(Value::items).unwrap();
    assert_eq!(labels, [Value::Int(1), Value::Int(2)]);
}

/// Parses a hostile pickle, which must fail with `needle` in its message, and returns how much
/// the process's peak memory grew meanwhile.
#[cfg(target_os = "linux")]
fn refused(bytes: &[u8], needle: &str) -> u64 {
    let before = common::run::peak_memory();
    let e = no_panic("hostile", bytes, Some("evil.pkl"), || {
        pickle::parse(bytes, "evil.pkl")
    });
    assert!(e.is_none(), "a hostile pickle parsed");
    let msg = pickle::parse(bytes, "evil.pkl").unwrap_err().to_string();
    assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    common::run::peak_memory().saturating_sub(before)
}

/// Each cap holds with room: the memo's copies are capped at the file's size plus 64 MiB, and a
/// million nested lists neither overflow the stack (building or dropping them) nor take memory.
#[cfg(target_os = "linux")]
#[test]
fn hostile_pickles_are_refused_within_their_caps() {
    // A memo that doubles itself: [x] then, 60 times, (memo[0], memo[0]) memoized as memo[0]. It
    // is 400 bytes and would describe 2^60 copies.
    let mut doubling = b"\x80\x02U\x40".to_vec();
    doubling.extend([b'x'; 64]);
    doubling.extend(b"q\x00");
    for _ in 0..60 {
        doubling.extend(b"h\x00h\x00\x86q\x00");
    }
    doubling.push(b'.');
    let grew = refused(&doubling, "memo copies more than");
    assert!(
        grew < 512 << 20,
        "the doubling memo took {} MiB",
        grew >> 20
    );

    // A million nested lists: ] a million times, then a million appends.
    let n = 1_000_000;
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(std::iter::repeat_n(b']', n));
    nested.extend(std::iter::repeat_n(b'a', n - 1));
    nested.push(b'.');
    let grew = refused(&nested, "nested more than 100 deep");
    assert!(grew < 256 << 20, "the nested lists took {} MiB", grew >> 20);

    // Memo indices far apart: each LONG_BINPUT to the next 2^24, once a vector of slots.
    let mut far = b"\x80\x02N".to_vec();
    for k in 0..200u32 {
        far.push(b'r');
        far.extend((k << 24).to_le_bytes());
    }
    far.extend(b"j\x01\x00\x00\x01.");
    let grew = refused(&far, "memo index 16777217 was never set");
    assert!(grew < 64 << 20, "far memo indices took {} MiB", grew >> 20);
}

/// A label that is not a class number is described in words, whatever the pickle holds there.
#[test]
fn pickle_labels_that_are_not_numbers_are_described_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-10-batches-py");
    std::fs::create_dir(&d).unwrap();
    let raw = vec![0u8; 3 * 3072];
    let labels = Pickle::new(2).dict(|p| {
        p.text("data");
        p.ndarray([3, 3072], &raw);
        p.text("labels");
        p.out.extend(b"](K\x01X\x03\x00\x00\x00cat");
        p.out.extend(b"cposix\nsystem\nU\x02lsR");
        p.out.push(b'e');
    });
    for name in ["data_batch_1", "test_batch"] {
        std::fs::write(d.join(name), &labels).unwrap();
    }
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_1") && e.contains("label 1 is the text \"cat\""),
        "{e}"
    );
    assert!(!common::fuzz::looks_like_debug(&e), "{e}");
    let call = Pickle::new(2).dict(|p| {
        p.text("data");
        p.ndarray([1, 3072], &raw[..3072]);
        p.text("labels");
        p.out.extend(b"](cposix\nsystem\nU\x02lsRe");
    });
    std::fs::write(d.join("data_batch_1"), &call).unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("label 0 is a call of posix.system (not run)"),
        "{e}"
    );
}

/// A small valid `.npz` of two classes.
fn valid_npz(path: &Path) -> Vec<u8> {
    write_npz(
        path,
        &[
            ("x_train", npy("|u1", &[4, 3, 3], &[7; 36])),
            ("y_train", npy("|u1", &[4], &[0, 1, 1, 0])),
            ("x_test", npy("|u1", &[2, 3, 3], &[9; 18])),
            ("y_test", npy("|u1", &[2], &[1, 0])),
        ],
    );
    std::fs::read(path).unwrap()
}

#[test]
fn mutated_npz_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.npz");
    let valid = valid_npz(&path);
    let (mut parsed, mut seen) = (0, BTreeSet::new());
    for (i, bytes) in mutations(21, &valid, 3_000).enumerate() {
        std::fs::write(&path, &bytes).unwrap();
        let case = format!("npz-mutation-{i}");
        let load = || wgnn::data::npz::load(&path, None);
        match no_panic(&case, &bytes, Some("fuzz.npz"), load) {
            Some(s) => {
                assert_eq!(s.train.images.len(), s.train.n * 9, "{case}");
                parsed += 1;
            }
            None => {
                seen.insert(shape_of(&load().unwrap_err().to_string()));
            }
        }
    }
    // Mutations of the zip's slack (its timestamps, a pixel) keep it readable.
    assert!(parsed > 50, "only {parsed} mutated files parsed");
    assert!(seen.len() >= 10, "{} kinds of error: {seen:#?}", seen.len());
    eprintln!(
        "3000 mutated npz files: {parsed} read, {} kinds of error",
        seen.len()
    );
}

#[test]
fn mutated_csv_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.csv");
    let valid = b"label,pixel0,pixel1,pixel2,pixel3\n3,0,10,20,255\n1,5,6,7,8\n0,1,2,3,4\n";
    let (mut parsed, mut seen) = (0, BTreeSet::new());
    for (i, bytes) in mutations(31, valid, 4_000).enumerate() {
        std::fs::write(&path, &bytes).unwrap();
        let case = format!("csv-mutation-{i}");
        let read = || wgnn::data::csv::read(&path);
        match no_panic(&case, &bytes, Some("train.csv"), read) {
            Some(_) => parsed += 1,
            None => {
                seen.insert(shape_of(&read().err().unwrap().to_string()));
            }
        }
    }
    assert!(parsed > 200, "only {parsed} mutated files parsed");
    assert!(seen.len() >= 5, "{} kinds of error: {seen:#?}", seen.len());
    eprintln!(
        "4000 mutated CSV files: {parsed} read, {} kinds of error",
        seen.len()
    );
}

#[test]
fn mutated_images_never_panic() {
    let img = image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 99]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digit.png");
    for (seed, format) in [(41, image::ImageFormat::Png), (42, image::ImageFormat::Bmp)] {
        let mut valid = std::io::Cursor::new(Vec::new());
        img.write_to(&mut valid, format).unwrap();
        for (i, bytes) in mutations(seed, valid.get_ref(), 1_500).enumerate() {
            std::fs::write(&path, &bytes).unwrap();
            let case = format!("image-{format:?}-mutation-{i}");
            no_panic(&case, &bytes, Some("digit.png"), || {
                wgnn::data::image::load_input(&path, [28, 28, 1], wgnn::data::image::Picture::Digit)
            });
        }
    }
}

/// A PNG whose header declares 60000x60000 pixels (a 10 GiB canvas) in a few bytes is refused
/// from the header.
#[cfg(target_os = "linux")]
#[test]
fn an_image_declaring_a_huge_canvas_is_refused_before_decoding() {
    let img = image::GrayImage::from_pixel(60, 60, image::Luma([5]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let mut png = png.into_inner();
    // IHDR's width and height are bytes 16..24; the chunk's CRC is checked, so fix it too.
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let before = common::run::peak_memory();
    let e = wgnn::data::image::decode(&png, wgnn::data::image::MAX_SIDE).unwrap_err();
    assert!(e.contains("larger than 16384x16384"), "{e}");
    let e = wgnn::data::image::decode(&png, 100_000).unwrap_err();
    assert!(e.contains("more than 512 MiB"), "{e}");
    let grew = common::run::peak_memory().saturating_sub(before);
    assert!(grew < 64 << 20, "refusing it took {} MiB", grew >> 20);
}

/// CRC-32 (IEEE), as PNG's chunks use.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}
