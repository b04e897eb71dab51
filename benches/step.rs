//! `cargo bench`: training-step throughput of every preset on each backend this machine has
//! (the GPU adapter, then the CPU backend), with each preset's default batch size.
//! Filter presets with `cargo bench -- convnet tiny`; set WGNN_BENCH_STEPS to change the count.

use std::path::PathBuf;

use wgnn::app::bench::{measure, BenchArgs};
use wgnn::app::{BackendKind, Device};
use wgnn::model::{preset, PRESETS};
use wgnn::runtime::{adapters, AdapterChoice};

fn main() {
    // As the CLI does: the CPU backend's speed depends on it.
    wgnn::util::malloc::keep_freed_memory();
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let steps = std::env::var("WGNN_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut backends = vec![BackendKind::Cpu];
    if !adapters(&AdapterChoice::Auto).0.is_empty() {
        backends.insert(0, BackendKind::Gpu);
    }
    println!(
        "{:<12} {:>6} {:>7} {:>12} {:>10}  device",
        "model", "batch", "backend", "images/s", "ms/step"
    );
    let device = match Device::from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    for name in PRESETS
        .iter()
        .filter(|p| filter.is_empty() || filter.iter().any(|f| f == *p))
    {
        let spec = match preset(name) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        for &backend in &backends {
            let args = BenchArgs {
                model: spec.clone(),
                batch_size: None,
                steps,
                warmup: 2,
                backend,
                data: wgnn::app::data::DataArgs {
                    data_dir: Some(PathBuf::from("data/mnist")),
                    ..Default::default()
                },
                json: false,
                profile: false,
                tune_kernels: false,
            };
            match measure(&args, &device) {
                Ok(r) => println!(
                    "{:<12} {:>6} {:>7} {:>12.0} {:>10.2}  {}",
                    r.model, r.batch_size, r.backend, r.images_per_second, r.ms_per_step, r.device
                ),
                Err(e) => eprintln!("{name} on {backend:?}: {e}"),
            }
        }
    }
}
