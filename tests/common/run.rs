//! Running the `wgnn` binary from a test: its output as text, success or a clear failure, and
//! scratch folders named after the test binary and the process.

use std::path::PathBuf;
use std::process::{Command, Output};

/// `wgnn ARGS` in the repository root, ready to run or spawn. The kernel tuning cache is a folder
/// that does not exist (a test that wants one sets `WGNN_CACHE_DIR` again), so a tuning run on
/// this machine cannot change what the tests see.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wgnn"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env(
            "WGNN_CACHE_DIR",
            std::env::temp_dir().join("wgnn-tests-no-tuning-cache"),
        );
    c
}

pub fn wgnn(args: &[&str]) -> Output {
    command(args).output().expect("wgnn runs")
}

/// Standard output, then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `wgnn ARGS`, which must succeed; its output.
pub fn ok(args: &[&str]) -> String {
    let o = wgnn(args);
    assert!(o.status.success(), "wgnn {args:?} failed:\n{}", text(&o));
    text(&o)
}

/// Runs `wgnn ARGS`, which must succeed; its standard output alone (JSON and other output a
/// program reads, without the notes on standard error).
pub fn ok_stdout(args: &[&str]) -> String {
    let o = wgnn(args);
    assert!(o.status.success(), "wgnn {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `wgnn ARGS`, which must fail with exit status 1 (2 for a usage error) and a message
/// holding every needle, without panicking; its output.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    let o = wgnn(args);
    let t = text(&o);
    // clap refuses a flag or its value with status 2 (its messages end with a pointer to
    // --help); wgnn's own errors exit with 1.
    let want = if t.contains("Usage:") || t.contains("try '--help'") {
        2
    } else {
        1
    };
    assert_eq!(o.status.code(), Some(want), "wgnn {args:?}: {t}");
    assert!(!t.contains("panicked"), "wgnn {args:?} panicked: {t}");
    for n in needles {
        assert!(t.contains(n), "wgnn {args:?}: expected `{n}` in: {t}");
    }
    t
}

/// A fresh scratch folder (not created) for `name` in this test binary and process. The first
/// call of a process also removes this binary's folders left by earlier runs whose process has
/// exited, so that repeated runs do not fill the disk; a failed run's folders stay for
/// inspection until the binary runs again.
pub fn scratch(binary: &str, name: &str) -> PathBuf {
    static TIDY: std::sync::Once = std::sync::Once::new();
    TIDY.call_once(|| tidy_exited_runs(binary));
    let d = std::env::temp_dir().join(format!("wgnn-{binary}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Removes `wgnn-{binary}-{pid}-*` folders of the temporary folder whose process is gone (Linux:
/// no `/proc/{pid}`; elsewhere nothing is removed, as liveness is not known).
fn tidy_exited_runs(binary: &str) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!("wgnn-{binary}-");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        let gone = |pid: u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        if pid.is_some_and(|p| p != std::process::id() && gone(p)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The optimizer steps the checkpoint of the run in `dir` holds (its header's `t`); None before
/// the first one. Reads only the header: the file is replaced atomically, so it is always whole.
pub fn checkpointed_steps(dir: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(dir.join("model.safetensors")).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    f.read_exact(&mut header).ok()?;
    let h: serde_json::Value = serde_json::from_slice(&header).ok()?;
    h["__metadata__"]["t"].as_str()?.parse().ok()
}

/// The peak resident memory of this process (Linux), in bytes.
#[cfg(target_os = "linux")]
pub fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}
