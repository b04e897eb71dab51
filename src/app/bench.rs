//! `wgnn bench`: training-step throughput of a model on a backend, after a warm-up.

use std::time::Instant;

use super::backend::{with_backend, BackendKind, GraphKind};
use super::device::Device;
use crate::error::{Error, Result};
use crate::graph::{MemoryUse, Plan};
use crate::model::ModelSpec;
use crate::ops::ema::Ema;

/// The flags of `wgnn bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// A preset or a .toml file
    #[arg(long, default_value = "convnet", value_parser = crate::model::resolve)]
    pub model: ModelSpec,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    #[arg(long, value_enum, default_value_t = BackendKind::Auto)]
    pub backend: BackendKind,
    #[command(flatten)]
    pub data: super::data::DataArgs,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
    /// Break one GPU step down by kernel (GPU timestamps where the adapter has them)
    #[arg(long)]
    pub profile: bool,
    /// Time each kernel's workgroup variants and the kernel family at the model's shapes on
    /// the adapter (the GPU backend), and store the fastest in the kernel tuning cache
    /// ($WGNN_CACHE_DIR, else $XDG_CACHE_HOME/wgnn, else ~/.cache/wgnn)
    #[arg(long, conflicts_with_all = ["profile", "json"])]
    pub tune_kernels: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch_size: usize,
    pub steps: usize,
    pub seconds: f64,
    pub ms_per_step: f64,
    pub images_per_second: f64,
    pub device: String,
    pub backend: String,
    /// How the GPU held the images ("held whole on the GPU", "streamed, as asked"); None on the
    /// CPU backend, which reads them in place.
    pub data: Option<String>,
    /// GPU memory in use after the warm-up and after the timed steps (GPU backend only): equal
    /// when nothing grows from step to step.
    pub gpu_memory_after_warmup: Option<MemoryUse>,
    pub gpu_memory_after_steps: Option<MemoryUse>,
}

/// `steps * batch`, the length of the list of sample indices the benchmark replays, when that
/// list (4 bytes an index) fits 32-bit indices and the machine's memory.
fn index_list_len(steps: usize, batch: usize) -> Result<usize> {
    let (memory, source) = crate::util::host_memory::total();
    match steps.checked_mul(batch) {
        Some(n) if n as u64 <= u64::from(u32::MAX) && (n as u64) * 4 <= memory => Ok(n),
        _ => Err(Error::msg(format!(
            "--steps {steps} with --batch-size {batch} is too many samples to benchmark: their index list would need {} (at most {} indices, and {} of memory by {source})",
            (steps as u128 * batch as u128 * 4)
                .try_into()
                .map(crate::util::bytes::human)
                .unwrap_or_else(|_| "more than 16 EiB".into()),
            u32::MAX,
            crate::util::bytes::human(memory)
        ))),
    }
}

/// The training graph the model's defaults train: its optimizer, and its moving average of the
/// weights where it keeps one (one more dispatch a step).
fn training(a: &BenchArgs) -> Result<GraphKind> {
    let d = &a.model.defaults;
    let ema = d.ema.map(Ema::new).transpose()?;
    Ok(GraphKind::Training(d.optimizer.optimizer(), 0, ema))
}

pub fn measure(a: &BenchArgs, device: &Device) -> Result<BenchResult> {
    let batch = a.batch_size.unwrap_or(a.model.defaults.batch_size);
    if batch == 0 || a.steps == 0 {
        return Err(Error::msg("--batch-size and --steps must be at least 1"));
    }
    let data = a.data.load()?.splits;
    let plan = Plan::new(a.model.input, &a.model.layers, batch)?;
    let n = batch
        .saturating_mul(a.steps.max(a.warmup))
        .min(data.train.len())
        .max(batch.min(data.train.len()));
    let samples = index_list_len(a.steps, batch)?;
    let order: Vec<u32> = (0..samples).map(|i| (i % n) as u32).collect();
    let warm: Vec<u32> = order[..a.warmup.saturating_mul(batch).min(order.len())].to_vec();
    let lr = a.model.defaults.lr;
    with_backend(a.backend, device, plan, training(a)?, |b| {
        b.load(0, data.train.host(n))?;
        if !warm.is_empty() {
            b.train_at(0, &warm, lr)?;
        }
        let gpu_memory_after_warmup = b.memory();
        let t0 = Instant::now();
        b.train_at(0, &order, lr)?;
        let seconds = t0.elapsed().as_secs_f64();
        let gpu_memory_after_steps = b.memory();
        Ok(BenchResult {
            model: a.model.name.clone(),
            batch_size: batch,
            steps: a.steps,
            seconds,
            ms_per_step: 1000.0 * seconds / a.steps as f64,
            images_per_second: (a.steps * batch) as f64 / seconds,
            device: b.describe(),
            backend: b.name().to_string(),
            data: b.residency(0),
            gpu_memory_after_warmup,
            gpu_memory_after_steps,
        })
    })
}

/// One training step broken down by kernel.
pub struct Profile {
    pub device: String,
    /// (kernel or op, seconds) in launch order.
    pub rows: Vec<(String, f64)>,
    /// Kernel name to the override constants it was compiled with (the variant that ran).
    pub variants: std::collections::BTreeMap<String, String>,
}

/// One training step, kernel by kernel on the GPU (op by op on the CPU backend).
pub fn profile(a: &BenchArgs, device: &Device) -> Result<Profile> {
    let batch = a.batch_size.unwrap_or(a.model.defaults.batch_size);
    let data = a.data.load()?.splits;
    let plan = Plan::new(a.model.input, &a.model.layers, batch)?;
    let n = batch.min(data.train.len());
    let host = data.train.host(n);
    with_backend(a.backend, device, plan, training(a)?, |b| {
        b.load(0, host)?;
        // Warm-up: first launches compile pipelines in some drivers; first touches of memory.
        b.profile_step(0)?;
        let rows = b.profile_step(0)?;
        let device = match b.kernel_constants() {
            Some(c) => format!("{}, kernel constants {c}", b.describe()),
            None => b.describe(),
        };
        Ok(Profile {
            device,
            rows,
            variants: b.kernel_variants().into_iter().collect(),
        })
    })
}

fn print_profile(model: &str, p: &Profile) {
    let total: f64 = p.rows.iter().map(|r| r.1).sum();
    println!(
        "{model}: one training step on {}, {:.3} ms in ops",
        p.device,
        total * 1e3
    );
    for (name, t) in &p.rows {
        let variant = p
            .variants
            .get(name)
            .map(|c| format!("  [{c}]"))
            .unwrap_or_default();
        println!(
            "{:>10.3} ms {:>5.1}%  {name}{variant}",
            t * 1e3,
            100.0 * t / total.max(1e-12)
        );
    }
}

pub fn run(a: &BenchArgs, device: &Device) -> Result<()> {
    if a.tune_kernels {
        return super::tune_kernels::run(a, device);
    }
    if a.profile {
        let p = profile(a, device)?;
        if a.json {
            let kernels: Vec<_> = p
                .rows
                .iter()
                .map(|(n, t)| {
                    serde_json::json!({"kernel": n, "ms": t * 1e3, "constants": p.variants.get(n)})
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({"model": a.model.name, "device": p.device, "kernels": kernels})
            );
        } else {
            print_profile(&a.model.name, &p);
        }
        return Ok(());
    }
    let r = measure(a, device)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&r).map_err(|e| Error::msg(e.to_string()))?
        );
    } else {
        println!(
            "{}: batch {}, {} steps on {}: {:.2} ms/step, {:.0} images/s",
            r.model, r.batch_size, r.steps, r.device, r.ms_per_step, r.images_per_second
        );
        if let Some(how) = &r.data {
            println!("Data: {how}");
        }
        match r.gpu_memory_after_steps {
            Some(m) => println!(
                "GPU memory in use: {:.1} MiB (reserved {:.1} MiB)",
                m.allocated as f64 / (1024.0 * 1024.0),
                m.reserved as f64 / (1024.0 * 1024.0)
            ),
            // wgpu's GL backend keeps no allocator report.
            None if r.backend == "gpu" => {
                println!("GPU memory in use: not reported by this adapter")
            }
            None => {}
        }
    }
    Ok(())
}
