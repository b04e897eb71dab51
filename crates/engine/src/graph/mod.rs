//! The graph runtime: a Sequential model compiled once into a static plan of ops, executed either on
//! the GPU (every buffer and bind group made once, steps replayed from recorded dispatches) or on the
//! CPU (the reference ops, with a packed GEMM for the matrix products). Both backends share the
//! plan, the parameter layout and the initialisation, so any model can be trained and compared on
//! both.

mod backend;
mod checks;
pub mod cost;
mod cpu;
mod drive;
mod gpu;
mod gpu_average;
mod init;
mod memory;
mod plan;
mod stream;

pub use backend::{
    keep_going, Backend, EpochStats, GraphState, MemoryUse, Metrics, Mode, Pass, Progress, Tensors,
};
pub use cpu::CpuGraph;
pub use gpu::GpuGraph;
pub use init::init_params;
pub use memory::{Limits, MemoryItem};
pub use plan::dims_str;
pub use plan::{Node, ParamSpec, Plan};
pub use stream::Residency;

use crate::util::shared::Shared;

/// A labelled image set as the graphs take it: bytes [n, sample_len] and one label byte per
/// image, shared with the caller rather than copied (a streamed set is read again every epoch).
#[derive(Clone, Debug)]
pub struct HostData {
    pub images: Shared,
    pub labels: Shared,
    pub sample_len: usize,
}

impl HostData {
    /// A set made from borrowed bytes (copied once).
    pub fn copied(images: &[u8], labels: &[u8], sample_len: usize) -> HostData {
        HostData {
            images: images.to_vec().into(),
            labels: labels.to_vec().into(),
            sample_len,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}
