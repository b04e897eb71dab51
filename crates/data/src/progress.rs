//! How the data crate reports long work as it goes (a download, a conversion into the packed
//! cache, decoding an image folder): a trait the caller implements (the command line draws
//! progress bars), and [`Quiet`] for callers that show nothing.

/// What long work reports as it goes (a progress bar in the app): a file or step starts, with
/// its size when known and what is already done, advances, and ends.
pub trait Progress {
    /// A file starts: its name, its size when the server says, and the bytes already on disk.
    fn begin(&mut self, file: &str, total: Option<u64>, done: u64);
    fn advance(&mut self, bytes: u64);
    fn end(&mut self);
}

/// A `Progress` that reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&mut self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn end(&mut self) {}
}
