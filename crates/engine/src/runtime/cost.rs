//! What one dispatch does, counted from its launch and its op: the figures the cost model
//! (`graph::cost`) turns into a predicted time on the reference GPU. The launch gives the
//! invocations and the bytes its tensors hold; the op that builds the dispatch adds what only it
//! knows (the longest serial loop one invocation runs, its arithmetic, the bytes it really
//! touches when that is less than the tensors it binds).

/// One dispatch's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    /// Workgroups times the workgroup's size.
    pub invocations: u64,
    /// Invocations per workgroup.
    pub workgroup: u32,
    /// Iterations of the longest loop one invocation runs, each waiting on a memory load: the
    /// dependent latency a dispatch cannot hide with fewer invocations than the GPU holds.
    pub serial: u64,
    /// Memory loads one iteration of that loop issues.
    pub loads: u64,
    /// Whether each iteration synchronises the workgroup (a tile through workgroup memory, with
    /// barriers): a tiled kernel's step.
    pub synchronised: bool,
    /// Bytes read and written.
    pub bytes: u64,
    /// Floating-point operations (a multiply-add is two).
    pub flops: u64,
}

impl Cost {
    /// A launch of `groups` workgroups of `workgroup` invocations over tensors of `bytes`, each
    /// invocation a straight line (the op refines it with [`Cost::work`]).
    pub fn launch(groups: [u32; 3], workgroup: [u32; 3], bytes: u64) -> Self {
        let count = |v: [u32; 3]| v.iter().map(|&g| g as u64).product::<u64>();
        Self {
            invocations: count(groups) * count(workgroup),
            workgroup: count(workgroup) as u32,
            serial: 1,
            loads: 1,
            synchronised: false,
            bytes,
            flops: 0,
        }
    }
}

/// What an op knows of a dispatch beyond its launch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// See [`Cost::serial`], [`Cost::loads`] and [`Cost::synchronised`].
    pub serial: u64,
    pub loads: u64,
    pub synchronised: bool,
    pub flops: u64,
    /// The bytes touched, when less than the bound tensors hold (None: all of them).
    pub bytes: Option<u64>,
}
