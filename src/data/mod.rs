//! MNIST-style data: IDX file parsing, dataset loading and splitting, image
//! preprocessing for user-supplied digits, and terminal rendering.

pub mod ascii;
pub mod idx;
pub mod image;
pub mod mnist;

pub use mnist::{load_dir, split_last, split_validation, Dataset, Mnist};
