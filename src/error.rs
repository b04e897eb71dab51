//! One error type for the crate: every failure names its culprit (file, layer, flag or kernel).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// General failure; the message names the culprit.
    #[error("{0}")]
    Msg(String),
    /// A bad or missing file.
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    /// A bad model specification (the message names the layer).
    #[error("model: {0}")]
    Model(String),
    /// A GPU-side failure: no adapter, validation, out of memory, device lost.
    #[error("{0}")]
    Gpu(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for `Err(Error::Msg(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::Msg(format!($($arg)*))) };
}
