//! GPU tests on a machine with no adapter at all (no GPU driver, not even Mesa's lavapipe or
//! llvmpipe): outside CI they return at once and are counted here. Each test binary says how many
//! it skipped after its own result line, and leaves the count in a ledger under the target
//! folder, keyed by the `cargo test` that ran it; `crates/train/tests/suite_end.rs`, the last
//! test binary `cargo test` runs, adds the ledger up in the last lines. Under `CI=true` nothing
//! is skipped: no adapter fails the tests.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Mutex, Once, OnceLock};

/// Whether a missing adapter may skip tests: not in CI, and not when `WGNN_ADAPTER` asks for a
/// particular adapter (then its absence is the failure to report).
pub fn may_skip() -> bool {
    let set = |name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    !ci && !set("WGNN_ADAPTER")
}

/// The tests of this binary that were skipped (by the name libtest gives each test's thread),
/// and why.
static SKIPPED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static REASON: OnceLock<String> = OnceLock::new();

/// Counts the calling test as skipped because `reason`.
pub fn record(reason: &str) {
    // The adapter error's first sentence ("No GPU adapter found"); the summary gives the remedy.
    REASON.get_or_init(|| reason.split(". ").next().unwrap_or(reason).to_string());
    let name = std::thread::current()
        .name()
        .unwrap_or("a test on the main thread")
        .to_string();
    SKIPPED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name);
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: atexit takes a function of no arguments that it calls once, after main.
        unsafe { atexit(report) };
    });
}

extern "C" {
    fn atexit(f: extern "C" fn()) -> std::os::raw::c_int;
}

/// The ledger of the `cargo test` (the parent process) running this binary.
pub fn ledger() -> PathBuf {
    #[cfg(unix)]
    let run = std::os::unix::process::parent_id();
    #[cfg(not(unix))]
    let run = 0;
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("gpu-skips")
        .join(run.to_string())
}

/// After libtest's result line: this binary's count, and its line in the ledger.
extern "C" fn report() {
    let skipped = SKIPPED.lock().unwrap_or_else(|p| p.into_inner());
    let reason = REASON.get().map_or("no adapter", String::as_str);
    // Cargo names a test binary NAME-HASH; the hash tells packages' same-named tests apart.
    let file = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into());
    let binary = file
        .rsplit_once('-')
        .map_or(file.as_str(), |(name, _)| name);
    println!(
        "wgnn: skipped {} GPU test{} of {binary}: {reason}",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" }
    );
    let dir = ledger();
    let line = format!("{}\t{binary}\t{reason}\n", skipped.len());
    // The ledger only feeds the summary; a write that fails loses the summary, not the result.
    let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(&file), line));
}
