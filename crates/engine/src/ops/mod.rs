//! One file per op family: the CPU reference (plain Rust, the oracle) beside the GPU dispatch that
//! launches the matching kernel of `shaders/NAME.wgsl`.

pub mod augment;
pub mod batchnorm;
pub mod check_case;
pub mod conv2d;
pub mod cpu;
pub mod dropout;
pub mod elementwise;
pub mod ema;
pub mod gather;
pub mod gemm;
pub mod im2col;
pub mod loss;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod step;
pub mod window;

use crate::runtime::{GpuContext, KernelFamily, Spread};

/// Which family of kernels runs a convolution or a GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// 64x64 output tiles staged through workgroup memory (on an H200, 13x slower than `Blocked`
    /// at the presets' sizes: few tiles, each walking a long K alone). Kernels:
    /// `shaders/conv2d_tiled.wgsl`, `matmul` / `matmul_bias` of `shaders/gemm.wgsl`.
    Tiled,
    /// Register-blocked kernels without workgroup memory or barriers, loading vec4s where the
    /// sizes allow, one small block of outputs per invocation. Many invocations and no barriers
    /// suit both CPU drivers (llvmpipe / lavapipe, where every storage-buffer load costs a loop
    /// over the SIMD lanes) and a large GPU, where the tiled family's few 64x64 tiles leave most
    /// cores idle at these layer sizes. Kernels: `shaders/conv2d_blocked.wgsl`, the `*_vec` /
    /// `*_mixed` entry points of `shaders/gemm.wgsl`.
    Blocked,
}

impl Variant {
    /// `Blocked` unless `--kernels`, `WGNN_KERNELS` or the tuning cache chose the tiled family.
    pub fn for_ctx(ctx: &GpuContext) -> Self {
        match ctx.family {
            KernelFamily::Tiled => Self::Tiled,
            KernelFamily::Blocked | KernelFamily::Auto => Self::Blocked,
        }
    }
}

/// How the convolutions and GEMMs spread their work over invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Few long invocations, which suit a CPU driver (llvmpipe runs 8 in lockstep): a GEMM
    /// over all of k, backward_weights in splits of at least 512 rows with each weight's sums
    /// added by one invocation, the forward and backward_input over all taps in one pass.
    Few,
    /// Many short ones, which a GPU running 32 or more invocations in lockstep needs to be busy:
    /// a GEMM with few 8 x 8 blocks thin (one output per invocation; long k in splits),
    /// backward_weights in splits of 32 rows with
    /// each weight's sums added by a workgroup (a strided loop, then halving in workgroup
    /// memory), the blocked forward and backward_input in splits of the taps; each split into
    /// slabs, summed in order after.
    Many,
}

impl Threads {
    /// Many on a hardware adapter whose subgroups reach 32 invocations (every discrete and
    /// integrated GPU), Few on a software one (llvmpipe and lavapipe, whose device type is CPU;
    /// through GL they report subgroups of 4-128, not their real 8) and on narrower ones. The rule
    /// reads the adapter's type and subgroup size, never its name. `ctx.spread` forces either.
    pub fn for_ctx(ctx: &GpuContext) -> Self {
        match ctx.spread {
            Spread::Few => return Self::Few,
            Spread::Many => return Self::Many,
            Spread::Auto => {}
        }
        match !ctx.adapter.is_cpu() && ctx.adapter.subgroup_sizes.1 >= 32 {
            true => Self::Many,
            false => Self::Few,
        }
    }

    /// For check rows: "few threads" or "many threads".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Few => "few threads",
            Self::Many => "many threads",
        }
    }

    /// The other way, which `wgnn check` also runs on the odd shapes.
    pub fn other(self) -> Self {
        match self {
            Self::Few => Self::Many,
            Self::Many => Self::Few,
        }
    }
}
