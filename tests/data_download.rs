//! Downloads, against a file server on 127.0.0.1 (never the internet): a good download, a
//! connection dropped halfway and resumed with a Range request, a part left by an earlier run
//! resumed, a corrupted file, a 404, an unreachable host, two processes' worth of fetches at
//! once, an archive unpacked; and `wgnn data fetch` / `wgnn train --dataset` end to end with
//! `WGNN_MIRROR` and a home folder of their own.

mod common;

use std::io::Write;
use std::path::Path;

use common::http::Server;
use sha2::{Digest as _, Sha256};
use wgnn::data::catalog::{Digest, Info, Remote};
use wgnn::data::download::{fetch, Source};
use wgnn::data::progress::Quiet;
use wgnn::data::{idx, Format};

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn sha256_hex(b: &[u8]) -> &'static str {
    let d = Sha256::digest(b);
    leak(d.iter().map(|x| format!("{x:02x}")).collect::<String>()).as_str()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A toy dataset of the IDX layout: 20 training and 6 test images of 4x3, its four gzip files
/// (served by name) and a catalog entry whose digests are theirs.
struct Toy {
    info: &'static Info,
    files: Vec<(&'static str, Vec<u8>)>,
    train_images: Vec<u8>,
}

fn toy(name: &'static str) -> Toy {
    let train_images: Vec<u8> = (0..20 * 12).map(|i| (i * 7 % 256) as u8).collect();
    let train_labels: Vec<u8> = (0..20).map(|i| (i % 3) as u8).collect();
    let test_images: Vec<u8> = (0..6 * 12).map(|i| (i * 11 % 256) as u8).collect();
    let test_labels: Vec<u8> = (0..6).map(|i| (i % 3) as u8).collect();
    let files = vec![
        (
            "train-images-idx3-ubyte.gz",
            gzip(&idx::encode_images(20, 4, 3, &train_images).unwrap()),
        ),
        (
            "train-labels-idx1-ubyte.gz",
            gzip(&idx::encode_labels(&train_labels).unwrap()),
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            gzip(&idx::encode_images(6, 4, 3, &test_images).unwrap()),
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            gzip(&idx::encode_labels(&test_labels).unwrap()),
        ),
    ];
    let remotes: Vec<Remote> = files
        .iter()
        .map(|(f, b)| Remote {
            file: f,
            bases: &[],
            digests: leak(vec![Digest::Sha256(sha256_hex(b))]).as_slice(),
            untar: false,
        })
        .collect();
    let info = leak(Info {
        name,
        title: "toy",
        class_names: &["a", "b", "c"],
        classes: 3,
        shape: [4, 3, 1],
        train: 20,
        test: 6,
        files: leak(remotes).as_slice(),
        keras: None,
        coarse: false,
    });
    Toy {
        info,
        files,
        train_images,
    }
}

fn serve(server: &Server, t: &Toy) {
    for (f, b) in &t.files {
        server.put(&format!("/{}/{f}", t.info.name), b.clone());
    }
}

fn source(server: &Server) -> Source {
    Source {
        mirror: Some(server.url.clone()),
        ..Source::default()
    }
}

/// The folder holds the toy's data, read back exactly, and nothing left over from the download.
fn assert_fetched(dest: &Path, t: &Toy) {
    let splits = Format::detect(dest)
        .expect("a format")
        .load(t.info.names(), false)
        .unwrap();
    assert_eq!(splits.train.images, t.train_images);
    assert_eq!(splits.class_names, ["a", "b", "c"]);
    let leftovers: Vec<String> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part") || n.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn a_good_download_is_checked_and_renamed_into_place() {
    let (server, t, dir) = (Server::start(), toy("good"), tempfile::tempdir().unwrap());
    serve(&server, &t);
    fetch(t.info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert_fetched(dir.path(), &t);
    // A second fetch finds every file and asks for nothing.
    let before = server.seen().len();
    fetch(t.info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert_eq!(server.seen().len(), before);
}

#[test]
fn a_connection_dropped_halfway_is_resumed_with_a_range_request() {
    let (server, t, dir) = (
        Server::start(),
        toy("dropped"),
        tempfile::tempdir().unwrap(),
    );
    serve(&server, &t);
    let path = "/dropped/train-images-idx3-ubyte.gz";
    server.drop_halfway_once(path);
    fetch(t.info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert_fetched(dir.path(), &t);
    let ranges: Vec<u64> = server.ranges(path).into_iter().flatten().collect();
    assert_eq!(ranges.len(), 1, "requests: {:?}", server.seen());
    assert!(ranges[0] > 0, "resumed from {}", ranges[0]);
}

/// A mirror that sends the headers and half the body, then goes silent with the connection open:
/// the read times out (per read, here 2 s), and the transfer resumes from what it has.
#[test]
fn a_mirror_that_goes_silent_halfway_is_resumed_after_the_read_timeout() {
    let (server, t, dir) = (Server::start(), toy("silent"), tempfile::tempdir().unwrap());
    serve(&server, &t);
    let path = "/silent/train-images-idx3-ubyte.gz";
    server.stall_halfway_once(path);
    let src = Source {
        read_timeout: std::time::Duration::from_secs(2),
        ..source(&server)
    };
    fetch(t.info, dir.path(), &src, &mut Quiet).unwrap();
    assert_fetched(dir.path(), &t);
    let ranges: Vec<u64> = server.ranges(path).into_iter().flatten().collect();
    assert!(
        ranges.len() == 1 && ranges[0] > 0,
        "requests: {:?}",
        server.seen()
    );
}

#[test]
fn a_part_left_by_an_earlier_run_is_resumed() {
    let (server, t, dir) = (Server::start(), toy("part"), tempfile::tempdir().unwrap());
    serve(&server, &t);
    let (name, bytes) = &t.files[0];
    let half = bytes.len() / 2;
    std::fs::write(dir.path().join(format!("{name}.part")), &bytes[..half]).unwrap();
    fetch(t.info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert_fetched(dir.path(), &t);
    let path = format!("/part/{name}");
    let first = server.seen().into_iter().find(|s| s.path == path).unwrap();
    assert_eq!(first.range_from, Some(half as u64));
}

#[test]
fn a_corrupted_file_is_deleted_and_both_hashes_are_named() {
    let (server, t, dir) = (
        Server::start(),
        toy("corrupt"),
        tempfile::tempdir().unwrap(),
    );
    serve(&server, &t);
    let (name, bytes) = &t.files[1];
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    server.put(&format!("/corrupt/{name}"), bad.clone());
    let e = fetch(t.info, dir.path(), &source(&server), &mut Quiet)
        .unwrap_err()
        .to_string();
    let Digest::Sha256(want) = t.info.files[1].digests[0] else {
        unreachable!()
    };
    for needle in ["checksum mismatch", name, want, sha256_hex(&bad), "deleted"] {
        assert!(e.contains(needle), "{needle:?} not in: {e}");
    }
    assert!(!dir.path().join(name).exists());
    assert!(!dir.path().join(format!("{name}.part")).exists());
    assert!(
        !dir.path().join(format!(".{name}.lock")).exists(),
        "the lock is left behind"
    );
}

/// A part of other bytes left by an earlier run (resumed, it cannot match the checksum) is thrown
/// away and the file downloaded from nothing, in the same fetch.
#[test]
fn a_garbage_part_from_an_earlier_run_is_downloaded_again_at_once() {
    let (server, t, dir) = (
        Server::start(),
        toy("garbage"),
        tempfile::tempdir().unwrap(),
    );
    serve(&server, &t);
    let (name, bytes) = &t.files[0];
    let garbage = vec![0x5a; bytes.len() / 2];
    std::fs::write(dir.path().join(format!("{name}.part")), &garbage).unwrap();
    fetch(t.info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert_fetched(dir.path(), &t);
    let path = format!("/garbage/{name}");
    let asked = server.ranges(&path);
    assert_eq!(
        asked,
        [Some(garbage.len() as u64), None],
        "resumed, then from nothing"
    );
}

#[test]
fn a_404_names_the_address_and_the_folder_to_fill_by_hand() {
    let (server, t, dir) = (
        Server::start(),
        toy("missing"),
        tempfile::tempdir().unwrap(),
    );
    let e = fetch(t.info, dir.path(), &source(&server), &mut Quiet)
        .unwrap_err()
        .to_string();
    let url = format!("{}/missing/train-images-idx3-ubyte.gz", server.url);
    for needle in ["404", url.as_str(), &dir.path().display().to_string()] {
        assert!(e.contains(needle), "{needle:?} not in: {e}");
    }
}

#[test]
fn an_unreachable_host_is_a_clear_error() {
    let (t, dir) = (toy("offline"), tempfile::tempdir().unwrap());
    // Nothing listens on port 1 of the loopback address: the connection is refused at once.
    let src = Source {
        mirror: Some("http://127.0.0.1:1".into()),
        ..Source::default()
    };
    let e = fetch(t.info, dir.path(), &src, &mut Quiet)
        .unwrap_err()
        .to_string();
    for needle in [
        "could not download",
        "http://127.0.0.1:1/offline/train-images-idx3-ubyte.gz",
        "by hand",
    ] {
        assert!(e.contains(needle), "{needle:?} not in: {e}");
    }
}

#[test]
fn fetches_of_one_dataset_at_once_do_not_corrupt_each_other() {
    let (server, t, dir) = (
        Server::start(),
        toy("together"),
        tempfile::tempdir().unwrap(),
    );
    serve(&server, &t);
    let info = t.info;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (d, src) = (dir.path().to_path_buf(), source(&server));
            std::thread::spawn(move || fetch(info, &d, &src, &mut Quiet).map_err(|e| e.to_string()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_fetched(dir.path(), &t);
}

/// A CIFAR-10 binary archive of 2 images per batch; the pixels of image k are k*3+plane.
fn cifar_archive() -> (Vec<u8>, Vec<u8>) {
    let mut tarball = tar::Builder::new(Vec::new());
    let mut first_train = Vec::new();
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tarball
            .append_data(&mut h, format!("cifar-10-batches-bin/{name}"), bytes)
            .unwrap();
    };
    for b in common::formats::CIFAR10_BATCHES {
        let mut rec = Vec::new();
        for k in 0..2u8 {
            rec.push(k);
            for plane in 0..3u8 {
                rec.extend(std::iter::repeat_n(k * 3 + plane, 1024));
            }
        }
        if b == "data_batch_1" {
            first_train = rec.clone();
        }
        add(&format!("{b}.bin"), &rec);
    }
    add("batches.meta.txt", b"cat\ndog\n");
    (gzip(&tarball.into_inner().unwrap()), first_train)
}

#[test]
fn an_archive_is_unpacked_and_removed() {
    let (server, dir) = (Server::start(), tempfile::tempdir().unwrap());
    let (archive, _) = cifar_archive();
    server.put("/tarred/cifar-10-binary.tar.gz", archive.clone());
    let info = leak(Info {
        name: "tarred",
        title: "toy CIFAR",
        class_names: &[],
        classes: 2,
        shape: [32, 32, 3],
        train: 10,
        test: 2,
        files: leak([Remote {
            file: "cifar-10-binary.tar.gz",
            bases: &[],
            digests: leak([Digest::Sha256(sha256_hex(&archive))]),
            untar: true,
        }]),
        keras: None,
        coarse: false,
    });
    fetch(info, dir.path(), &source(&server), &mut Quiet).unwrap();
    assert!(!dir.path().join("cifar-10-binary.tar.gz").exists());
    let splits = Format::detect(dir.path())
        .unwrap()
        .load(None, false)
        .unwrap();
    assert_eq!((splits.train.n, splits.test.n), (10, 2));
    assert_eq!(splits.class_names, ["cat", "dog"]);
    // Image 1 of the first batch: every pixel is (3, 4, 5).
    assert_eq!(&splits.train.image(1)[..6], &[3, 4, 5, 3, 4, 5]);
}

/// The checkout's MNIST, served as a mirror serves it: `MIRROR/mnist/FILE`.
fn mnist_mirror() -> Server {
    let server = Server::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        server.put(&format!("/mnist/{f}"), std::fs::read(root.join(f)).unwrap());
    }
    server
}

/// `wgnn ARGS` run from `home` (no `data/` there), with its own per-user folders and the mirror.
fn wgnn_at_home(home: &Path, mirror: &str, args: &[&str]) -> std::process::Output {
    common::run::command(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("share"))
        .env_remove("WGNN_DATA")
        .env_remove("KERAS_HOME")
        .env("WGNN_MIRROR", mirror)
        .output()
        .unwrap()
}

#[test]
fn train_from_a_home_folder_downloads_once_and_then_finds_the_files() {
    let (server, home) = (mnist_mirror(), tempfile::tempdir().unwrap());
    let h = home.path();
    let train = [
        "train",
        "--dataset",
        "mnist",
        "--model",
        "tiny",
        "--epochs",
        "1",
        "--limit",
        "512",
        "--backend",
        "cpu",
    ];
    let mut args = train.to_vec();
    let out1 = h.join("run1").display().to_string();
    args.extend(["--out", &out1]);
    let o = wgnn_at_home(h, &server.url, &args);
    let t = common::run::text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Downloading mnist"), "{t}");
    let fetched = server.seen().len();
    assert_eq!(fetched, 4, "{:?}", server.seen());
    // MNIST's files were recompressed for the checkout: they pass by their raw SHA-256.
    let dest = h.join("share/wgnn/mnist");
    assert!(dest.join("t10k-labels-idx1-ubyte.gz").is_file());

    let out2 = h.join("run2").display().to_string();
    let mut args = train.to_vec();
    args.extend(["--out", &out2]);
    let o = wgnn_at_home(h, &server.url, &args);
    let t = common::run::text(&o);
    assert!(o.status.success(), "{t}");
    assert!(!t.contains("Downloading"), "{t}");
    assert_eq!(server.seen().len(), fetched);

    let o = wgnn_at_home(h, &server.url, &["data", "path", "mnist"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        dest.display().to_string()
    );
    let o = wgnn_at_home(h, &server.url, &["data", "list"]);
    let t = common::run::text(&o);
    assert!(t.contains("user data folder, IDX"), "{t}");
    assert!(t.contains("not downloaded"), "{t}");
}

#[test]
fn data_fetch_without_a_network_names_the_folder_and_fails() {
    let home = tempfile::tempdir().unwrap();
    let o = wgnn_at_home(
        home.path(),
        "http://127.0.0.1:1",
        &["data", "fetch", "kmnist"],
    );
    let t = common::run::text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let dest = home.path().join("share/wgnn/kmnist").display().to_string();
    for needle in ["could not download", dest.as_str(), "by hand"] {
        assert!(t.contains(needle), "{needle:?} not in: {t}");
    }
    assert!(!t.contains("panicked"), "{t}");
}
