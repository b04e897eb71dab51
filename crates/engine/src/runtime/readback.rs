//! A non-blocking readback for small tensors (the running loss and accuracy of the progress bar):
//! a copy into a mappable buffer rides along with a submission, and the values are picked up
//! later, once the GPU has got there, without ever waiting for it. At most one read is in flight.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::{GpuContext, GpuTensor};
use crate::error::{Error, Result};

const IDLE: u8 = 0;
const RECORDED: u8 = 1;
const MAPPING: u8 = 2;
const READY: u8 = 3;
const FAILED: u8 = 4;

pub struct AsyncReadback {
    staging: wgpu::Buffer,
    bytes: u64,
    state: Arc<AtomicU8>,
}

impl AsyncReadback {
    /// Room for `len` 32-bit values.
    pub fn new(ctx: &GpuContext, len: usize, label: &str) -> Result<Self> {
        let bytes = (len as u64 * 4).max(4);
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.check()?;
        Ok(Self {
            staging,
            bytes,
            state: Arc::new(AtomicU8::new(IDLE)),
        })
    }

    /// Records a copy of the start of `src` into `enc` unless a read is already in flight.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder, src: &GpuTensor) {
        if self.state.load(Ordering::Acquire) == IDLE {
            let bytes = self.bytes.min(src.len as u64 * 4);
            enc.copy_buffer_to_buffer(&src.buffer, src.offset, &self.staging, 0, bytes);
            self.state.store(RECORDED, Ordering::Release);
        }
    }

    /// To be called once the encoder `record` wrote into has been submitted: asks for the
    /// mapping, which completes when the GPU has executed the copy.
    pub fn submitted(&self) {
        if self.state.load(Ordering::Acquire) != RECORDED {
            return;
        }
        self.state.store(MAPPING, Ordering::Release);
        let state = self.state.clone();
        self.staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| {
                state.store(if r.is_ok() { READY } else { FAILED }, Ordering::Release);
            });
    }

    /// Whether a read is recorded or in flight (a new `record` would be skipped).
    pub fn busy(&self) -> bool {
        self.state.load(Ordering::Acquire) != IDLE
    }

    /// The values (32-bit words), if the copy has completed; never blocks.
    pub fn try_take(&self, ctx: &GpuContext) -> Result<Option<Vec<u32>>> {
        if self.state.load(Ordering::Acquire) == MAPPING {
            ctx.device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| Error::Gpu(format!("polling the GPU: {e}")))?;
        }
        self.take()
    }

    /// Finishes an in-flight read so the buffer can be used again (after the caller has waited
    /// for the GPU, which completes the mapping); returns its values, if there was one.
    pub fn settle(&self, ctx: &GpuContext) -> Result<Option<Vec<u32>>> {
        match self.state.load(Ordering::Acquire) {
            RECORDED => {
                // Recorded but never submitted: nothing will complete it.
                self.state.store(IDLE, Ordering::Release);
                Ok(None)
            }
            MAPPING => {
                ctx.wait()?;
                self.take()
            }
            _ => self.take(),
        }
    }

    fn take(&self) -> Result<Option<Vec<u32>>> {
        match self.state.load(Ordering::Acquire) {
            READY => {
                let slice = self.staging.slice(..);
                let values = slice
                    .get_mapped_range()
                    .map(|view| bytemuck::pod_collect_to_vec(&view));
                self.staging.unmap();
                self.state.store(IDLE, Ordering::Release);
                values
                    .map(Some)
                    .map_err(|e| Error::Gpu(format!("reading a GPU buffer back: {e}")))
            }
            FAILED => {
                self.state.store(IDLE, Ordering::Release);
                Err(Error::Gpu(
                    "reading a GPU buffer back: mapping failed".into(),
                ))
            }
            _ => Ok(None),
        }
    }
}
