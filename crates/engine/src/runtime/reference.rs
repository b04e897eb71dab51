//! The reference GPU: wgpu's noop backend, reporting the limits and subgroup size of the data
//! centre GPUs wgnn is tuned for (an H100 or H200 through Vulkan, as `wgnn devices` lists them
//! in docs/gpu-runs/). Its device compiles every kernel through wgpu's validation and records
//! every dispatch exactly as a real one does, but runs nothing: it gives a training step's
//! dispatch list, with each dispatch's cost, on a machine with no GPU driver at all.

use super::adapter::DeviceKind;
use super::context::{DeviceOptions, GpuContext};
use crate::error::{Error, Result};

/// What the reference adapter is called in device lines.
pub const REFERENCE_NAME: &str = "reference GPU (an H100/H200's limits, nothing runs)";

/// The limits an H200 reports through Vulkan (docs/gpu-runs/h200-2026-12-04-after.txt): 1024
/// invocations per workgroup (1024x1024x64), 48 KiB of workgroup memory, 2 GiB per binding.
fn reference_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_invocations_per_workgroup: 1024,
        max_compute_workgroup_size_x: 1024,
        max_compute_workgroup_size_y: 1024,
        max_compute_workgroup_size_z: 64,
        max_compute_workgroup_storage_size: 48 << 10,
        max_storage_buffer_binding_size: 2 << 30,
        max_buffer_size: 2 << 30,
        max_storage_buffers_per_shader_stage: 1 << 16,
        ..wgpu::Limits::defaults()
    }
}

impl GpuContext {
    /// A device on the reference GPU with `options`' family and constants (its adapter choice
    /// is ignored).
    pub fn reference(options: &DeviceOptions) -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::NOOP;
        desc.backend_options.noop = wgpu::NoopBackendOptions {
            enable: true,
            limits: Some(reference_limits()),
            features: Some(wgpu::Features::empty()),
            device_type: Some(wgpu::DeviceType::DiscreteGpu),
            subgroup_min_size: Some(32),
            subgroup_max_size: Some(32),
        };
        let instance = wgpu::Instance::new(desc);
        let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::NOOP))
            .into_iter()
            .next()
            .ok_or_else(|| Error::Gpu("wgpu's reference (noop) adapter is missing".into()))?;
        let mut ctx = Self::from_adapter(&adapter, 0, options)?;
        ctx.adapter.name = REFERENCE_NAME.into();
        // wgpu-hal 30's noop adapter drops NoopBackendOptions::device_type (it reports its
        // default type), so the summary says what the reference stands for.
        ctx.adapter.device_type = DeviceKind::DiscreteGpu;
        Ok(ctx)
    }

    /// Whether this device is the reference GPU, which runs nothing.
    pub fn is_reference(&self) -> bool {
        self.adapter.backend == "no-op"
    }
}
