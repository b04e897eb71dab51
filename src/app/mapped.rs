//! The data cache's packs are memory-mapped, and a page past a mapped file's end faults: a pack
//! truncated by another program while a run reads it would kill the run with SIGBUS and no word.
//! This guard takes SIGBUS at an address inside the loaded data: it maps a page of zeros there, so
//! the read completes, and records the fault. Every command checks the record before it saves or
//! answers anything, and stops with an error naming the cache folder, so nothing computed from
//! the zeros is kept. A SIGBUS anywhere else keeps its default action (the process dies).
//!
//! Linux only: elsewhere `guard` does nothing and the fault keeps its default action. wgnn itself
//! never truncates a pack (a new one is written to a temporary name and renamed; an old one is
//! removed only when no process holds it: `packed::tidy`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// How many byte ranges are guarded at once: a command's training and test images, and those of
/// the trials `tune` and `compare` run in one process before it (the oldest range is replaced
/// first: its trial is over and its data dropped).
const SLOTS: usize = 8;

/// The slot the next range goes in, round the ring.
static NEXT: AtomicUsize = AtomicUsize::new(0);

static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTED: AtomicBool = AtomicBool::new(false);
/// The cache folder the guarded packs are in, for the message (never touched by the handler).
static FOLDER: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Guards reads of `bytes` (data that may be a mapped pack in `folder`).
pub fn guard(bytes: &[u8], folder: &Path) {
    if bytes.is_empty() || !install() {
        return;
    }
    if let Ok(mut f) = FOLDER.lock() {
        *f = Some(folder.to_path_buf());
    }
    let (start, end) = (
        bytes.as_ptr() as usize,
        bytes.as_ptr() as usize + bytes.len(),
    );
    let i = NEXT.fetch_add(1, Ordering::SeqCst) % SLOTS;
    // Emptied first and its start written last, so a handler never sees half a range.
    STARTS[i].store(0, Ordering::SeqCst);
    ENDS[i].store(end, Ordering::SeqCst);
    STARTS[i].store(start, Ordering::SeqCst);
}

/// An error when a guarded page faulted: what was read there is zeros, not the data.
pub fn check() -> Result<()> {
    if !FAULTED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let folder = FOLDER
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .unwrap_or_default();
    Err(Error::file(
        &folder,
        "a packed copy of the data in this folder was truncated by another program while this command read it: what was read after that was not the data, and nothing computed from it was saved. The next command rebuilds the pack from the data (a run goes on with `wgnn train --resume`)",
    ))
}

/// Whether the guard is in place (installed on the first call).
#[cfg(target_os = "linux")]
fn install() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask is a valid argument;
        // the handler only reads atomics and calls mmap and signal, which are async-signal-safe
        // in practice (mmap is a plain system call).
        unsafe {
            PAGE.store(libc::sysconf(libc::_SC_PAGESIZE) as usize, Ordering::SeqCst);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) == 0
        }
    })
}

#[cfg(not(target_os = "linux"))]
fn install() -> bool {
    false
}

#[cfg(target_os = "linux")]
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// SIGBUS: a page of zeros in place of a guarded page that faulted, else the default action.
#[cfg(target_os = "linux")]
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let ours = STARTS.iter().zip(&ENDS).any(|(s, e)| {
        let start = s.load(Ordering::SeqCst);
        start != 0 && (start..e.load(Ordering::SeqCst)).contains(&addr)
    });
    if ours {
        let page = PAGE.load(Ordering::SeqCst);
        let at = addr & !(page - 1);
        // SAFETY: the page lies in a read-only mapping of this process's data; replacing it with
        // an anonymous page of zeros changes no other memory.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            FAULTED.store(true, Ordering::SeqCst);
            return;
        }
    }
    // Not ours: the default action on return, when the access faults again.
    // SAFETY: restoring the default disposition is always valid.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
