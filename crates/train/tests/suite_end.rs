//! The end of `cargo test`: on a machine with no GPU adapter, outside CI, the GPU tests return at
//! once and each test binary leaves its count in a ledger (`crates/engine/tests/common/skip.rs`).
//! This binary, the last that `cargo test` runs at the root, adds the ledger of the same
//! `cargo test` up and says it in the last lines, with the command that runs those tests.

// The engine's test support keeps the ledger; this binary only reads it.
#[allow(dead_code)]
#[path = "../../engine/tests/common/skip.rs"]
mod skip;

/// Each binary's line: `COUNT\tBINARY\tREASON`.
fn read(dir: &std::path::Path) -> Vec<(usize, String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut lines: Vec<(usize, String, String)> = entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| {
            let mut f = text.trim_end().splitn(3, '\t');
            let n = f.next()?.parse().ok()?;
            Some((n, f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    lines.sort_by(|a, b| a.1.cmp(&b.1));
    lines
}

fn main() {
    let dir = skip::ledger();
    let lines = read(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let total: usize = lines.iter().map(|l| l.0).sum();
    if total == 0 {
        return;
    }
    let binaries: Vec<String> = lines
        .iter()
        .map(|l| format!("{} in {}", l.0, l.1))
        .collect();
    println!(
        "\nSKIPPED: {total} GPU tests ({}). Why: {}.",
        binaries.join(", "),
        lines[0].2.trim_end_matches('.')
    );
    println!(
        "Every CPU test ran. To run the GPU tests too, give the machine an adapter, for example"
    );
    println!("Mesa's Vulkan driver on the CPU, and test again:");
    println!("    sudo apt-get install -y mesa-vulkan-drivers && cargo test");
    println!("(With CI=true, no adapter fails the GPU tests instead of skipping them.)");
}
