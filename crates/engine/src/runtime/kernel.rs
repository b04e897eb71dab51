//! Compiled kernels (one pipeline per WGSL entry point) and `Dispatch` records: a pipeline, its
//! bind group and its grid, built once when a graph is compiled and replayed every step. The
//! context compiles and caches them (`pipelines.rs`).

use std::sync::Arc;

use super::config::Constants;
use super::cost::{Cost, Work};
use super::limits_check::KernelNeeds;
use super::reflect::BindingInfo;

/// Name of the uniform that holds a kernel's parameters in every shader.
pub const PARAMS: &str = "p";

pub struct Kernel {
    pub name: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub bindings: Vec<BindingInfo>,
    /// Workgroup size, workgroup memory and storage buffers, as compiled.
    pub needs: KernelNeeds,
    /// Every override of the module with the value this pipeline was compiled with.
    pub constants: Constants,
}

impl Kernel {
    pub fn workgroup_size(&self) -> [u32; 3] {
        self.needs.workgroup_size
    }
}

/// The kernel cache's key: shader, entry point and the constants asked for.
pub(crate) type KernelKey = (String, String, Vec<(String, u64)>);

/// One recorded kernel launch.
pub struct Dispatch {
    pub name: String,
    pub(super) kernel: Arc<Kernel>,
    pub(super) bind_group: wgpu::BindGroup,
    /// Keeps the parameter uniform alive as long as the dispatch.
    pub(super) _params: Option<wgpu::Buffer>,
    pub groups: [u32; 3],
    /// What it does, for the cost model.
    pub cost: Cost,
}

impl Dispatch {
    /// The value `name` was compiled with, when the kernel declares it.
    pub fn constant(&self, name: &str) -> Option<f64> {
        self.kernel.constants.get(name)
    }

    /// This dispatch with the op's count of its work.
    pub fn with_work(mut self, w: Work) -> Self {
        self.cost.serial = w.serial.max(1);
        self.cost.loads = w.loads.max(1);
        self.cost.synchronised = w.synchronised;
        self.cost.flops = w.flops;
        if let Some(b) = w.bytes {
            self.cost.bytes = b;
        }
        self
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
}

/// Workgroups for `n` invocations of a 1-D kernel with workgroup size `wg`. Past 65,535 groups
/// the grid folds into y; kernels compute `i = gid.x + gid.y * nwg.x * WG`.
pub fn grid_1d(n: usize, wg: u32) -> [u32; 3] {
    let groups = (n as u64).div_ceil(wg as u64).max(1);
    let x = groups.min(65_535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn grid_1d_splits() {
        use crate::runtime::grid_1d;
        assert_eq!(grid_1d(1000, 256), [4, 1, 1]);
        assert_eq!(grid_1d(65_535 * 256 + 1, 256), [65_535, 2, 1]);
    }
}
