//! Choosing the backend a command runs on: a GPU adapter, or the CPU backend.

use super::device::Device;
use crate::error::Result;
use crate::graph::{Backend, CpuGraph, GpuGraph, Limits, Plan};
use crate::ops::ema::Ema;
use crate::ops::optim::Optimizer;
use crate::runtime::{AdapterChoice, GpuContext};

/// Where a command computes: `auto`, `gpu` or `cpu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// A GPU adapter when there is one, else the CPU (saying so).
    Auto,
    Gpu,
    Cpu,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Gpu => "gpu",
            Self::Cpu => "cpu",
        })
    }
}

/// What the graph is built for.
#[derive(Clone, Copy, Debug)]
pub enum GraphKind {
    /// Training with this optimizer, parameters initialised from the seed, keeping the moving
    /// average of the weights where one is given.
    Training(Optimizer, u64, Option<Ema>),
    /// Forward passes only (evaluation, prediction): no gradients and no optimizer state.
    Inference,
}

/// Build the backend for `plan` and run `f` with it. Every command that trains or runs a model
/// comes through here, so this is where the plan is checked against the device's memory before
/// anything is allocated. An adapter asked for by name or index that matches none is an error,
/// whatever the backend.
pub fn with_backend<T>(
    kind: BackendKind,
    device: &Device,
    plan: Plan,
    graph: GraphKind,
    f: impl FnOnce(&mut dyn Backend) -> Result<T>,
) -> Result<T> {
    let adapter = &device.options.adapter;
    if kind == BackendKind::Cpu {
        crate::runtime::check_choice(adapter)?;
    }
    let mut ctx = match kind {
        BackendKind::Cpu => None,
        BackendKind::Gpu => Some(device.open_untuned()?),
        BackendKind::Auto => match device.open_untuned() {
            // A software Vulkan driver (lavapipe) is slower than the CPU backend on the same cores.
            Ok(c) if c.adapter.is_cpu() && *adapter == AdapterChoice::Auto => {
                eprintln!(
                    "wgnn: the only adapter is {} (Vulkan on the CPU); using the faster CPU backend (`--backend gpu` forces the adapter)",
                    c.adapter.name
                );
                None
            }
            Ok(c) => Some(c),
            // The user named an adapter: falling back would hide the mistake.
            Err(e) if *adapter != AdapterChoice::Auto => return Err(e),
            Err(e) => {
                eprintln!("wgnn: {e}\nwgnn: using the CPU backend");
                None
            }
        },
    };
    // Only once the GPU is the backend, so a CPU run says nothing about kernel constants.
    if let Some(c) = ctx.as_mut() {
        device.apply_cache(c);
    }
    let mut backend: Box<dyn Backend + '_> = match (&ctx, graph) {
        (Some(ctx), GraphKind::Training(opt, seed, ema)) => {
            let g = gpu_training_graph(ctx, plan, (opt, ema), seed)?;
            Box::new(match ema {
                Some(ema) => g.averaging(ema)?,
                None => g,
            })
        }
        (Some(ctx), GraphKind::Inference) => {
            plan.check_fits(&Limits::gpu(ctx, 0))?;
            Box::new(GpuGraph::inference(ctx, plan)?)
        }
        (None, graph) => {
            plan.check_fits(&Limits::host())?;
            match graph {
                GraphKind::Training(opt, seed, ema) => {
                    let g = CpuGraph::new(plan, opt, seed)?.with_isa(device.cpu_isa)?;
                    Box::new(match ema {
                        Some(ema) => g.averaging(ema),
                        None => g,
                    })
                }
                GraphKind::Inference => {
                    Box::new(CpuGraph::inference(plan)?.with_isa(device.cpu_isa)?)
                }
            }
        }
    };
    backend.set_residency(device.residency());
    f(backend.as_mut())
}

/// A GPU training graph for `plan`, checked against the device's memory first.
pub fn gpu_training_graph(
    ctx: &GpuContext,
    plan: Plan,
    (opt, ema): (Optimizer, Option<Ema>),
    seed: u64,
) -> Result<GpuGraph<'_>> {
    // The moving average is one more buffer of the parameters' size.
    let per_param = opt.state_buffers() + ema.is_some() as usize;
    plan.check_fits(&Limits::gpu(ctx, per_param as u64))?;
    GpuGraph::new(ctx, plan, opt, seed)
}
