//! `wgnn check`'s registry on the test adapter: `check::run` walks `check::REGISTRY` (the
//! `CHECK` each op file of `crates/engine/src/ops/` declares beside its dispatch and reference) and the
//! training-step checks, exactly as the command does; every comparison passes, for both kernel
//! families, under the library's tolerances (`check::ATOL`, `RTOL`), every entry point of every
//! shader is compared by an op's own check, every op file that declares checks is in the
//! registry, and the command prints and exits as it should.

mod common;
use common::has_gpu;
use common::run::{command, text};
use wgnn::check::{self, Options, ATOL, REGISTRY, RTOL};
use wgnn::ops::Variant;
use wgnn::runtime::GpuContext;

#[test]
fn every_check_passes_on_the_test_adapter() {
    if !has_gpu() {
        return;
    }
    // A context of its own: the check switches its kernel family for the whole-step rows.
    let mut ctx = GpuContext::open(&wgnn::app::Device::from_env().unwrap().options)
        .expect("GPU tests need an adapter");
    let opts = Options {
        quick: true,
        families: vec![Variant::Tiled, Variant::Blocked],
    };
    let report = check::run(&mut ctx, &opts, &mut |_| {}).unwrap();
    let failed: Vec<String> = report
        .rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{} ({}) {}: {}", r.kernel, r.family, r.shape, r.note))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    for family in ["tiled", "blocked"] {
        for opt in ["sgd", "adam", "rmsprop"] {
            let step = format!("training step, {opt}");
            assert!(
                report
                    .rows
                    .iter()
                    .any(|r| r.kernel == step && r.family == family),
                "no {step} row for {family}"
            );
        }
    }
    eprintln!(
        "{} comparisons passed over {} entry points",
        report.rows.len(),
        report.entry_points
    );
    // Every kernel compiled into the binary is compared by an op's own check, not only inside a
    // whole training step.
    assert!(
        report.not_exercised.is_empty(),
        "entry points no op's check compares against its reference: {:?}",
        report.not_exercised
    );
}

#[test]
fn every_op_file_with_checks_is_in_the_registry_once() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/engine/src/ops");
    let mut declared: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.starts_with("pub const CHECK: OpCheck"))
        })
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    declared.sort();
    let mut registered: Vec<String> = REGISTRY.iter().map(|c| c.op.to_string()).collect();
    registered.sort();
    assert_eq!(
        declared, registered,
        "src/ops files declaring CHECK vs check::REGISTRY"
    );
}

#[test]
fn a_bad_value_is_reported_with_its_place() {
    let r = check::compare(
        "k",
        "tiled",
        "s",
        &[1.0, 2.0, 3.5],
        &[1.0, 2.0, 3.0],
        ATOL,
        RTOL,
        0.0,
    );
    assert!(!r.pass);
    assert_eq!(r.max_abs_err, 0.5);
    assert!(r.note.contains("value 2 is 3.5"), "{}", r.note);
    let r = check::compare("k", "tiled", "s", &[f32::NAN], &[0.0], ATOL, RTOL, 0.0);
    assert!(!r.pass, "NaN never passes");
    let r = check::compare("k", "tiled", "s", &[1.0005], &[1.0], ATOL, RTOL, 0.0);
    assert!(r.pass, "{}", r.note);
}

#[test]
fn the_command_prints_json_and_exits_zero_when_all_pass() {
    if !has_gpu() {
        return;
    }
    let o = command(&["check", "--quick", "--json", "--kernels", "cpu-adapter"])
        .output()
        .expect("wgnn runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["passed"], true);
    // The old name of the blocked family still parses.
    assert_eq!(v["kernel_families"], serde_json::json!(["blocked"]));
    assert!(v["rows"].as_array().unwrap().len() > 20);
}
