//! Where a dataset known by name is looked for, in order: the folder given, `$WGNN_DATA/NAME`,
//! `data/NAME` under the working directory, the per-user data folder, and Keras' cache read in
//! place. The caller (the app) fills `Places` from its flags and environment.

use std::path::PathBuf;

use super::catalog::{folder, Info};
use super::format::Format;

/// The folders to search, each optional.
#[derive(Clone, Debug, Default)]
pub struct Places {
    /// `--data-dir`: the dataset's folder (or `.npz` file) itself.
    pub data_dir: Option<PathBuf>,
    /// `$WGNN_DATA`: a root holding one folder per dataset.
    pub wgnn_data: Option<PathBuf>,
    /// `data/` under the working directory (the checkout's shipped MNIST is `data/mnist`).
    pub working: Option<PathBuf>,
    /// The per-user root (`~/.local/share/wgnn`); downloads go here.
    pub user: Option<PathBuf>,
    /// Keras' cache, `~/.keras/datasets`.
    pub keras: Option<PathBuf>,
}

/// Which of the places a dataset was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    DataDir,
    WgnnData,
    WorkingDir,
    UserDir,
    KerasCache,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::DataDir => "folder given",
            Origin::WgnnData => "$WGNN_DATA",
            Origin::WorkingDir => "working directory",
            Origin::UserDir => "user data folder",
            Origin::KerasCache => "Keras cache",
        }
    }
}

/// A dataset found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub format: Format,
    pub origin: Origin,
}

impl Places {
    /// The candidate paths for `info`, in search order; a folder given is the only one.
    pub fn candidates(&self, info: &Info) -> Vec<(PathBuf, Origin)> {
        if let Some(d) = &self.data_dir {
            return vec![(d.clone(), Origin::DataDir)];
        }
        let name = folder(info);
        let mut out = Vec::new();
        let roots = [
            (&self.wgnn_data, Origin::WgnnData),
            (&self.working, Origin::WorkingDir),
            (&self.user, Origin::UserDir),
        ];
        for (root, origin) in roots {
            if let Some(r) = root {
                out.push((r.join(name), origin));
            }
        }
        if let Some(k) = self.keras.as_ref().and_then(|k| info.keras_path(k)) {
            out.push((k, Origin::KerasCache));
        }
        out
    }

    /// The first place that holds `info` in a format wgnn reads.
    pub fn locate(&self, info: &Info) -> Option<Located> {
        self.candidates(info)
            .into_iter()
            .find_map(|(p, origin)| Format::detect(&p).map(|format| Located { format, origin }))
    }

    /// The folder a download of `info` goes to.
    pub fn download_dir(&self, info: &Info) -> Option<PathBuf> {
        self.user.as_ref().map(|u| u.join(folder(info)))
    }
}
