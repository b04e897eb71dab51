//! The wgpu device: adapter choice, the limits the adapter really offers, buffer helpers, and
//! wgpu errors turned into `Result`s instead of panics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::adapter::{choose, instance, list, AdapterChoice, AdapterSummary};
use super::config::KernelConfig;
use super::kernel::{Kernel, KernelKey};
use super::tensor::GpuTensor;
use crate::error::{Error, Result};
use crate::util::text::Named;

/// A device and queue with the adapter's own limits, a kernel cache and an error trap.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pub(crate) kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
    /// The override constants kernels are compiled with on this adapter. Set it before building
    /// graphs; kernels compiled earlier keep their values.
    pub config: KernelConfig,
    /// Where `config` came from, for the device line (see [`DeviceOptions::constants_from`]).
    pub constants_from: String,
    /// Which family of convolution and GEMM kernels the graphs record; a graph reads it when it
    /// is built.
    pub family: KernelFamily,
    /// Who chose `family` when it is not `Auto`, for the device line.
    pub family_from: String,
    /// Whether `family` came from the tuning cache (the CLI applies it) rather than the user.
    pub family_tuned: bool,
    /// How the kernels spread their work (`ops::Threads`); a graph reads it when it is built.
    pub spread: Spread,
    /// First uncaptured wgpu error or device loss since the last `check`.
    errors: Arc<Mutex<Option<String>>>,
}

/// How the convolutions and GEMMs spread their work over invocations (`ops::Threads`): `Auto`
/// follows the adapter (its device type and subgroup size); the others force a spread, so that
/// the checks and tests run a GPU's spread on a CPU driver and the other way round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Spread {
    #[default]
    Auto,
    Few,
    Many,
}

/// How to open a device: the adapter, the kernel family and the kernel constants. The CLI fills
/// it from its flags and environment; the library reads neither.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceOptions {
    pub adapter: AdapterChoice,
    pub family: KernelFamily,
    /// Who chose `family` when it is not `Auto`, in the user's words, for the device line.
    pub family_from: String,
    pub config: KernelConfig,
    /// Where `config` came from, for the device line: "the shaders' defaults" unless set.
    pub constants_from: String,
}

impl Default for DeviceOptions {
    /// The fastest adapter, the family it suits, the shaders' own constants.
    fn default() -> Self {
        Self::with_adapter(AdapterChoice::Auto)
    }
}

impl DeviceOptions {
    /// `adapter`, with the family it suits and the shaders' own constants.
    pub fn with_adapter(adapter: AdapterChoice) -> Self {
        Self {
            adapter,
            family: KernelFamily::Auto,
            family_from: String::new(),
            config: KernelConfig::default(),
            constants_from: "the shaders' defaults".into(),
        }
    }
}

/// The kernel family for convolutions and GEMMs. `Auto` runs the register-blocked family on every
/// adapter: it is the faster one on both the CPU drivers and a discrete GPU (an H200: 1.6 ms
/// against 17.1 ms for a convnet step, docs/performance.md). `bench --tune-kernels` times both and
/// records the faster for the adapter; `--kernels` forces one, so each family can be tested
/// whole on any adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelFamily {
    Tiled,
    /// Named `cpu-adapter` before it became every adapter's default; the old name still parses.
    Blocked,
    #[default]
    Auto,
}

impl Named for KernelFamily {
    const ALL: &'static [Self] = &[Self::Tiled, Self::Blocked, Self::Auto];
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Tiled => "tiled",
            Self::Blocked => "blocked",
        }
    }
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Blocked => &["cpu-adapter"],
            _ => &[],
        }
    }
}

impl std::fmt::Display for KernelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl KernelFamily {
    /// `tiled`, `blocked` (or its old name `cpu-adapter`) or `auto` (any case); None for anything
    /// else.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Some(Self::Auto),
            "tiled" => Some(Self::Tiled),
            "blocked" | "cpu-adapter" => Some(Self::Blocked),
            _ => None,
        }
    }
}

/// Bytes of GPU memory in use (`allocated`) and held in the allocator's blocks (`reserved`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryUse {
    pub allocated: u64,
    pub reserved: u64,
}

impl GpuContext {
    /// `choice` with the family it suits and the shaders' own constants.
    pub fn with_adapter(choice: &AdapterChoice) -> Result<Self> {
        Self::open(&DeviceOptions::with_adapter(choice.clone()))
    }

    pub fn open(options: &DeviceOptions) -> Result<Self> {
        let instance = instance();
        let all = list(&instance);
        let idx = choose(&all, &options.adapter)?;
        Self::from_adapter(&all[idx], idx, options)
    }

    /// A device on `adapter` (number `idx` in the list), asking for all of its limits.
    pub(super) fn from_adapter(
        adapter: &wgpu::Adapter,
        idx: usize,
        options: &DeviceOptions,
    ) -> Result<Self> {
        let limits = adapter.limits();
        // Timestamp queries let `bench --profile` break a step down by kernel; optional.
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgnn"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("could not open {}: {e}", adapter.get_info().name)))?;
        let errors = Arc::new(Mutex::new(None::<String>));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let msg = match &e {
                wgpu::Error::OutOfMemory { .. } => format!("GPU out of memory: {e}"),
                _ => format!("GPU error: {e}"),
            };
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert(msg);
            }
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut slot) = sink.lock() {
                let why = match reason {
                    wgpu::DeviceLostReason::Destroyed => "destroyed",
                    _ => "lost for an unknown reason",
                };
                slot.get_or_insert(format!("GPU device {why}: {msg}"));
            }
        });
        Ok(Self {
            device,
            queue,
            adapter: AdapterSummary::new(idx, adapter),
            limits,
            features,
            kernels: Mutex::new(HashMap::new()),
            config: options.config.clone(),
            constants_from: options.constants_from.clone(),
            family: options.family,
            family_from: options.family_from.clone(),
            family_tuned: false,
            spread: Spread::Auto,
            errors,
        })
    }

    /// The first wgpu error or device loss since the last call, as an `Err`.
    pub fn check(&self) -> Result<()> {
        match self.errors.lock().ok().and_then(|mut s| s.take()) {
            Some(msg) => Err(Error::Gpu(msg)),
            None => Ok(()),
        }
    }

    /// GPU memory this device holds now, as wgpu's allocator reports it (None where the backend
    /// keeps no report). Dropped buffers are freed once the GPU is done with them.
    pub fn memory(&self) -> Option<MemoryUse> {
        // Let wgpu free what was dropped since the last poll, so the report shows what is held.
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.device.generate_allocator_report().map(|r| MemoryUse {
            allocated: r.total_allocated_bytes,
            reserved: r.total_reserved_bytes,
        })
    }

    /// Largest buffer that can be bound as one storage binding on this device.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// The error for a buffer over the device's limit (`bytes` is None when even the size
    /// overflows).
    fn too_big(&self, label: &str, bytes: Option<u64>) -> Error {
        let need = match bytes {
            Some(b) => format!("{} ({b} bytes)", crate::util::bytes::human(b)),
            None => "more bytes than a 64-bit size can count".into(),
        };
        let max = self.max_binding_bytes();
        Error::Gpu(format!(
            "GPU buffer `{label}` needs {need}, more than this device allows in one buffer ({} = {max} bytes on {})",
            crate::util::bytes::human(max),
            self.adapter.name
        ))
    }

    /// Checked against the limits before wgpu sees the size: wgpu panics or aborts on some
    /// oversized requests instead of reporting them.
    fn buffer(&self, bytes: u64, usage: wgpu::BufferUsages, label: &str) -> Result<wgpu::Buffer> {
        let size = bytes
            .max(4)
            .checked_next_multiple_of(4)
            .filter(|&s| s <= self.max_binding_bytes())
            .ok_or_else(|| self.too_big(label, Some(bytes)))?;
        let b = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        self.check()?;
        Ok(b)
    }

    /// A zeroed storage tensor of `len` 32-bit elements.
    pub fn alloc(&self, len: usize, label: &str) -> Result<GpuTensor> {
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let bytes = (len as u64)
            .checked_mul(4)
            .ok_or_else(|| self.too_big(label, None))?;
        let buffer = Arc::new(self.buffer(bytes, usage, label)?);
        Ok(GpuTensor {
            buffer,
            offset: 0,
            len,
        })
    }

    /// Several tensors in one buffer, each starting at an aligned offset (so each can be bound
    /// alone, and the whole buffer can be handled by one dispatch).
    pub fn alloc_arena(&self, lens: &[usize], label: &str) -> Result<(GpuTensor, Vec<GpuTensor>)> {
        let align = (self.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let mut offsets = Vec::with_capacity(lens.len());
        let mut total = 0usize;
        for &l in lens {
            offsets.push(total);
            total = l
                .max(1)
                .checked_next_multiple_of(align)
                .and_then(|l| total.checked_add(l))
                .ok_or_else(|| self.too_big(label, None))?;
        }
        let whole = self.alloc(total, label)?;
        let views = offsets
            .iter()
            .zip(lens)
            .map(|(&o, &len)| GpuTensor {
                buffer: whole.buffer.clone(),
                offset: o as u64 * 4,
                len,
            })
            .collect();
        Ok((whole, views))
    }

    /// The tensors `views` of the arena `whole` (as `alloc_arena` made them), with one readback
    /// of the whole buffer instead of one per tensor.
    pub fn read_views(&self, whole: &GpuTensor, views: &[GpuTensor]) -> Result<Vec<Vec<f32>>> {
        if views.is_empty() {
            return Ok(Vec::new());
        }
        let all = self.read_f32(whole)?;
        views
            .iter()
            .map(|v| {
                let start = v.offset.checked_sub(whole.offset).map(|b| b as usize / 4);
                match start.and_then(|s| all.get(s..s + v.len)) {
                    Some(values) if Arc::ptr_eq(&v.buffer, &whole.buffer) => Ok(values.to_vec()),
                    _ => Err(Error::Gpu(
                        "read_views: a view lies outside its arena".into(),
                    )),
                }
            })
            .collect()
    }

    /// A storage tensor holding `data`.
    pub fn tensor<T: bytemuck::Pod>(&self, data: &[T], label: &str) -> Result<GpuTensor> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let t = self.alloc(bytes.len().div_ceil(4), label)?;
        self.write(&t, data)?;
        Ok(t)
    }

    /// Overwrite the start of `t` with `data` (at most `t.len` elements).
    pub fn write<T: bytemuck::Pod>(&self, t: &GpuTensor, data: &[T]) -> Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        check_fits(t, bytes)?;
        self.stage(t, 0, bytes);
        self.check()
    }

    /// `bytes` staged for `t` at byte `at` from its start, zero-padded to the 4-byte multiple
    /// wgpu's copies need.
    fn stage(&self, t: &GpuTensor, at: u64, bytes: &[u8]) {
        if !bytes.len().is_multiple_of(4) {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            self.queue.write_buffer(&t.buffer, t.offset + at, &padded);
        } else if !bytes.is_empty() {
            self.queue.write_buffer(&t.buffer, t.offset + at, bytes);
        }
    }

    /// `bytes` into `t` from its start, 16 MiB at a time, each piece's upload finished before the
    /// next is staged: a large data set never exists twice in host memory (wgpu stages every
    /// write until its submission is done).
    pub fn write_pieces(&self, t: &GpuTensor, bytes: &[u8]) -> Result<()> {
        const PIECE: usize = 16 << 20;
        check_fits(t, bytes)?;
        for (k, piece) in bytes.chunks(PIECE).enumerate() {
            self.stage(t, (k * PIECE) as u64, piece);
            self.queue.submit([]);
            self.wait()?;
        }
        self.check()
    }

    /// A small uniform buffer holding a kernel's parameters (padded to 16 bytes as WGSL wants).
    pub fn uniform(&self, bytes: &[u8], label: &str) -> Result<wgpu::Buffer> {
        let size = (bytes.len() as u64).max(16).next_multiple_of(16);
        let b = self.buffer(
            size,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            label,
        )?;
        let mut padded = bytes.to_vec();
        padded.resize(size as usize, 0);
        self.queue.write_buffer(&b, 0, &padded);
        Ok(b)
    }

    /// Copy `t` back to the host (blocks until the GPU is done with all earlier work).
    pub fn read_bytes(&self, t: &GpuTensor) -> Result<Vec<u8>> {
        let size = t.len as u64 * 4;
        if size == 0 {
            return Ok(Vec::new());
        }
        let staging = self.buffer(
            size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            "readback",
        )?;
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.buffer, t.offset, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = futures_intrusive::channel::shared::oneshot_channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        match pollster::block_on(rx.receive()) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu(format!("reading a GPU buffer back: {e}"))),
            None => {
                return Err(Error::Gpu(
                    "reading a GPU buffer back: mapping dropped".into(),
                ))
            }
        }
        let data = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("reading a GPU buffer back: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    pub fn read_f32(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(t)?))
    }

    pub fn read_u32(&self, t: &GpuTensor) -> Result<Vec<u32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(t)?))
    }

    /// Block until all submitted work is done; report any GPU error it raised.
    pub fn wait(&self) -> Result<()> {
        self.wait_for(None)
    }

    /// Block until submission `index` is done (all submitted work when None); report any GPU
    /// error.
    pub fn wait_for(&self, index: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.check()
    }
}

/// A write of `bytes` must fit in `t`.
fn check_fits(t: &GpuTensor, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 > t.len as u64 * 4 {
        return Err(Error::Gpu(format!(
            "write of {} bytes into a tensor of {} elements",
            bytes.len(),
            t.len
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_family_parse() {
        use crate::runtime::KernelFamily;
        assert_eq!(KernelFamily::parse(" Tiled"), Some(KernelFamily::Tiled));
        assert_eq!(KernelFamily::parse("gpu"), None);
    }
}
