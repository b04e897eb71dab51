//! The graph runtime: a Sequential model compiled once into a static plan of ops, executed either on
//! the GPU (every buffer and bind group made once, steps replayed from recorded dispatches) or on the
//! CPU (the reference ops, with a packed GEMM for the matrix products). Both backends share the
//! plan, the parameter layout and the initialisation, so any model can be trained and compared on
//! both.

mod backend;
mod checks;
mod cpu;
mod drive;
mod gpu;
mod init;
mod memory;
mod plan;

pub use backend::{
    keep_going, Backend, EpochStats, GraphState, MemoryUse, Metrics, Mode, Pass, Progress, Tensors,
};
pub use cpu::CpuGraph;
pub use gpu::GpuGraph;
pub use init::init_params;
pub use memory::{Limits, MemoryItem};
pub(crate) use plan::dims_str;
pub use plan::{Node, ParamSpec, Plan};

/// Host-side view of a labelled image set: bytes [n, sample_len] and one label byte per image.
#[derive(Clone, Copy)]
pub struct HostData<'a> {
    pub images: &'a [u8],
    pub labels: &'a [u8],
    pub sample_len: usize,
}

impl HostData<'_> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}
