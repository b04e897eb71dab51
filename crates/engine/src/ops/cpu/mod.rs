//! The CPU backend's production kernels: the GEMM (gemm.rs) over a register tile chosen at run time
//! for the processor (tile.rs: AVX-512, AVX2 or portable), the convolution as an implicit GEMM
//! that reads its input in place (conv.rs), the direct convolution of first layers with few input
//! channels (conv_direct.rs), and a convolution fused with the max pooling after it
//! (conv_pool.rs). Each is checked against the op's plain reference in `ops/` (tests/ops_cpu_*.rs).

pub mod conv;
pub mod conv_direct;
pub mod conv_pool;
pub mod gemm;
pub mod tile;
