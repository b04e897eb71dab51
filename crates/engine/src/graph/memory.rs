//! What a backend will hold for a plan, checked against what the device allows before anything is
//! allocated: an oversized model or batch is an error naming the layer and tensor, not an abort
//! of the allocator or a wgpu panic.

use super::plan::{dims_str, Plan};
use crate::error::{Error, Result};
use crate::layers::MemoryCx;
pub use crate::layers::MemoryItem;
use crate::util::bytes::human;
use crate::util::host_memory;

/// What a device allows: the largest single buffer, and the total where it is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// "GPU llvmpipe (...)" or "the CPU backend", for messages.
    pub device: String,
    pub max_buffer: u64,
    /// Why `max_buffer` is what it is.
    pub max_buffer_source: String,
    /// All buffers together (None: unknown, as for a GPU's own memory through wgpu).
    pub total: Option<u64>,
    pub total_source: String,
    /// The GPU keeps all parameters in one buffer (an arena), the CPU one vector per tensor.
    pub arena: bool,
    /// Optimizer state buffers per parameter (Adam 2, RMSprop 1, SGD 0); the CPU backend always
    /// keeps 2.
    pub optimizer_states: u64,
}

impl Limits {
    /// The CPU backend: vectors of at most `isize::MAX` bytes, and at most the machine's memory.
    pub fn host() -> Self {
        let (total, source) = host_memory::total();
        Self {
            device: "the CPU backend".into(),
            max_buffer: isize::MAX as u64,
            max_buffer_source: "the largest vector Rust can allocate".into(),
            total: Some(total),
            total_source: format!("this machine's memory ({source})"),
            arena: false,
            optimizer_states: 2,
        }
    }

    /// A GPU adapter: wgpu's `max_buffer_size` and `max_storage_buffer_binding_size`. A software
    /// driver (lavapipe, llvmpipe) and the reference device (wgpu's noop one, whose buffers are
    /// plain allocations) also allocate from the machine's memory.
    pub fn gpu(ctx: &crate::runtime::GpuContext, optimizer_states: u64) -> Self {
        let (total, total_source) = if ctx.adapter.is_cpu() || ctx.is_reference() {
            let (t, s) = host_memory::total();
            (
                Some(t),
                format!(
                    "this machine's memory ({s}), which {} uses",
                    ctx.adapter.name
                ),
            )
        } else {
            (None, String::new())
        };
        Self {
            device: format!("GPU {}", ctx.adapter.name),
            max_buffer: ctx.max_binding_bytes(),
            max_buffer_source: "the adapter's max_buffer_size and max_storage_buffer_binding_size"
                .into(),
            total,
            total_source,
            arena: true,
            optimizer_states,
        }
    }
}

/// "192 bytes", or "2.9 TiB (3136000000000 bytes)".
fn sized(bytes: u64) -> String {
    match human(bytes) {
        h if bytes < 1024 => h,
        h => format!("{h} ({bytes} bytes)"),
    }
}

fn f32_bytes(elements: usize) -> u64 {
    // Plan::new keeps every tensor under 2^32 elements, so this cannot overflow.
    elements as u64 * 4
}

impl Plan {
    /// The buffers a backend holds to train this plan (the large ones: parameters, gradients,
    /// optimizer state, activations and their gradients, and what layers keep for their backward
    /// pass). Small fixed buffers (labels, metrics, uniforms) are left out.
    pub fn memory_estimate(&self, limits: &Limits) -> Vec<MemoryItem> {
        let b = self.max_batch;
        let mut v = Vec::new();
        // Parameters, their gradients and the optimizer's state: 2 + states copies.
        let copies = 2 + limits.optimizer_states;
        if limits.arena {
            let total: u64 = self.params.iter().map(|p| f32_bytes(p.len()).max(4)).sum();
            v.push(MemoryItem {
                what: format!("all {} parameter tensors in one buffer", self.params.len()),
                bytes: total,
                count: copies,
            });
        } else {
            for p in &self.params {
                v.push(MemoryItem {
                    what: format!("parameter `{}` ({})", p.name, dims_str(&p.shape)),
                    bytes: f32_bytes(p.len()),
                    count: copies,
                });
            }
        }
        for p in &self.stats {
            v.push(MemoryItem {
                what: format!("statistic `{}` ({})", p.name, dims_str(&p.shape)),
                bytes: f32_bytes(p.len()),
                count: 1,
            });
        }
        v.push(MemoryItem {
            what: format!("the input batch ({}x{})", b, self.act_len[0]),
            bytes: f32_bytes(b * self.act_len[0]),
            count: 2,
        });
        for (i, node) in self.nodes.iter().enumerate() {
            let layer = &self.node_layers[i];
            let out = self.act_len[i + 1];
            v.push(MemoryItem {
                what: format!("{layer}: output activations and their gradient ({b}x{out})"),
                bytes: f32_bytes(b * out),
                count: 2,
            });
            node.memory(&mut MemoryCx {
                layer,
                batch: b,
                out,
                arena: limits.arena,
                items: &mut v,
            });
        }
        v.push(MemoryItem {
            what: format!("class probabilities ({b}x{})", self.classes),
            bytes: f32_bytes(b * self.classes),
            count: 1,
        });
        v
    }

    /// Errors unless every buffer fits the device's single-buffer limit and all of them fit its
    /// memory. The message names the tensor (and its layer), the bytes needed and the limit.
    pub fn check_fits(&self, limits: &Limits) -> Result<()> {
        let tensors = self.memory_estimate(limits);
        let hint = "use a smaller batch size or smaller layers";
        if let Some(t) = tensors.iter().find(|t| t.bytes > limits.max_buffer) {
            return Err(Error::Model(format!(
                "{} needs {} in one buffer, more than {} allows: {} ({}); {hint}",
                t.what,
                sized(t.bytes),
                limits.device,
                sized(limits.max_buffer),
                limits.max_buffer_source
            )));
        }
        let total = tensors.iter().fold(0u64, |a, t| {
            a.saturating_add(t.bytes.saturating_mul(t.count))
        });
        if let Some(limit) = limits.total.filter(|&l| total > l) {
            let largest = tensors
                .iter()
                .max_by_key(|t| t.bytes.saturating_mul(t.count))
                .map(|t| format!("{}, {}", t.what, human(t.bytes.saturating_mul(t.count))))
                .unwrap_or_default();
            return Err(Error::Model(format!(
                "training with batch {} on {} needs about {} in all (the largest: {largest}), more than the {} of {}; {hint}",
                self.max_batch,
                limits.device,
                sized(total),
                sized(limit),
                limits.total_source
            )));
        }
        Ok(())
    }
}
