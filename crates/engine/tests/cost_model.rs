//! The cost model against the two H200 profiles of a convnet step in docs/gpu-runs/ (the tiled
//! kernels before, the blocked ones after). Each log has beside it the plan the code that made
//! it recorded (`*.plan.json`: the dispatches and their costs), so the fit stays a test of the
//! model's constants while the kernels change: the five slowest are ranked as measured and each
//! predicted within 2x, and the step within 30%. No GPU needed (wgpu's noop device), so nothing
//! here skips.

use wgnn_engine::graph::cost::{predict_step, StepCost, H200};
use wgnn_engine::graph::Plan;
use wgnn_engine::model::preset;
use wgnn_engine::model::PRESETS;
use wgnn_engine::runtime::{Cost, DeviceOptions, KernelFamily};

fn gpu_run(file: &str) -> String {
    let path = format!("{}/../../docs/gpu-runs/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The kernels and times of the first `bench --model convnet --backend gpu --profile` in `log`.
fn profile(log: &str) -> Vec<(String, f64)> {
    let text = gpu_run(log);
    let start = text
        .lines()
        .position(|l| l.contains("bench --model convnet --backend gpu --profile"))
        .expect("a convnet profile in the log");
    text.lines()
        .skip(start + 2)
        .map_while(|l| {
            let mut w = l.split_whitespace();
            let ms: f64 = w.next()?.parse().ok()?;
            (w.next()? == "ms").then_some(())?;
            let _share = w.next()?;
            Some((w.next()?.to_string(), ms * 1000.0))
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Recorded {
    name: String,
    #[serde(flatten)]
    cost: Cost,
}

#[derive(serde::Deserialize)]
struct RecordedPlan {
    kernels: Vec<Recorded>,
}

/// The step recorded beside `log`, predicted with today's constants.
fn recorded_step(log: &str) -> StepCost {
    let file = log.replace(".txt", ".plan.json");
    let plan: RecordedPlan = serde_json::from_str(&gpu_run(&file)).expect(&file);
    let dispatches: Vec<(String, Cost)> =
        plan.kernels.into_iter().map(|k| (k.name, k.cost)).collect();
    H200.step(&dispatches)
}

fn convnet_step(family: KernelFamily) -> StepCost {
    let spec = preset("convnet").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 128).unwrap();
    let options = DeviceOptions {
        family,
        ..DeviceOptions::default()
    };
    predict_step(&plan, spec.defaults.optimizer.optimizer(), &options, &H200).unwrap()
}

/// Checks the fit for one profile.
fn check_fit(log: &str) {
    let measured = profile(log);
    let step = recorded_step(log);
    let names: Vec<&str> = step.kernels.iter().map(|k| k.name.as_str()).collect();
    let logged: Vec<&str> = measured.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, logged, "{log}: the recorded dispatches differ");
    let predicted: Vec<f64> = step.kernels.iter().map(|k| k.predicted_us).collect();
    for (k, (name, us)) in measured.iter().enumerate() {
        eprintln!(
            "{log}: {name:<40} measured {us:8.1} µs, predicted {:8.1} µs",
            predicted[k]
        );
    }
    let by = |v: &[f64]| {
        let mut i: Vec<usize> = (0..v.len()).collect();
        i.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        i
    };
    let times: Vec<f64> = measured.iter().map(|m| m.1).collect();
    let (top, ptop) = (&by(&times)[..5], &by(&predicted)[..5]);
    // Ranked right: the five predicted slowest are the five measured slowest, in their order
    // (dispatches measured equal may swap).
    let rank: Vec<f64> = ptop.iter().map(|&i| times[i]).collect();
    let want: Vec<f64> = top.iter().map(|&i| times[i]).collect();
    assert_eq!(
        rank, want,
        "{log}: the five slowest, predicted against measured"
    );
    for &i in top {
        let ratio = (predicted[i] / times[i]).max(times[i] / predicted[i]);
        assert!(ratio < 2.0, "{log}: {} off by {ratio:.2}x", names[i]);
    }
    let total: f64 = times.iter().sum();
    let ratio = step.predicted_step_us / total;
    eprintln!(
        "{log}: step measured {total:.0} µs, predicted {:.0} µs",
        step.predicted_step_us
    );
    assert!((ratio - 1.0).abs() < 0.3, "{log}: step off by {ratio:.2}");
}

#[test]
fn the_fit_predicts_the_h200_profile_of_the_tiled_kernels() {
    check_fit("h200-2026-12-04-before.txt");
}

#[test]
fn the_fit_predicts_the_h200_profile_of_the_blocked_kernels() {
    check_fit("h200-2026-12-04-after.txt");
}

/// Every dispatch of every preset's step knows its work: invocations, bytes and a serial loop;
/// the convolutions and GEMMs their arithmetic, which adds up to the model's.
#[test]
fn every_dispatch_of_every_preset_knows_its_cost() {
    for name in PRESETS {
        let spec = preset(name).unwrap();
        let plan = Plan::new(spec.input, &spec.layers, spec.defaults.batch_size).unwrap();
        let options = DeviceOptions::default();
        let opt = spec.defaults.optimizer.optimizer();
        let step = predict_step(&plan, opt, &options, &H200).unwrap();
        assert_eq!(step.host_syncs, 0, "{name}");
        assert_eq!(step.dispatches, step.kernels.len());
        for k in &step.kernels {
            let c = &k.cost;
            assert!(
                c.invocations > 0 && c.bytes > 0 && c.serial >= 1,
                "{name}: {k:?}"
            );
            if k.name.starts_with("conv2d") || k.name.starts_with("gemm") {
                assert!(c.flops > 0, "{name}: {} counts no arithmetic", k.name);
            }
            assert!(k.predicted_us >= H200.launch_us, "{name}: {k:?}");
        }
    }
    // convnet: 1.83 GFLOP a step at batch 128 (the forward and both gradients), and under 2%
    // more for the sums of the splits.
    let gflop = convnet_step(KernelFamily::Blocked).flops as f64 / 1e9;
    assert!((1.825..1.87).contains(&gflop), "{gflop}");
}

/// The dense forward the H200 ran (one workgroup through a 400-step loop) is named as leaving
/// the GPU idle; split over k, no GEMM of today's convnet step is.
#[test]
fn a_dispatch_that_leaves_the_gpu_idle_is_named() {
    let then = recorded_step("h200-2026-12-04-after.txt");
    let slow: Vec<&str> = then
        .latency_bound()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert!(slow.contains(&"gemm::matmul_bias_mixed"), "{slow:?}");
    let now = convnet_step(KernelFamily::Blocked);
    let slow: Vec<&str> = now
        .latency_bound()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert!(!slow.iter().any(|k| k.starts_with("gemm::")), "{slow:?}");
}

/// On the reference GPU, no preset's step at its default batch has a dispatch that matters (over
/// 5% of the step) on fewer than 32k invocations with a serial loop over 64, nor a host sync.
#[test]
fn every_preset_keeps_the_reference_gpu_busy() {
    for name in PRESETS {
        let spec = preset(name).unwrap();
        let plan = Plan::new(spec.input, &spec.layers, spec.defaults.batch_size).unwrap();
        let opt = spec.defaults.optimizer.optimizer();
        let step = predict_step(&plan, opt, &DeviceOptions::default(), &H200).unwrap();
        let slow: Vec<String> = step
            .latency_bound()
            .iter()
            .map(|k| {
                format!(
                    "{} ({} x {} steps)",
                    k.name, k.cost.invocations, k.cost.serial
                )
            })
            .collect();
        assert!(slow.is_empty(), "{name}: {slow:?}");
        assert_eq!(step.host_syncs, 0, "{name}");
    }
}
