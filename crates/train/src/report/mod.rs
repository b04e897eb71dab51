//! Training reports: confusion matrices and PNG plots.

pub mod confusion;
pub mod plot;

pub use confusion::Confusion;
pub use plot::{
    compare_png, confusion_png, confusion_png_named, curves_png, RunCurves, RUN_COLORS,
};
