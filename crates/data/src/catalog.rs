//! The datasets wgnn knows by name: their classes, shape and sizes, where torchvision and Keras
//! download them from, and a checksum of every file as those projects publish it.

use std::path::PathBuf;

/// A digest a downloaded file must match (any one of a file's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// MD5 of the file as served (torchvision's checks).
    Md5(&'static str),
    /// SHA-256 of the file as served (Keras' checks).
    Sha256(&'static str),
    /// SHA-256 of a gzip file's decompressed bytes, so that a mirror which recompressed the same
    /// data passes.
    RawSha256(&'static str),
}

/// One file to download: its canonical name, the addresses it is served from (the name is
/// appended) and its digests.
#[derive(Clone, Copy, Debug)]
pub struct Remote {
    pub file: &'static str,
    pub bases: &'static [&'static str],
    pub digests: &'static [Digest],
    /// Unpacked after the check (a `.tar.gz` of the batches folder); the archive is then removed.
    pub untar: bool,
}

/// A dataset known by name.
#[derive(Clone, Copy, Debug)]
pub struct Info {
    pub name: &'static str,
    pub title: &'static str,
    /// Class names; empty where they are read from the data (CIFAR-100's meta file).
    pub class_names: &'static [&'static str],
    pub classes: usize,
    /// `[height, width, channels]`.
    pub shape: [usize; 3],
    pub train: usize,
    pub test: usize,
    pub files: &'static [Remote],
    /// Where Keras keeps it under `~/.keras/datasets/` (a file or a folder), read in place.
    pub keras: Option<&'static str>,
    /// CIFAR-100's 20 superclasses instead of its 100 classes.
    pub coarse: bool,
}

impl Info {
    /// The class names as owned strings, or `None` where the data names them.
    pub fn names(&self) -> Option<Vec<String>> {
        (!self.class_names.is_empty())
            .then(|| self.class_names.iter().map(|s| s.to_string()).collect())
    }

    /// Where Keras' cache would hold it, under `keras_dir` (`~/.keras/datasets`).
    pub fn keras_path(&self, keras_dir: &std::path::Path) -> Option<PathBuf> {
        self.keras.map(|k| keras_dir.join(k))
    }
}

const DIGITS: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const MNIST_BASES: &[&str] = &["https://ossci-datasets.s3.amazonaws.com/mnist/"];
const FASHION_BASES: &[&str] = &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];
const KMNIST_BASES: &[&str] = &["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"];
const TORONTO: &[&str] = &["https://www.cs.toronto.edu/~kriz/"];

const fn idx(
    file: &'static str,
    bases: &'static [&'static str],
    digests: &'static [Digest],
) -> Remote {
    Remote {
        file,
        bases,
        digests,
        untar: false,
    }
}

use Digest::{Md5, RawSha256, Sha256};

// The MD5s are torchvision's (torchvision/datasets/mnist.py, cifar.py); the raw SHA-256s were
// computed here from the checkout's data/mnist (they match ../shared/data/mnist/SHA256SUMS.raw)
// and from Debian's dataset-fashion-mnist package.
const MNIST_FILES: &[Remote] = &[
    idx(
        "train-images-idx3-ubyte.gz",
        MNIST_BASES,
        &[
            Md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RawSha256("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ],
    ),
    idx(
        "train-labels-idx1-ubyte.gz",
        MNIST_BASES,
        &[
            Md5("d53e105ee54ea40749a09fcbcd1e9432"),
            RawSha256("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ],
    ),
    idx(
        "t10k-images-idx3-ubyte.gz",
        MNIST_BASES,
        &[
            Md5("9fb629c4189551a2d022fa330f9573f3"),
            RawSha256("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ],
    ),
    idx(
        "t10k-labels-idx1-ubyte.gz",
        MNIST_BASES,
        &[
            Md5("ec29112dd5afa0611ce80d1b7f02629c"),
            RawSha256("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ],
    ),
];

const FASHION_FILES: &[Remote] = &[
    idx(
        "train-images-idx3-ubyte.gz",
        FASHION_BASES,
        &[
            Md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            RawSha256("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ],
    ),
    idx(
        "train-labels-idx1-ubyte.gz",
        FASHION_BASES,
        &[
            Md5("25c81989df183df01b3e8a0aad5dffbe"),
            RawSha256("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ],
    ),
    idx(
        "t10k-images-idx3-ubyte.gz",
        FASHION_BASES,
        &[
            Md5("bef4ecab320f06d8554ea6380940ec79"),
            RawSha256("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ],
    ),
    idx(
        "t10k-labels-idx1-ubyte.gz",
        FASHION_BASES,
        &[
            Md5("bb300cfdad3c16e7a12a480ee83cd310"),
            RawSha256("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ],
    ),
];

const KMNIST_FILES: &[Remote] = &[
    idx(
        "train-images-idx3-ubyte.gz",
        KMNIST_BASES,
        &[Md5("bdb82020997e1d708af4cf47b453dcf7")],
    ),
    idx(
        "train-labels-idx1-ubyte.gz",
        KMNIST_BASES,
        &[Md5("e144d726b3acfaa3e44228e80efcd344")],
    ),
    idx(
        "t10k-images-idx3-ubyte.gz",
        KMNIST_BASES,
        &[Md5("5c965bf0a639b31b8f53240b1b52f4d7")],
    ),
    idx(
        "t10k-labels-idx1-ubyte.gz",
        KMNIST_BASES,
        &[Md5("7320c461ea6c1c855c0b718fb2a4b134")],
    ),
];

const CIFAR10_FILES: &[Remote] = &[Remote {
    file: "cifar-10-python.tar.gz",
    bases: TORONTO,
    digests: &[
        Md5("c58f30108f718f92721af3b95e74349a"),
        Sha256("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    ],
    untar: true,
}];

const CIFAR100_FILES: &[Remote] = &[Remote {
    file: "cifar-100-python.tar.gz",
    bases: TORONTO,
    digests: &[Md5("eb9058c3a382ffc7106e4002c42a8d85")],
    untar: true,
}];

/// Every dataset wgnn knows by name; the first is the default.
pub const DATASETS: &[Info] = &[
    Info {
        name: "mnist",
        title: "MNIST handwritten digits",
        class_names: DIGITS,
        classes: 10,
        shape: [28, 28, 1],
        train: 60_000,
        test: 10_000,
        files: MNIST_FILES,
        keras: Some("mnist.npz"),
        coarse: false,
    },
    Info {
        name: "fashion-mnist",
        title: "Zalando's Fashion-MNIST clothing",
        class_names: &[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        classes: 10,
        shape: [28, 28, 1],
        train: 60_000,
        test: 10_000,
        files: FASHION_FILES,
        keras: Some("fashion-mnist"),
        coarse: false,
    },
    Info {
        name: "kmnist",
        title: "Kuzushiji-MNIST cursive Japanese",
        class_names: &["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        classes: 10,
        shape: [28, 28, 1],
        train: 60_000,
        test: 10_000,
        files: KMNIST_FILES,
        keras: None,
        coarse: false,
    },
    Info {
        name: "cifar10",
        title: "CIFAR-10 colour photos",
        class_names: &[
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ],
        classes: 10,
        shape: [32, 32, 3],
        train: 50_000,
        test: 10_000,
        files: CIFAR10_FILES,
        keras: Some("cifar-10-batches-py"),
        coarse: false,
    },
    Info {
        name: "cifar100",
        title: "CIFAR-100 colour photos (fine labels)",
        class_names: &[],
        classes: 100,
        shape: [32, 32, 3],
        train: 50_000,
        test: 10_000,
        files: CIFAR100_FILES,
        keras: Some("cifar-100-python"),
        coarse: false,
    },
    Info {
        name: "cifar100-coarse",
        title: "CIFAR-100 colour photos (20 superclasses)",
        class_names: &[],
        classes: 20,
        shape: [32, 32, 3],
        train: 50_000,
        test: 10_000,
        files: CIFAR100_FILES,
        keras: Some("cifar-100-python"),
        coarse: true,
    },
];

/// The dataset called `name`.
pub fn find(name: &str) -> Option<&'static Info> {
    DATASETS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The names, for messages: "mnist, fashion-mnist, ...".
pub fn names() -> String {
    DATASETS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The folder a dataset's files live in under a data root (`cifar100-coarse` shares
/// `cifar100`'s).
pub fn folder(info: &Info) -> &'static str {
    if info.coarse {
        "cifar100"
    } else {
        info.name
    }
}
