//! Labelled image data: the formats wgnn reads (IDX, npz, CIFAR batches, CSV), the datasets it
//! knows by name and where it finds or downloads them, splitting, the preprocessing of a user's
//! own digit image, and terminal rendering.

pub mod ascii;
pub mod cache;
pub mod catalog;
pub mod cifar;
pub mod csv;
pub mod dataset;
pub mod download;
pub mod folder;
pub mod folder_cache;
pub mod folder_scan;
pub mod format;
pub mod formats;
pub mod idx;
pub mod image;
pub mod locate;
pub mod npz;
pub mod packed;
pub mod pickle;
pub mod progress;

pub use dataset::{
    check_labels, shape_str, split_last, split_validation, Dataset, Skipped, Splits,
};
pub use format::{Format, ReadOptions};
pub use formats::{load_path, read_path, read_path_with};

/// Loads `dir` as the old single-format loader did: whatever data it holds, classes from its
/// labels.
pub fn load_dir(dir: &std::path::Path) -> wgnn_engine::error::Result<Splits> {
    load_path(dir, None, false)
}
