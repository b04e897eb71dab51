//! Training reports: confusion matrices, epoch history (CSV), PNG plots and
//! atomic file writing.

pub mod confusion;
pub mod fs;
pub mod history;
pub mod plot;

pub use confusion::Confusion;
pub use fs::write_atomic;
pub use history::{EpochRecord, History};
pub use plot::{compare_png, confusion_png, curves_png, RunCurves, RUN_COLORS};
