//! Property tests of the IDX loader over random bytes and mutated valid files: no input panics,
//! aborts or allocates what its header claims before the length is checked; every error is a
//! sentence naming the file. Fixed seeds: every run replays the same cases.

mod common;
use common::fuzz::{self, mutations, no_panic, random_inputs};

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;
use wgnn::data::idx;

const FILE: &str = "fuzz-images-idx3-ubyte";

fn valid_images() -> Vec<u8> {
    let pixels: Vec<u8> = (0..6 * 5 * 4).map(|i| (i * 7 % 256) as u8).collect();
    idx::encode_images(6, 5, 4, &pixels).unwrap()
}

fn valid_labels() -> Vec<u8> {
    idx::encode_labels(&[3, 1, 4, 1, 5, 9, 2, 6]).unwrap()
}

/// Parses `bytes` as images and as labels; on success the parsed sizes must agree with the
/// header and the payload length (the loader's contract).
fn check(case: &str, bytes: &[u8]) -> usize {
    let path = Path::new(FILE);
    let mut ok = 0;
    if let Some(im) = no_panic(case, bytes, Some(FILE), || idx::parse_images(bytes, path)) {
        let size = im.n * im.rows * im.cols * im.channels;
        assert_eq!(im.data.len(), size, "{case}");
        // A 3-dimensional header is 16 bytes, a 4-dimensional one (channels last) 20.
        let header = if bytes[3] == 4 { 20 } else { 16 };
        assert_eq!(bytes.len(), header + im.data.len(), "{case}");
        ok += 1;
    }
    if let Some(lb) = no_panic(case, bytes, Some(FILE), || idx::parse_labels(bytes, path)) {
        assert_eq!(bytes.len(), 8 + lb.len(), "{case}");
        ok += 1;
    }
    ok
}

#[test]
fn mutated_valid_files_never_panic() {
    let t0 = Instant::now();
    let (mut cases, mut parsed) = (0, 0);
    for (seed, valid) in [(1, valid_images()), (2, valid_labels())] {
        for (i, bytes) in mutations(seed, &valid, 20_000).enumerate() {
            parsed += check(&format!("idx-mutation-{seed}-{i}"), &bytes);
            cases += 1;
        }
    }
    // Some mutations keep the file valid (a flipped pixel): the deep path is exercised too.
    assert!(
        parsed > 1000,
        "only {parsed} of {cases} mutated files parsed"
    );
    eprintln!("{cases} mutated IDX files in {:.2?}", t0.elapsed());
}

#[test]
fn random_bytes_never_panic() {
    let t0 = Instant::now();
    let mut cases = 0;
    for (seed, magic) in [(3, idx::IMAGES_MAGIC), (4, idx::LABELS_MAGIC)] {
        for (i, bytes) in random_inputs(seed, &magic.to_be_bytes(), 64, 10_000).enumerate() {
            check(&format!("idx-random-{seed}-{i}"), &bytes);
            cases += 1;
        }
    }
    assert_eq!(cases, 20_000);
    eprintln!("{cases} random IDX inputs in {:.2?}", t0.elapsed());
}

#[test]
fn every_huge_dimension_is_rejected_before_allocating() {
    // Each header field set to each edge value, with the small payload kept: the claimed size
    // never matches, so each is an error (a truncation or an overflow), never an allocation.
    let valid = valid_images();
    let mut errors = 0;
    for field in 1..4 {
        for &v in &fuzz::HUGE_U32 {
            let mut b = valid.clone();
            b[field * 4..field * 4 + 4].copy_from_slice(&v.to_be_bytes());
            let case = format!("idx-huge-field{field}-{v:#x}");
            let claimed = [1, 2, 3]
                .map(|f| u32::from_be_bytes(b[f * 4..f * 4 + 4].try_into().unwrap()) as u64);
            let r = no_panic(&case, &b, Some(FILE), || {
                idx::parse_images(&b, Path::new(FILE))
            });
            if claimed.iter().product::<u64>() == 6 * 5 * 4 && claimed[1] * claimed[2] != 0 {
                assert!(r.is_some(), "{case}");
            } else {
                assert!(
                    r.is_none(),
                    "{case}: accepted a header that does not fit the file"
                );
                errors += 1;
            }
        }
    }
    assert!(errors >= 20, "{errors}");
}

#[test]
fn mutated_gzip_files_never_panic() {
    // The gzip path reads from disk: fewer cases, each a real file.
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(&valid_images()).unwrap();
    let gz = e.finish().unwrap();
    let mut cases = 0;
    for (i, bytes) in mutations(5, &gz, 1_000).enumerate() {
        std::fs::write(&path, &bytes).unwrap();
        let case = format!("idx-gzip-{i}");
        no_panic(&case, &bytes, Some(FILE), || idx::read_images(&path));
        no_panic(&case, &bytes, Some(FILE), || idx::read_labels(&path));
        cases += 1;
    }
    eprintln!("{cases} mutated gzip files in {:.2?}", t0.elapsed());
}

#[test]
fn regression_files_are_errors() {
    // Inputs kept from fuzzing and hand-made edge cases: replayed on every run.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with("idx-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let shown = path.display().to_string();
        let r = no_panic(&name, &bytes, Some(&shown), || idx::read_images(&path));
        assert!(r.is_none(), "{name} parsed as images");
        n += 1;
    }
    assert!(n >= 3, "only {n} IDX regression files in {}", dir.display());
}
