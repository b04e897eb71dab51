//! The GPU side of wgnn: device context, tensors resident in GPU buffers, the shader registry and
//! the kernel cache, and `Dispatch` records that a graph replays every step.

mod adapter;
mod config;
mod context;
mod cost;
mod include;
mod kernel;
mod limits_check;
mod pipelines;
mod profile;
mod readback;
mod reference;
mod reflect;
mod shaders;
mod tensor;
mod tile_check;
pub mod tuning_cache;

pub use adapter::{adapters, check_choice, AdapterChoice, AdapterSummary, DeviceKind, Vendor};
pub use config::{Constants, KernelConfig};
pub use context::{DeviceOptions, GpuContext, KernelFamily, MemoryUse, Spread};
pub use cost::{Cost, Work};
pub use include::{assemble, Assembled};
pub use kernel::{grid_1d, Dispatch, Kernel};
pub use limits_check::{check as check_limits, fallback_workgroup, KernelNeeds};
pub use profile::time_each;
pub use readback::AsyncReadback;
pub use reference::REFERENCE_NAME;
pub use reflect::{
    compiled_module, parse_assembled, parse_shader, reflect_entry, shader_constant, BindingInfo,
    BindingKind, EntryInfo, Parsed,
};
pub use shaders::{shader_file, shader_files, shader_source, shaders_hash, SHADERS};
pub use tensor::GpuTensor;
pub use tile_check::{check_tile, tile_threads};
