//! `wgnn bench --tune-kernels` on the test adapter: the cache it writes, the constants later
//! commands take from it (and the precedence of `WGNN_KERNEL_CONSTANTS`), and the defaults with a
//! warning when the cache is corrupt or was made with other shaders.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::has_gpu;
use common::run::{command, fails, scratch, text};
use wgnn::runtime::tuning_cache::{TuningCache, TuningEntry, TuningKey, FILE_NAME};
use wgnn::runtime::GpuContext;

const PROFILE: &[&str] = &[
    "bench",
    "--model",
    "tiny",
    "--backend",
    "gpu",
    "--profile",
    "--batch-size",
    "16",
];

/// `wgnn ARGS` with the tuning cache in `dir` (and `extra` environment), which must succeed.
fn ok_in(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> String {
    let mut c = command(args);
    c.env("WGNN_CACHE_DIR", dir);
    for (k, v) in extra {
        c.env(k, v);
    }
    let o: Output = c.output().expect("wgnn runs");
    let t = text(&o);
    assert!(o.status.success(), "wgnn {args:?} failed:\n{t}");
    assert!(!t.contains("panicked"), "{t}");
    t
}

/// `wgnn bench --model tiny --tune-kernels ARGS` with the tuning cache in `dir`.
fn tune_tiny(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["bench", "--model", "tiny", "--tune-kernels"];
    all.extend(args);
    ok_in(dir, &all, &[])
}

/// The line of the profile for `kernel` (its first launch).
fn profile_line<'a>(out: &'a str, kernel: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(&format!("  {kernel}")))
        .unwrap_or_else(|| panic!("no row for {kernel} in:\n{out}"))
}

/// A cache holding one entry for the test adapter with `constants`, written by hand.
fn hand_cache(name: &str, shaders: Option<&str>, constants: &[&str]) -> PathBuf {
    let dir = scratch("tune_kernels", name);
    let ctx = GpuContext::open(&wgnn::app::Device::from_env().unwrap().options)
        .expect("the test adapter");
    let mut key = TuningKey::of(&ctx.adapter);
    if let Some(s) = shaders {
        key.shaders = s.into();
    }
    let mut cache = TuningCache::default();
    cache.put(TuningEntry {
        key,
        wgnn_version: "0.0.0".into(),
        tuned_at: "2026-11-30 12:00 UTC".into(),
        model: "tiny".into(),
        batch_size: 16,
        family: None,
        constants: constants.iter().map(|c| c.to_string()).collect(),
    });
    cache.write(&dir.join(FILE_NAME)).unwrap();
    dir
}

#[test]
fn tuning_writes_an_entry_from_the_candidates_that_bench_then_uses() {
    if !has_gpu() {
        return;
    }
    let dir = scratch("tune_kernels", "tuned");
    // The family is tuned only when nothing forces one: a WGNN_KERNELS pass (CI's tiled one)
    // must not force it here. The forced path is the next test's.
    let auto = [("WGNN_KERNELS", "auto")];
    let tune = [
        "bench",
        "--model",
        "tiny",
        "--tune-kernels",
        "--batch-size",
        "16",
    ];
    let out = ok_in(&dir, &tune, &auto);
    for needle in ["Kernel family", "WG (", "chosen", "Wrote the tuning"] {
        assert!(out.contains(needle), "expected `{needle}` in:\n{out}");
    }
    let file = dir.join(FILE_NAME);
    assert!(out.contains(&file.display().to_string()), "{out}");
    let cache = TuningCache::read(&file).unwrap();
    let ctx = GpuContext::open(&wgnn::app::Device::from_env().unwrap().options).unwrap();
    let entry = cache
        .find(&TuningKey::of(&ctx.adapter))
        .expect("an entry for this adapter");
    assert_eq!((entry.model.as_str(), entry.batch_size), ("tiny", 16));
    assert!(entry.family.is_some(), "{entry:?}");
    assert!(!entry.constants.is_empty());
    for c in &entry.constants {
        let value: u32 = c.rsplit_once('=').unwrap().1.parse().unwrap();
        assert!(
            [32, 64, 128, 256].contains(&value),
            "{c} is not a candidate"
        );
    }
    // The chosen values are what the next run compiles its kernels with.
    let profile = ok_in(&dir, PROFILE, &auto);
    assert!(
        profile.contains("from the tuning cache, tuned"),
        "{profile}"
    );
    let first = entry
        .constants
        .iter()
        .find(|c| c.starts_with("reduce::col_sum:"))
        .expect("reduce::col_sum is tuned");
    let (_, value) = first.rsplit_once(':').unwrap();
    assert!(
        profile_line(&profile, "reduce::col_sum").ends_with(&format!("[{value}]")),
        "{profile}"
    );
}

#[test]
fn with_the_tiled_family_forced_the_tile_and_step_are_tuned_too() {
    if !has_gpu() {
        return;
    }
    // Mesa's GL path takes 80-100 s to build one tiled pipeline with TILE=128 or BK=32, and the
    // tuner builds each of them for five kernels: this runs on lavapipe (Vulkan) only.
    if GpuContext::open(&wgnn::app::Device::from_env().unwrap().options)
        .unwrap()
        .adapter
        .backend
        .eq_ignore_ascii_case("gl")
    {
        eprintln!("skipped on GL: building the large tile variants takes minutes there");
        return;
    }
    let dir = scratch("tune_kernels", "tiled");
    let out = tune_tiny(&dir, &["--kernels", "tiled", "--batch-size", "8"]);
    for needle in [
        "Kernel family: tiled (forced",
        "\nTILE x BK (",
        "conv2d_tiled::forward",
    ] {
        assert!(out.contains(needle), "expected `{needle}` in:\n{out}");
    }
    let cache = TuningCache::read(&dir.join(FILE_NAME)).unwrap();
    let ctx = GpuContext::open(&wgnn::app::Device::from_env().unwrap().options).unwrap();
    let entry = cache.find(&TuningKey::of(&ctx.adapter)).unwrap();
    assert_eq!(entry.family, None, "a forced family is not stored");
    for (constant, allowed) in [("TILE", &[32, 64, 128][..]), ("BK", &[8, 16, 32][..])] {
        let tuned: Vec<u32> = entry
            .constants
            .iter()
            .filter(|c| c.starts_with("conv2d_tiled::") || c.starts_with("gemm::matmul"))
            .filter_map(|c| {
                let (name, value) = c.rsplit_once(':')?.1.split_once('=')?;
                (name == constant).then(|| value.parse().unwrap())
            })
            .collect();
        assert!(!tuned.is_empty(), "no {constant} in {:?}", entry.constants);
        assert!(
            tuned.iter().all(|v| allowed.contains(v)),
            "{:?}",
            entry.constants
        );
    }
}

#[test]
fn cached_constants_show_in_the_profile_and_the_environment_wins() {
    if !has_gpu() {
        return;
    }
    let dir = hand_cache("hand", None, &["reduce::col_sum:WG=32"]);
    let out = ok_in(&dir, PROFILE, &[]);
    assert!(
        out.contains("kernel constants from the tuning cache, tuned 2026-11-30 12:00 UTC"),
        "{out}"
    );
    assert!(
        profile_line(&out, "reduce::col_sum").ends_with("[WG=32]"),
        "{out}"
    );
    assert!(
        profile_line(&out, "pool::max_forward").ends_with("[WG=256]"),
        "{out}"
    );

    let json_args: Vec<&str> = PROFILE.iter().copied().chain(["--json"]).collect();
    let json = ok_in(&dir, &json_args, &[]);
    let start = json.find('{').expect("a JSON object");
    let v: serde_json::Value = serde_json::Deserializer::from_str(&json[start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let row = v["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kernel"] == "reduce::col_sum")
        .expect("a reduce::col_sum row");
    assert_eq!(row["constants"], "WG=32", "{json}");

    // The CPU backend compiles no kernels, so it says nothing of the cache.
    let cpu = [
        "bench",
        "--model",
        "tiny",
        "--backend",
        "cpu",
        "--batch-size",
        "16",
        "--steps",
        "2",
    ];
    let out = ok_in(&dir, &cpu, &[]);
    assert!(!out.contains("tuning cache"), "{out}");

    let out = ok_in(&dir, PROFILE, &[("WGNN_KERNEL_CONSTANTS", "WG=64")]);
    assert!(out.contains("(from WGNN_KERNEL_CONSTANTS)"), "{out}");
    assert!(
        profile_line(&out, "reduce::col_sum").ends_with("[WG=64]"),
        "{out}"
    );
}

#[test]
fn a_corrupt_cache_warns_and_runs_with_the_defaults() {
    if !has_gpu() {
        return;
    }
    let dir = scratch("tune_kernels", "corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(FILE_NAME), "{ not json").unwrap();
    let out = ok_in(&dir, PROFILE, &[]);
    assert!(
        out.contains("warning: ignoring the kernel tuning cache"),
        "{out}"
    );
    assert!(out.contains("not a kernel tuning cache"), "{out}");
    assert!(out.contains("(from the shaders' defaults)"), "{out}");
    assert!(
        profile_line(&out, "reduce::col_sum").ends_with("[WG=256]"),
        "{out}"
    );
}

#[test]
fn an_entry_made_with_other_shaders_is_ignored() {
    if !has_gpu() {
        return;
    }
    let dir = hand_cache(
        "stale",
        Some("0000000000000000"),
        &["reduce::col_sum:WG=32"],
    );
    let out = ok_in(&dir, PROFILE, &[]);
    assert!(out.contains("was made with other shaders"), "{out}");
    assert!(out.contains("(from the shaders' defaults)"), "{out}");
    assert!(
        profile_line(&out, "reduce::col_sum").ends_with("[WG=256]"),
        "{out}"
    );
}

#[test]
fn tuning_the_cpu_backend_is_a_clear_error() {
    fails(
        &[
            "bench",
            "--model",
            "tiny",
            "--tune-kernels",
            "--backend",
            "cpu",
        ],
        &["--tune-kernels tunes the GPU kernels", "--backend cpu"],
    );
}
