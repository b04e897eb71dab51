//! Deterministic fuzzing for file readers: mutations of a valid input (bit flips, truncations,
//! insertions, deletions, huge numbers in binary and text fields) and random bytes, from the
//! project's SplitMix64 `Rng` with fixed seeds, so every run replays the same cases.
//!
//! ```ignore
//! for (i, bytes) in fuzz::mutations(7, &valid, 5000).enumerate() {
//!     fuzz::no_panic(&format!("case {i}"), &bytes, || parse(&bytes, path).map(|_| ()), Some("x.idx"));
//! }
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use wgnn_engine::util::rng::Rng;

/// 32-bit values that break size arithmetic: zero, one, powers of two around the i32/u32 edges,
/// and the largest.
pub const HUGE_U32: [u32; 8] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff_fffe,
    0x0001_0000,
    0x0100_0000,
];

/// Decimal numbers that break size arithmetic when they replace a number in a text format.
pub const HUGE_DECIMAL: [&str; 10] = [
    "0",
    "-1",
    "1",
    "4294967295",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1000000000",
];

/// `n` mutated copies of `valid`, the same for the same seed. Each copy gets one to four
/// mutations, so some stay nearly valid (they reach the deep checks) and some are wrecked.
pub fn mutations(seed: u64, valid: &[u8], n: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut rng = Rng::new(seed);
    (0..n).map(move |_| {
        let mut v = valid.to_vec();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut v);
        }
        v
    })
}

/// `n` random byte strings of up to `max_len` bytes; a fraction start with `prefix` (a magic
/// number, say) so that they get past the first check.
pub fn random_inputs(
    seed: u64,
    prefix: &[u8],
    max_len: usize,
    n: usize,
) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut rng = Rng::new(seed);
    (0..n).map(move |_| {
        let len = rng.below(max_len + 1);
        let mut v: Vec<u8> = if rng.below(2) == 0 {
            prefix.to_vec()
        } else {
            Vec::new()
        };
        v.extend((0..len).map(|_| rng.next_u64() as u8));
        v
    })
}

/// One random mutation of `v` in place.
pub fn mutate(rng: &mut Rng, v: &mut Vec<u8>) {
    let at = |rng: &mut Rng, v: &Vec<u8>| rng.below(v.len() + 1);
    match rng.below(9) {
        // Flip one bit.
        0 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] ^= 1 << rng.below(8);
        }
        // One byte to an edge value.
        1 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][rng.below(6)];
        }
        // Truncate.
        2 => {
            let n = at(rng, v);
            v.truncate(n);
        }
        // Insert random bytes.
        3 => {
            let i = at(rng, v);
            let k = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
            v.splice(i..i, bytes);
        }
        // Delete a range.
        4 if !v.is_empty() => {
            let i = rng.below(v.len());
            let k = (1 + rng.below(16)).min(v.len() - i);
            v.drain(i..i + k);
        }
        // Duplicate a range (repeated headers, fields, tables).
        5 if !v.is_empty() => {
            let i = rng.below(v.len());
            let k = (1 + rng.below(32)).min(v.len() - i);
            let copy = v[i..i + k].to_vec();
            let j = at(rng, v);
            v.splice(j..j, copy);
        }
        // A huge 32-bit field, big-endian (IDX) or little-endian, at a 4-aligned offset in the
        // first 64 bytes (where headers are) or anywhere.
        6 if v.len() >= 4 => {
            let slots = v.len() / 4;
            let slot = if rng.below(2) == 0 {
                rng.below(slots.min(16))
            } else {
                rng.below(slots)
            };
            let x = HUGE_U32[rng.below(HUGE_U32.len())];
            let b = if rng.below(2) == 0 {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            };
            v[slot * 4..slot * 4 + 4].copy_from_slice(&b);
        }
        // A decimal number in a text format replaced by a huge one.
        7 => {
            let runs = digit_runs(v);
            if let Some(&(i, j)) = runs.get(rng.below(runs.len().max(1))) {
                let s = HUGE_DECIMAL[rng.below(HUGE_DECIMAL.len())];
                v.splice(i..j, s.bytes());
            }
        }
        // Everything random.
        _ => {
            for b in v.iter_mut() {
                if rng.below(8) == 0 {
                    *b = rng.next_u64() as u8;
                }
            }
        }
    }
}

/// Byte ranges of the runs of ASCII digits in `v`.
pub fn digit_runs(v: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in v.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, v.len()));
    }
    runs
}

/// Whether `msg` shows Rust's Debug form of a struct or an enum (`Conv2dShape { n: 1, .. }`,
/// `Index(99)`, `Some(3)`) instead of words.
pub fn looks_like_debug(msg: &str) -> bool {
    for (i, _) in msg.match_indices(" { ") {
        // `Name { field: ` : a capitalised identifier before, `ident:` after.
        let before = msg[..i]
            .rsplit(|c: char| !c.is_alphanumeric() && c != '_')
            .next();
        let after = msg[i + 3..]
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .next();
        let cap = before.is_some_and(|w| w.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
        let field = after.is_some_and(|w| !w.is_empty() && msg[i + 3 + w.len()..].starts_with(':'));
        if cap && field {
            return true;
        }
    }
    [
        "Some(", "Ok(", "Err(", "Index(", "Name(", "Str(", "Int(", "Bytes(", "List(", "Tuple(",
        "Dict(", "Global(", "Call(", "Build(", "Os {", "Custom {",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

/// Runs `f` on one fuzz case: it must not panic, and an error must be a readable sentence that
/// names `file` (when given). On failure the input is saved under the target dir and its path
/// and first bytes are in the panic message, ready to become a regression file.
#[track_caller]
pub fn no_panic<T>(
    case: &str,
    input: &[u8],
    file: Option<&str>,
    f: impl FnOnce() -> wgnn_engine::Result<T>,
) -> Option<T> {
    let fail = |why: String| -> ! {
        let dir = std::env::temp_dir().join("wgnn-fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "{}.bin",
            case.replace(|c: char| !c.is_alphanumeric(), "-")
        ));
        let _ = std::fs::write(&path, input);
        let head: Vec<String> = input.iter().take(64).map(|b| format!("{b:02x}")).collect();
        panic!(
            "{case}: {why}\n  input ({} bytes) saved to {}\n  first bytes: {}",
            input.len(),
            path.display(),
            head.join(" ")
        );
    };
    match catch_unwind(AssertUnwindSafe(f)) {
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            fail(format!("panicked: {what}"))
        }
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            let msg = e.to_string();
            if msg.trim().is_empty() {
                fail("empty error message".into());
            }
            if looks_like_debug(&msg) {
                fail(format!("error shows a Debug form: {msg}"));
            }
            if let Some(file) = file {
                if !msg.contains(file) {
                    fail(format!("error does not name {file}: {msg}"));
                }
            }
            None
        }
    }
}
