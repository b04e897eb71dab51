//! The GPU side of wgnn: device context, tensors resident in GPU buffers, the shader registry and
//! the kernel cache, and `Dispatch` records that a graph replays every step.

mod context;
mod kernel;
mod readback;
mod reflect;
mod shaders;
mod tensor;

pub use context::{
    adapters, check_choice, AdapterChoice, AdapterSummary, GpuContext, KernelFamily, MemoryUse,
    CPU_DEVICE,
};
pub use kernel::{grid_1d, Dispatch, Kernel};
pub use readback::AsyncReadback;
pub use reflect::{reflect_entry, BindingInfo, BindingKind};
pub use shaders::{shader_source, SHADERS};
pub use tensor::GpuTensor;
