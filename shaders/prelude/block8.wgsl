// An 8 x 8 block of accumulators in registers, as two vec4 per row (columns 0-3 in a, 4-7 in b),
// and its rank-1 update. Shared by the CPU-driver (llvmpipe / lavapipe) kernels of gemm.wgsl and
// conv2d_blocked.wgsl, which all feed a block of 8 rows x 8 columns one reduction index at a
// time. Drivers inline these functions, so the block stays in registers.

// Workgroup size of those kernels: one block per invocation, so any size is correct; a pipeline
// constant the host sets per adapter (src/runtime/config.rs) and reads back to size its grids.
override WG_BLOCK: u32 = 64u;

struct Block8 {
    a0: vec4<f32>,
    b0: vec4<f32>,
    a1: vec4<f32>,
    b1: vec4<f32>,
    a2: vec4<f32>,
    b2: vec4<f32>,
    a3: vec4<f32>,
    b3: vec4<f32>,
    a4: vec4<f32>,
    b4: vec4<f32>,
    a5: vec4<f32>,
    b5: vec4<f32>,
    a6: vec4<f32>,
    b6: vec4<f32>,
    a7: vec4<f32>,
    b7: vec4<f32>,
}

// blk += column (lo: rows 0-3, hi: rows 4-7) times row (wa: columns 0-3, wb: columns 4-7).
fn block8_rank1(blk: ptr<function, Block8>, lo: vec4<f32>, hi: vec4<f32>, wa: vec4<f32>, wb: vec4<f32>) {
    (*blk).a0 = fma(vec4<f32>(lo.x), wa, (*blk).a0);
    (*blk).b0 = fma(vec4<f32>(lo.x), wb, (*blk).b0);
    (*blk).a1 = fma(vec4<f32>(lo.y), wa, (*blk).a1);
    (*blk).b1 = fma(vec4<f32>(lo.y), wb, (*blk).b1);
    (*blk).a2 = fma(vec4<f32>(lo.z), wa, (*blk).a2);
    (*blk).b2 = fma(vec4<f32>(lo.z), wb, (*blk).b2);
    (*blk).a3 = fma(vec4<f32>(lo.w), wa, (*blk).a3);
    (*blk).b3 = fma(vec4<f32>(lo.w), wb, (*blk).b3);
    (*blk).a4 = fma(vec4<f32>(hi.x), wa, (*blk).a4);
    (*blk).b4 = fma(vec4<f32>(hi.x), wb, (*blk).b4);
    (*blk).a5 = fma(vec4<f32>(hi.y), wa, (*blk).a5);
    (*blk).b5 = fma(vec4<f32>(hi.y), wb, (*blk).b5);
    (*blk).a6 = fma(vec4<f32>(hi.z), wa, (*blk).a6);
    (*blk).b6 = fma(vec4<f32>(hi.z), wb, (*blk).b6);
    (*blk).a7 = fma(vec4<f32>(hi.w), wa, (*blk).a7);
    (*blk).b7 = fma(vec4<f32>(hi.w), wb, (*blk).b7);
}

// blk += the 4 reduction steps of column blocks lo / hi (column j: rows 0-3 / 4-7 at step j)
// times row blocks wa / wb (column j: the 4 + 4 values of row j).
fn block8_rank4(blk: ptr<function, Block8>, lo: mat4x4<f32>, hi: mat4x4<f32>, wa: mat4x4<f32>, wb: mat4x4<f32>) {
    block8_rank1(blk, lo[0], hi[0], wa[0], wb[0]);
    block8_rank1(blk, lo[1], hi[1], wa[1], wb[1]);
    block8_rank1(blk, lo[2], hi[2], wa[2], wb[2]);
    block8_rank1(blk, lo[3], hi[3], wa[3], wb[3]);
}
