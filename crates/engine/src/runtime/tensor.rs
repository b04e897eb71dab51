//! A view of 32-bit elements (f32 or u32) inside a GPU buffer. Several views may share one buffer:
//! all parameters live in one buffer so that one dispatch can update them all.

use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct GpuTensor {
    pub buffer: Arc<wgpu::Buffer>,
    /// Byte offset of the first element (a multiple of the storage offset alignment).
    pub offset: u64,
    /// Number of 32-bit elements.
    pub len: usize,
}

impl GpuTensor {
    pub fn bytes(&self) -> u64 {
        (self.len as u64 * 4).max(4)
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.bytes()),
        })
    }
}
