//! Every format wgnn reads, on small files written here, with pixels, labels and class names
//! checked exactly: IDX, NumPy .npz (as keras.datasets keeps it), CIFAR binary and pickle
//! batches (Python 2 and 3 pickles), Kaggle CSV and its submission file; where each is looked
//! for; and the errors for bad files.

mod common;
use common::formats::{npy, write_npz, Pickle, CIFAR10_BATCHES};

use std::path::Path;

use wgnn::data::catalog;
use wgnn::data::locate::{Origin, Places};
use wgnn::data::{csv, idx, Format};

// ---------------------------------------------------------------- npz

fn seq(n: usize, mul: usize) -> Vec<u8> {
    (0..n).map(|i| (i * mul % 251) as u8).collect()
}

#[test]
fn npz_grayscale_as_keras_writes_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mnist.npz");
    let (xtr, xte) = (seq(5 * 4 * 3, 7), seq(2 * 4 * 3, 13));
    write_npz(
        &p,
        &[
            ("x_train", npy("|u1", &[5, 4, 3], &xtr)),
            ("y_train", npy("|u1", &[5], &[0, 1, 2, 1, 0])),
            ("x_test", npy("|u1", &[2, 4, 3], &xte)),
            ("y_test", npy("|u1", &[2], &[2, 0])),
        ],
    );
    let s = wgnn::data::load_path(&p, None, false).unwrap();
    assert_eq!(s.shape(), [4, 3, 1]);
    assert_eq!(
        (s.train.images.to_vec(), s.train.labels.clone()),
        (xtr, vec![0, 1, 2, 1, 0])
    );
    assert_eq!(
        (s.test.images.to_vec(), s.test.labels.clone()),
        (xte, vec![2, 0])
    );
    assert_eq!(s.class_names, ["0", "1", "2"]);
    // A folder holding one .npz is read the same way.
    assert_eq!(Format::detect(dir.path()), Some(Format::Npz(p.clone())));
}

#[test]
fn npz_colour_with_int64_column_labels_as_keras_writes_cifar() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cifar.npz");
    let x = seq(3 * 2 * 2 * 3, 5);
    let y: Vec<u8> = [1i64, 0, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let yt: Vec<u8> = [0i64].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npz(
        &p,
        &[
            ("x_train", npy("|u1", &[3, 2, 2, 3], &x)),
            ("y_train", npy("<i8", &[3, 1], &y)),
            ("x_test", npy("|u1", &[1, 2, 2, 3], &x[..12])),
            ("y_test", npy("<i8", &[1, 1], &yt)),
        ],
    );
    let names = Some(vec!["cat".to_string(), "dog".to_string()]);
    let s = wgnn::data::load_path(&p, names, false).unwrap();
    assert_eq!(s.shape(), [2, 2, 3]);
    assert_eq!(s.train.images, x);
    assert_eq!(s.train.labels, [1, 0, 1]);
    assert_eq!(s.class_names, ["cat", "dog"]);
}

#[test]
fn npz_errors_name_the_array() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.npz");
    write_npz(
        &p,
        &[
            ("x_train", npy("<f4", &[1, 1, 1], &[0, 0, 0, 0])),
            ("y_train", npy("|u1", &[1], &[0])),
        ],
    );
    let e = wgnn::data::load_path(&p, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.npz") && e.contains("`x_train`") && e.contains("<f4"),
        "{e}"
    );
    write_npz(
        &p,
        &[
            ("x_train", npy("|u1", &[1, 1, 1], &[0])),
            ("y_train", npy("|u1", &[1], &[0])),
        ],
    );
    let e = wgnn::data::load_path(&p, None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no array `x_test`"), "{e}");
    std::fs::write(&p, b"not a zip").unwrap();
    let e = wgnn::data::load_path(&p, None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a readable .npz"), "{e}");
    // Shapes the images cannot have: no pixels, 4 channels, a product past the address space
    // (each named as the array's own fault, not a cache file's or a mismatch's).
    let big = 1usize << 62;
    for (shape, why) in [
        (vec![1, 0, 0], "no pixels"),
        (vec![1, 2, 2, 4], "1 channel (grayscale) or 3 (RGB)"),
        (vec![big, 4, 1], "cannot be addressed"),
    ] {
        write_npz(
            &p,
            &[
                ("x_train", npy("|u1", &shape, &[0; 16])),
                ("y_train", npy("|u1", &[1], &[0])),
                ("x_test", npy("|u1", &[1, 2, 2], &[0; 4])),
                ("y_test", npy("|u1", &[1], &[0])),
            ],
        );
        let e = wgnn::data::load_path(&p, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`x_train`") && e.contains(why), "{shape:?}: {e}");
    }
}

// ---------------------------------------------------------------- CIFAR

/// Image `k` of a batch, as CIFAR stores it: the R plane, the G plane, the B plane.
fn planes(k: usize) -> Vec<u8> {
    (0..3 * 1024)
        .map(|i| ((k * 31 + i * 7) % 256) as u8)
        .collect()
}

/// The same image interleaved, as wgnn holds it: (R, G, B) per pixel.
fn interleaved(k: usize) -> Vec<u8> {
    let p = planes(k);
    (0..1024)
        .flat_map(|i| [p[i], p[1024 + i], p[2048 + i]])
        .collect()
}

#[test]
fn cifar10_binary_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&d).unwrap();
    let mut k = 0;
    for b in CIFAR10_BATCHES {
        let mut bytes = Vec::new();
        for _ in 0..2 {
            bytes.push((k % 3) as u8);
            bytes.extend(planes(k));
            k += 1;
        }
        std::fs::write(d.join(format!("{b}.bin")), bytes).unwrap();
    }
    std::fs::write(d.join("batches.meta.txt"), "airplane\nautomobile\nbird\n\n").unwrap();
    // Found from the folder above, where the archive unpacked.
    let s = wgnn::data::load_path(dir.path(), None, false).unwrap();
    assert_eq!((s.train.n, s.test.n, s.shape()), (10, 2, [32, 32, 3]));
    assert_eq!(s.train.image(7), &interleaved(7)[..]);
    assert_eq!(s.test.image(1), &interleaved(11)[..]);
    assert_eq!(s.train.labels, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
    assert_eq!(s.class_names, ["airplane", "automobile", "bird"]);
}

#[test]
fn cifar100_binary_fine_and_coarse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-100-binary");
    std::fs::create_dir(&d).unwrap();
    for (f, n) in [("train.bin", 3), ("test.bin", 1)] {
        let mut bytes = Vec::new();
        for k in 0..n {
            bytes.extend([(k % 2) as u8, (k + 2) as u8]);
            bytes.extend(planes(k));
        }
        std::fs::write(d.join(f), bytes).unwrap();
    }
    let fine = wgnn::data::load_path(&d, None, false).unwrap();
    assert_eq!(fine.train.labels, [2, 3, 4]);
    let coarse = wgnn::data::load_path(&d, None, true).unwrap();
    assert_eq!(coarse.train.labels, [0, 1, 0]);
    assert_eq!(coarse.train.image(2), &interleaved(2)[..]);
}

fn batch(protocol: u8, first: usize, n: usize, labels_key: &[&str]) -> Vec<u8> {
    let raw: Vec<u8> = (first..first + n).flat_map(planes).collect();
    Pickle::new(protocol).dict(|p| {
        p.text("batch_label");
        p.text("training batch");
        for (j, key) in labels_key.iter().enumerate() {
            p.text(key);
            let labels: Vec<u32> = (first..first + n).map(|k| ((k + j) % 3) as u32).collect();
            p.int_list(&labels);
        }
        p.text("data");
        p.ndarray([n as u32, 3072], &raw);
        p.text("filenames");
        p.str_list(&["a.png"]);
    })
}

#[test]
fn cifar10_pickle_batches_of_protocols_2_3_and_5() {
    for protocol in [2, 3, 5] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("cifar-10-batches-py");
        std::fs::create_dir(&d).unwrap();
        for (i, b) in CIFAR10_BATCHES.iter().enumerate() {
            std::fs::write(d.join(b), batch(protocol, 2 * i, 2, &["labels"])).unwrap();
        }
        let meta = Pickle::new(protocol).dict(|p| {
            p.text("label_names");
            p.str_list(&["plane", "car", "bird"]);
            p.text("num_vis");
            p.int(3072);
        });
        std::fs::write(d.join("batches.meta"), meta).unwrap();
        let s = wgnn::data::load_path(dir.path(), None, false).unwrap();
        assert_eq!((s.train.n, s.test.n), (10, 2), "protocol {protocol}");
        assert_eq!(s.train.image(9), &interleaved(9)[..]);
        assert_eq!(s.test.image(0), &interleaved(10)[..]);
        assert_eq!(s.train.labels, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(s.class_names, ["plane", "car", "bird"]);
    }
}

#[test]
fn cifar100_pickle_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-100-python");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(
        d.join("train"),
        batch(2, 0, 3, &["coarse_labels", "fine_labels"]),
    )
    .unwrap();
    std::fs::write(
        d.join("test"),
        batch(2, 3, 1, &["coarse_labels", "fine_labels"]),
    )
    .unwrap();
    let meta = Pickle::new(2).dict(|p| {
        p.text("fine_label_names");
        p.str_list(&["apple", "bee", "cup"]);
        p.text("coarse_label_names");
        p.str_list(&["fruit", "insect", "things"]);
    });
    std::fs::write(d.join("meta"), meta).unwrap();
    let fine = wgnn::data::load_path(dir.path(), None, false).unwrap();
    assert_eq!(fine.train.labels, [1, 2, 0]);
    assert_eq!(fine.class_names, ["apple", "bee", "cup"]);
    let coarse = wgnn::data::load_path(dir.path(), None, true).unwrap();
    assert_eq!(coarse.train.labels, [0, 1, 2]);
    assert_eq!(coarse.class_names, ["fruit", "insect", "things"]);
}

#[test]
fn a_pickle_is_read_not_run_and_bad_ones_are_errors() {
    // A pickle that would call os.system is data here: the reader keeps the call as a value and
    // the batch is refused for lacking its arrays.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-10-batches-py");
    std::fs::create_dir(&d).unwrap();
    let evil = b"\x80\x02cos\nsystem\nq\x00U\x04trueq\x01\x85q\x02Rq\x03.".to_vec();
    for b in ["data_batch_1", "test_batch"] {
        std::fs::write(d.join(b), &evil).unwrap();
    }
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_1") && e.contains("not a CIFAR batch"),
        "{e}"
    );
    std::fs::write(d.join("data_batch_1"), b"\x80\x02}q\x00(U\x04data").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not a readable pickle") && e.contains("ends at byte"),
        "{e}"
    );
    std::fs::write(d.join("data_batch_1"), b"\x80\x02\xff.").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("opcode 0xff"), "{e}");
}

#[test]
fn too_few_class_names_blame_the_names_file_and_name_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&d).unwrap();
    for b in CIFAR10_BATCHES {
        let mut bytes = vec![if b == "data_batch_1" { 0 } else { 1 }];
        bytes.extend(planes(0));
        std::fs::write(d.join(format!("{b}.bin")), bytes).unwrap();
    }
    std::fs::write(d.join("batches.meta.txt"), "only\n").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("batches.meta.txt: names 1 class,")
            && e.contains("data_batch_1.bin has label 1 at index 1"),
        "{e}"
    );
}

// ---------------------------------------------------------------- CSV

#[test]
fn kaggle_csv_train_and_unlabelled_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train.csv"),
        "label,pixel0,pixel1,pixel2,pixel3\n3,0,10,20,255\n1,5,6,7,8\r\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        "pixel0,pixel1,pixel2,pixel3\n1,2,3,4\n",
    )
    .unwrap();
    let s = wgnn::data::load_path(dir.path(), None, false).unwrap();
    assert_eq!(s.shape(), [2, 2, 1]);
    assert_eq!(s.train.images, [0, 10, 20, 255, 5, 6, 7, 8]);
    assert_eq!(s.train.labels, [3, 1]);
    assert!(
        s.test.is_empty(),
        "an unlabelled test.csv is not a test set"
    );
    let t = csv::read(&dir.path().join("test.csv")).unwrap();
    assert!(!t.labelled);
    assert_eq!(t.set.images, [1, 2, 3, 4]);

    let sub = dir.path().join("submission.csv");
    csv::write_submission(&sub, &[7, 2, 1]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&sub).unwrap(),
        "ImageId,Label\n1,7\n2,2\n3,1\n"
    );
}

#[test]
fn csv_errors_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.csv");
    std::fs::write(&p, "label,a,b,c,d\n1,2,3,4,300\n").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train.csv") && e.contains("line 2, column 5") && e.contains("300"),
        "{e}"
    );
    std::fs::write(&p, "label,a,b,c\n1,2,3,4\n").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3 pixel columns do not make a square image"),
        "{e}"
    );
    std::fs::write(&p, "label,a,b,c,d\n1,2,3\n").unwrap();
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2: 3 columns, but the header has 5"), "{e}");
}

/// What other tools write: a byte-order mark (Excel), quoted cells, no header row (the column
/// count tells whether the first is a label); and a header with no rows is an error, not an
/// empty set.
#[test]
fn csv_with_a_bom_quotes_or_no_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.csv");
    let want = |s: &wgnn::data::Splits| {
        assert_eq!((s.shape(), s.train.labels.clone()), ([2, 2, 1], vec![1, 0]));
        assert_eq!(s.train.images.to_vec(), [2, 3, 4, 5, 6, 7, 8, 9]);
    };
    for text in [
        "\u{feff}label,p0,p1,p2,p3\n1,2,3,4,5\n0,6,7,8,9\n",
        "\"label\",\"p0\",\"p1\",\"p2\",\"p3\"\n\"1\",\"2\",3,4,5\n0,6,7,8,9\n",
        "1,2,3,4,5\n0,6,7,8,9\n",
    ] {
        std::fs::write(&p, text).unwrap();
        want(&wgnn::data::load_path(dir.path(), None, false).unwrap());
    }
    // Without a header and a square number of columns, there is no label column.
    let t = dir.path().join("test.csv");
    std::fs::write(&t, "2,3,4,5\n").unwrap();
    let s = wgnn::data::csv::read(&t).unwrap();
    assert!(!s.labelled && s.set.n == 1);
    std::fs::write(&t, "p0,p1,p2,p3\n").unwrap();
    let e = wgnn::data::csv::read(&t).err().unwrap().to_string();
    assert!(
        e.contains("test.csv") && e.contains("no rows of pixels"),
        "{e}"
    );
}

// ---------------------------------------------------------------- IDX and where data is found

fn write_idx(dir: &Path, n: usize, labels: &[u8]) {
    let px = seq(n * 6, 3);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(idx::TRAIN_IMAGES),
        idx::encode_images(n, 2, 3, &px).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(idx::TRAIN_LABELS),
        idx::encode_labels(labels).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(idx::TEST_IMAGES),
        idx::encode_images(n, 2, 3, &px).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(idx::TEST_LABELS),
        idx::encode_labels(labels).unwrap(),
    )
    .unwrap();
}

#[test]
fn idx_with_the_catalogs_class_names() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path(), 3, &[9, 0, 8]);
    let info = catalog::find("fashion-mnist").unwrap();
    let s = wgnn::data::load_path(dir.path(), info.names(), false).unwrap();
    assert_eq!(s.train.images, seq(18, 3));
    assert_eq!(s.class_names[9], "Ankle boot");
    assert_eq!(s.classes(), 10);
}

#[test]
fn the_search_order_and_keras_cache() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mnist = catalog::find("mnist").unwrap();
    let keras = r.join("keras");
    std::fs::create_dir_all(&keras).unwrap();
    write_npz(
        &keras.join("mnist.npz"),
        &[
            ("x_train", npy("|u1", &[1, 2, 3], &[0; 6])),
            ("y_train", npy("|u1", &[1], &[0])),
            ("x_test", npy("|u1", &[1, 2, 3], &[0; 6])),
            ("y_test", npy("|u1", &[1], &[0])),
        ],
    );
    let mut places = Places {
        data_dir: None,
        wgnn_data: Some(r.join("wd")),
        working: Some(r.join("cwd")),
        user: Some(r.join("user")),
        keras: Some(keras.clone()),
    };
    let found = |p: &Places| p.locate(mnist).map(|l| l.origin);
    assert_eq!(found(&places), Some(Origin::KerasCache));
    write_idx(&r.join("user/mnist"), 1, &[0]);
    assert_eq!(found(&places), Some(Origin::UserDir));
    write_idx(&r.join("cwd/mnist"), 1, &[0]);
    assert_eq!(found(&places), Some(Origin::WorkingDir));
    write_idx(&r.join("wd/mnist"), 1, &[0]);
    assert_eq!(found(&places), Some(Origin::WgnnData));
    places.data_dir = Some(r.join("nowhere"));
    assert_eq!(
        found(&places),
        None,
        "a folder given is the only place looked at"
    );
    assert_eq!(places.download_dir(mnist), Some(r.join("user/mnist")));
    let coarse = catalog::find("cifar100-coarse").unwrap();
    assert_eq!(places.download_dir(coarse), Some(r.join("user/cifar100")));
}

/// Labels without class names number the classes 0..N-1: a label that would leave most classes
/// without an image (one damaged byte of MNIST's label file: 99 among 0..9; 200 in an `.npz`) is
/// refused, naming the file, the label and its index, instead of training a model of classes no
/// image has; and data of one class is refused with that reason.
#[test]
fn a_label_past_a_gap_and_a_single_class_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut labels: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    labels[13] = 99;
    write_idx(dir.path(), 20, &labels);
    let e = wgnn::data::load_path(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    for needle in [
        idx::TRAIN_LABELS,
        "label 99 at index 13",
        "100 classes, 89 of them",
        "classes 10 to 98",
    ] {
        assert!(e.contains(needle), "{needle:?} not in: {e}");
    }
    let p = dir.path().join("gap.npz");
    write_npz(
        &p,
        &[
            ("x_train", npy("|u1", &[3, 2, 2], &seq(12, 5))),
            ("y_train", npy("|u1", &[3], &[0, 200, 1])),
            ("x_test", npy("|u1", &[1, 2, 2], &seq(4, 3))),
            ("y_test", npy("|u1", &[1], &[0])),
        ],
    );
    let e = wgnn::data::load_path(&p, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("label 200 at index 1") && e.contains("classes 2 to 199"),
        "{e}"
    );
    let one = tempfile::tempdir().unwrap();
    write_idx(one.path(), 4, &[0, 0, 0, 0]);
    let e = wgnn::data::load_path(one.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("one class"), "{e}");
}

/// A deflate bomb: an array whose entry inflates to 1 GiB past the few bytes its shape declares
/// (a few MB on disk). Only the declared bytes are decompressed, so reading it costs no memory.
#[cfg(target_os = "linux")]
#[test]
fn an_npz_entry_that_inflates_past_its_shape_is_read_only_as_far_as_its_shape() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.npz");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let arrays = [
        ("x_train", npy("|u1", &[2, 2, 2], &seq(8, 3))),
        ("y_train", npy("|u1", &[2], &[0, 1])),
        ("x_test", npy("|u1", &[1, 2, 2], &seq(4, 5))),
        ("y_test", npy("|u1", &[1], &[1])),
    ];
    let zeros = vec![0u8; 1 << 20];
    for (name, bytes) in &arrays {
        z.start_file(format!("{name}.npy"), opts).unwrap();
        z.write_all(bytes).unwrap();
        if *name == "x_train" {
            for _ in 0..1024 {
                z.write_all(&zeros).unwrap();
            }
        }
    }
    z.finish().unwrap();
    let before = common::run::peak_memory();
    let s = wgnn::data::load_path(&p, None, false).unwrap();
    assert_eq!(s.train.images.to_vec(), seq(8, 3));
    let grew = common::run::peak_memory().saturating_sub(before);
    assert!(grew < 256 << 20, "reading it took {} MiB", grew >> 20);
}
