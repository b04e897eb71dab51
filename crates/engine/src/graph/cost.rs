//! A training step's cost, predicted from its dispatches on a reference GPU: no GPU needed (the
//! dispatches are recorded on wgpu's noop device, `GpuContext::reference`). Each dispatch takes
//! its launch plus the largest of three times: its bytes over the memory bandwidth, its
//! arithmetic over the FP32 lanes it keeps busy, and its longest serial loop times what one
//! iteration waits (a memory round trip plus its loads, or a tile step synchronised through
//! workgroup memory), once per wave of invocations the GPU holds. The launch and iteration
//! constants are fitted to the two H200 profiles in docs/gpu-runs/ (the blocked and the tiled
//! kernels of a convnet step); `crates/engine/tests/cost_model.rs` keeps the fit.

use crate::error::Result;
use crate::graph::{Backend, GpuGraph, HostData, Limits, Plan};
use crate::ops::optim::Optimizer;
use crate::runtime::{Cost, DeviceOptions, GpuContext};

/// A GPU as the cost model sees it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ReferenceGpu {
    pub name: &'static str,
    /// Microseconds a dispatch takes besides its work (launch, barrier to the next).
    pub launch_us: f64,
    /// Microseconds an iteration of a serial loop waits on memory, plus `load_us` for each load
    /// it issues.
    pub iteration_us: f64,
    pub load_us: f64,
    /// Microseconds one step of a tiled kernel takes (its tiles through workgroup memory, with
    /// barriers).
    pub synchronised_iteration_us: f64,
    /// Invocations the GPU holds at once (streaming multiprocessors x threads each).
    pub resident: f64,
    /// FP32 lanes (streaming multiprocessors x lanes each): invocations beyond these add no
    /// arithmetic rate.
    pub lanes: f64,
    /// Memory bandwidth in bytes per microsecond.
    pub bytes_per_us: f64,
    /// FP32 operations per microsecond with every lane busy.
    pub flops_per_us: f64,
}

/// An H200: 132 SMs of 2,048 threads and 128 FP32 lanes, 4.8 TB/s, 67 TFLOP/s FP32; launch and
/// iteration times fitted to its profiles in docs/gpu-runs/.
pub const H200: ReferenceGpu = ReferenceGpu {
    name: "H200",
    launch_us: 6.0,
    iteration_us: 0.2,
    load_us: 0.03,
    synchronised_iteration_us: 77.0,
    resident: 132.0 * 2048.0,
    lanes: 132.0 * 128.0,
    bytes_per_us: 4.8e6,
    flops_per_us: 67.0e6,
};

/// One dispatch with its predicted time.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KernelCost {
    pub name: String,
    #[serde(flatten)]
    pub cost: Cost,
    pub predicted_us: f64,
}

/// A training step: its dispatches and their sums.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepCost {
    pub gpu: ReferenceGpu,
    pub dispatches: usize,
    pub bytes: u64,
    pub flops: u64,
    /// Times the host waits on the GPU inside a step: none, since a step is recorded once and
    /// replayed (the progress is read asynchronously, once per submission of many steps).
    pub host_syncs: usize,
    pub predicted_step_us: f64,
    pub kernels: Vec<KernelCost>,
}

impl StepCost {
    /// The dispatches that take more than 5% of the predicted step while leaving the GPU idle:
    /// fewer than 32k invocations, each running a serial loop longer than 64 iterations.
    pub fn latency_bound(&self) -> Vec<&KernelCost> {
        self.kernels
            .iter()
            .filter(|k| {
                k.predicted_us > 0.05 * self.predicted_step_us
                    && k.cost.invocations < 32_768
                    && k.cost.serial > 64
            })
            .collect()
    }
}

impl ReferenceGpu {
    /// The predicted time of one dispatch, in microseconds.
    pub fn predict(&self, c: &Cost) -> f64 {
        let inv = c.invocations.max(1) as f64;
        let waves = (inv / self.resident).ceil();
        let busy = (inv / self.lanes).min(1.0);
        let memory = c.bytes as f64 / self.bytes_per_us;
        let arithmetic = c.flops as f64 / (self.flops_per_us * busy);
        let iteration = match c.synchronised {
            true => self.synchronised_iteration_us,
            false => self.iteration_us + self.load_us * c.loads as f64,
        };
        let latency = c.serial as f64 * iteration * waves;
        self.launch_us + memory.max(arithmetic).max(latency)
    }

    /// The step made of `dispatches` (name and cost each, in order).
    pub fn step(&self, dispatches: &[(String, Cost)]) -> StepCost {
        let kernels: Vec<KernelCost> = dispatches
            .iter()
            .map(|(name, cost)| KernelCost {
                name: name.clone(),
                cost: *cost,
                predicted_us: self.predict(cost),
            })
            .collect();
        StepCost {
            gpu: *self,
            dispatches: kernels.len(),
            bytes: kernels.iter().map(|k| k.cost.bytes).sum(),
            flops: kernels.iter().map(|k| k.cost.flops).sum(),
            host_syncs: 0,
            predicted_step_us: kernels.iter().map(|k| k.predicted_us).sum(),
            kernels,
        }
    }
}

/// The predicted training step of `plan` with `opt` on the reference GPU, with `options`' kernel
/// family and constants: the dispatches a device records for it, each costed.
pub fn predict_step(
    plan: &Plan,
    opt: Optimizer,
    options: &DeviceOptions,
    gpu: &ReferenceGpu,
) -> Result<StepCost> {
    let ctx = GpuContext::reference(options)?;
    // Its buffers are allocations on this machine: a plan too big for it is an error, not an
    // abort.
    plan.check_fits(&Limits::gpu(&ctx, opt.state_buffers() as u64))?;
    let mut graph = GpuGraph::new(&ctx, plan.clone(), opt, 0)?;
    // A batch of blank images: the gather's launch depends on their shape, not their values.
    let (batch, len) = (plan.max_batch, plan.input_len());
    graph.load(
        0,
        HostData::copied(&vec![0; batch * len], &vec![0; batch], len),
    )?;
    Ok(gpu.step(&graph.step_dispatches(0)?))
}
