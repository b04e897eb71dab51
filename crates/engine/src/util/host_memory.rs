//! How much memory this machine has, for checking a model fits before the CPU backend (or a
//! software GPU driver, which allocates from the same memory) tries to allocate it.

/// Used when the total cannot be read (no /proc/meminfo): a guess that fits MNIST-sized models
/// and still refuses absurd ones before the allocator aborts.
pub const FALLBACK_BYTES: u64 = 16 << 30;

/// The machine's memory in bytes and where the figure comes from (for messages).
pub fn total() -> (u64, &'static str) {
    match std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total(&s))
    {
        Some(b) => (b, "MemTotal in /proc/meminfo"),
        None => (
            FALLBACK_BYTES,
            "an assumed 16 GiB: /proc/meminfo is unreadable",
        ),
    }
}

/// The `MemTotal:` line of a /proc/meminfo text, in bytes:
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mem_total_reads_meminfo() {
        use crate::util::host_memory::mem_total;
        assert_eq!(
            mem_total("MemTotal:  2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }
}
