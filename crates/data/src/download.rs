//! Downloading a dataset's files: each is written to `FILE.part` (resumed with an HTTP Range
//! request after an interruption), checked against its digests, then renamed into place; an
//! archive is unpacked beside it. A lock file per file lets several processes fetch the same
//! dataset at once (as `tune --shard` does): the first downloads, the others wait and find it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::catalog::{folder, Digest, Info, Remote};
use super::format::Format;
use super::progress::Progress;
use wgnn_engine::error::{Error, Result};

/// Where files come from: the canonical hosts, or one mirror (`WGNN_MIRROR`) serving
/// `MIRROR/NAME/FILE`; and how long one read may wait for bytes before the transfer counts as
/// stalled (it is then resumed, as a dropped one is: a slow but live mirror still finishes).
#[derive(Clone, Debug)]
pub struct Source {
    pub mirror: Option<String>,
    pub read_timeout: Duration,
}

/// How long one read of a download waits for bytes by default.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Source {
    fn default() -> Self {
        Self {
            mirror: None,
            read_timeout: READ_TIMEOUT,
        }
    }
}

impl Source {
    /// The addresses to try for `remote` of `info`, in order.
    pub fn urls(&self, info: &Info, remote: &Remote) -> Vec<String> {
        match &self.mirror {
            Some(m) => vec![format!(
                "{}/{}/{}",
                m.trim_end_matches('/'),
                folder(info),
                remote.file
            )],
            None => remote
                .bases
                .iter()
                .map(|b| format!("{b}{}", remote.file))
                .collect(),
        }
    }
}

/// Attempts per address: an interrupted transfer is resumed from where it stopped.
const ATTEMPTS: usize = 4;

/// Whether `remote` is already in `dest` (its file, or for an archive the folder it unpacked).
fn present(dest: &Path, remote: &Remote) -> bool {
    if remote.untar {
        Format::detect(dest).is_some()
    } else {
        dest.join(remote.file).is_file()
    }
}

/// Downloads every file of `info` that `dest` lacks.
pub fn fetch(info: &Info, dest: &Path, source: &Source, progress: &mut dyn Progress) -> Result<()> {
    fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    for remote in info.files {
        if present(dest, remote) {
            continue;
        }
        let lock_path = dest.join(format!(".{}.lock", remote.file));
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        // Another process may have finished it while this one waited for the lock.
        let fetched = match present(dest, remote) {
            true => Ok(()),
            false => fetch_file(info, remote, dest, source, progress),
        };
        // The lock goes whether or not the file came: a failed fetch leaves nothing behind.
        drop(lock);
        let _ = fs::remove_file(&lock_path);
        fetched?;
    }
    Ok(())
}

fn fetch_file(
    info: &Info,
    remote: &Remote,
    dest: &Path,
    source: &Source,
    progress: &mut dyn Progress,
) -> Result<()> {
    let part = dest.join(format!("{}.part", remote.file));
    let resumed = part.exists();
    download_any(info, remote, (dest, &part), source, progress)?;
    if let Err(e) = verify(&part, remote) {
        if !resumed {
            return Err(e);
        }
        // A part left by an earlier run may hold other bytes (another file's, a broken
        // transfer's): verify deleted it, so this download starts from nothing.
        download_any(info, remote, (dest, &part), source, progress)?;
        verify(&part, remote)?;
    }
    if remote.untar {
        untar(&part, dest)?;
        fs::remove_file(&part).map_err(|e| Error::io(&part, e))
    } else {
        let to = dest.join(remote.file);
        fs::rename(&part, &to).map_err(|e| Error::io(&to, e))
    }
}

/// `remote` into `part` from the first of its addresses that serves it, resuming what `part`
/// holds; the error names every address tried and the folder to fill by hand.
fn download_any(
    info: &Info,
    remote: &Remote,
    (dest, part): (&Path, &Path),
    source: &Source,
    progress: &mut dyn Progress,
) -> Result<()> {
    let urls = source.urls(info, remote);
    let mut reasons = Vec::new();
    for url in &urls {
        match download(url, part, (remote.file, source.read_timeout), progress) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("{url}: {e}")),
        }
    }
    Err(Error::msg(format!(
        "could not download {} ({}). Without a network, put the dataset's files in {} by hand; they are served at: {}",
        remote.file,
        reasons.join("; "),
        dest.display(),
        urls.join(", ")
    )))
}

/// One address, resumed up to `ATTEMPTS` times; the text is the reason it failed.
fn download(
    url: &str,
    part: &Path,
    (name, read_timeout): (&str, Duration),
    progress: &mut dyn Progress,
) -> std::result::Result<(), String> {
    // Per read, not per file: a body that stops arriving is resumed, a slow one finishes.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls())
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(read_timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match attempt(&agent, url, part, name, progress) {
            Ok(Done::Complete) => return Ok(()),
            Ok(Done::Interrupted(why)) => last = why,
            Err(Fatal(why)) => return Err(why),
        }
    }
    Err(format!("the transfer kept stopping ({last})"))
}

/// The TLS implementation compiled in (see Cargo.toml): rustls on Linux, the system's elsewhere.
fn tls() -> ureq::tls::TlsConfig {
    let provider = if cfg!(target_os = "linux") {
        ureq::tls::TlsProvider::Rustls
    } else {
        ureq::tls::TlsProvider::NativeTls
    };
    ureq::tls::TlsConfig::builder().provider(provider).build()
}

enum Done {
    Complete,
    Interrupted(String),
}

struct Fatal(String);

fn attempt(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    name: &str,
    progress: &mut dyn Progress,
) -> std::result::Result<Done, Fatal> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let resp = req.call().map_err(|e| Fatal(reason(&e)))?;
    let status = resp.status().as_u16();
    let (append, total) = match status {
        200 => (false, resp.body().content_length()),
        206 => (true, resp.body().content_length().map(|n| n + have)),
        // The part already holds every byte.
        416 if have > 0 => return Ok(Done::Complete),
        s => return Err(Fatal(format!("the server answered {s} {}", status_text(s)))),
    };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|e| Fatal(format!("{}: {e}", part.display())))?;
    let start = if append { have } else { 0 };
    progress.begin(name, total, start);
    let result = copy(resp.into_body().into_reader(), &mut file, progress);
    progress.end();
    let n = match result {
        Ok(n) => n,
        // The connection broke: what was written stays, and the next attempt resumes from it.
        Err(CopyError::Read(n, e)) => return Ok(Done::Interrupted(format!("read {n} bytes: {e}"))),
        Err(CopyError::Write(e)) => return Err(Fatal(format!("{}: {e}", part.display()))),
    };
    match total {
        Some(t) if start + n < t => Ok(Done::Interrupted(format!(
            "the connection closed after {} of {t} bytes",
            start + n
        ))),
        _ => Ok(Done::Complete),
    }
}

enum CopyError {
    Read(u64, std::io::Error),
    Write(std::io::Error),
}

fn copy(
    mut from: impl Read,
    to: &mut File,
    progress: &mut dyn Progress,
) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) => {
                to.flush().map_err(CopyError::Write)?;
                return Err(CopyError::Read(n, e));
            }
        };
        to.write_all(&buf[..k]).map_err(CopyError::Write)?;
        n += k as u64;
        progress.advance(k as u64);
    }
    to.sync_all().map_err(CopyError::Write)?;
    Ok(n)
}

fn reason(e: &ureq::Error) -> String {
    match e {
        ureq::Error::HostNotFound => "the host was not found (no network?)".into(),
        ureq::Error::ConnectionFailed => "the connection failed (no network?)".into(),
        ureq::Error::Io(io) => format!("the connection failed: {io}"),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

fn status_text(s: u16) -> &'static str {
    match s {
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The file's MD5 and SHA-256, and the SHA-256 of its decompressed bytes when it is gzip.
fn digests(path: &Path) -> Result<(String, String, Option<String>)> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        md5.update(&buf[..k]);
        sha.update(&buf[..k]);
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let raw = raw_sha256(path).map(|d| hex(&d));
    Ok((hex(&md5.finalize()), hex(&sha.finalize()), raw))
}

fn raw_sha256(path: &Path) -> Option<Vec<u8>> {
    let f = File::open(path).ok()?;
    let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match gz.read(&mut buf) {
            Ok(0) => return Some(sha.finalize().to_vec()),
            Ok(k) => sha.update(&buf[..k]),
            Err(_) => return None,
        }
    }
}

/// Checks `path` against `remote`'s digests; a mismatch deletes it and names both hashes.
pub fn verify(path: &Path, remote: &Remote) -> Result<()> {
    let (md5, sha, raw) = digests(path)?;
    let ok = remote.digests.iter().any(|d| match d {
        Digest::Md5(h) => *h == md5,
        Digest::Sha256(h) => *h == sha,
        Digest::RawSha256(h) => raw.as_deref() == Some(*h),
    });
    if ok {
        return Ok(());
    }
    let _ = fs::remove_file(path);
    let expected = remote
        .digests
        .iter()
        .map(|d| match d {
            Digest::Md5(h) => format!("MD5 {h}"),
            Digest::Sha256(h) => format!("SHA-256 {h}"),
            Digest::RawSha256(h) => format!("SHA-256 {h} of the decompressed bytes"),
        })
        .collect::<Vec<_>>()
        .join(" or ");
    Err(Error::file(
        path,
        format!(
            "checksum mismatch for {}: expected {expected}, found MD5 {md5}, SHA-256 {sha}; the file was deleted",
            remote.file
        ),
    ))
}

/// Unpacks a `.tar.gz` into `dest` through a temporary folder, so that a half-unpacked archive
/// is never taken for data.
fn untar(archive: &Path, dest: &Path) -> Result<()> {
    let tmp = dest.join(format!(".unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let f = File::open(archive).map_err(|e| Error::io(archive, e))?;
    tar::Archive::new(flate2::read::GzDecoder::new(f))
        .unpack(&tmp)
        .map_err(|e| Error::file(archive, format!("cannot be unpacked: {e}")))?;
    let entries: Vec<PathBuf> = fs::read_dir(&tmp)
        .map_err(|e| Error::io(&tmp, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    for from in entries {
        let to = dest.join(from.file_name().unwrap_or_default());
        let _ = fs::remove_dir_all(&to);
        fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
    }
    fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))
}
