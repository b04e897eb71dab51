//! `wgnn check`'s cases (src/check/) on the test adapter: every comparison passes, for both
//! kernel families, and the command prints and exits as it should.

mod common;
use common::run::{command, text};
use wgnn::check::{self, Options};
use wgnn::ops::Variant;
use wgnn::runtime::GpuContext;

#[test]
fn every_check_passes_on_the_test_adapter() {
    // A context of its own: the check switches its kernel family for the whole-step rows.
    let mut ctx = GpuContext::open(&wgnn::app::Device::from_env().unwrap().options)
        .expect("GPU tests need an adapter");
    let opts = Options {
        quick: true,
        families: vec![Variant::Tiled, Variant::Cpu],
    };
    let report = check::run(&mut ctx, &opts, &mut |_| {}).unwrap();
    let failed: Vec<String> = report
        .rows
        .iter()
        .filter(|r| !r.pass)
        .map(|r| format!("{} ({}) {}: {}", r.kernel, r.family, r.shape, r.note))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    for family in ["tiled", "cpu-adapter"] {
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
        "{} comparisons passed; entry points not exercised: {:?}",
        report.rows.len(),
        report.not_exercised
    );
    assert!(report.not_exercised.len() < report.entry_points / 2);
}

#[test]
fn a_bad_value_is_reported_with_its_place() {
    let r = check::compare(
        "k",
        "tiled",
        "s",
        &[1.0, 2.0, 3.5],
        &[1.0, 2.0, 3.0],
        1e-4,
        1e-3,
        0.0,
    );
    assert!(!r.pass);
    assert_eq!(r.max_abs_err, 0.5);
    assert!(r.note.contains("value 2 is 3.5"), "{}", r.note);
    let r = check::compare("k", "tiled", "s", &[f32::NAN], &[0.0], 1e-4, 1e-3, 0.0);
    assert!(!r.pass, "NaN never passes");
    let r = check::compare("k", "tiled", "s", &[1.0005], &[1.0], 1e-4, 1e-3, 0.0);
    assert!(r.pass, "{}", r.note);
}

#[test]
fn the_command_prints_json_and_exits_zero_when_all_pass() {
    let o = command(&["check", "--quick", "--json", "--kernels", "cpu-adapter"])
        .output()
        .expect("wgnn runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["passed"], true);
    assert_eq!(v["kernel_families"], serde_json::json!(["cpu-adapter"]));
    assert!(v["rows"].as_array().unwrap().len() > 20);
}
