//! Crate-wide error type.

use std::path::Path;

/// Every fallible operation in the crate returns this error. Messages always
/// name the culprit (file, layer, field) so they can be shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// General error; the message names the culprit.
    #[error("{0}")]
    Msg(String),
    /// A bad or missing file.
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    /// A bad model specification (the message names the layer).
    #[error("model: {0}")]
    Model(String),
    /// GPU / runtime failure.
    #[error("{0}")]
    Gpu(String),
    /// No GPU adapter could be opened; the message says what to install. A caller with another
    /// way to run (the CPU backend) adds it.
    #[error("{0}")]
    NoAdapter(String),
    /// A non-finite loss stopped a training pass at `step` (1-based, within the pass).
    #[error("training diverged: the loss is {loss} by step {step} (try a lower learning rate)")]
    Diverged { step: usize, loss: f32 },
    /// A tensor holds NaN or infinity (the message names it).
    #[error("{0}")]
    NonFinite(String),
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Crate-wide result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A general error.
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }

    /// A bad or missing file.
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().display().to_string(),
            msg: msg.into(),
        }
    }

    /// A bad model specification.
    pub fn model(m: impl Into<String>) -> Self {
        Error::Model(m.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Shorthand for `Err(Error::Msg(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::Msg(format!($($arg)*))) };
}
