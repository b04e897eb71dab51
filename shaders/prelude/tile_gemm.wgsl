// The tiled GEMM core of the GPU kernels (Variant::Tiled): conv2d_tiled.wgsl and gemm.wgsl. A
// workgroup of TILE_WG = (TILE / 4)^2 threads computes a TILE x TILE output tile, each thread 4 x 4
// outputs: tile rows ty + TT i and columns tx + TT j (TT = TILE / 4; tx, ty = li % TT, li / TT), so
// a warp's reads of the staged tiles are broadcasts (As) or consecutive (Bs). The reduction runs in
// steps of BK: the caller's loaders stage one step of each operand into As / Bs (im2col gathers,
// strided matrices: only they know the layout), LOADS elements per thread and operand, then
// tile_mma between two barriers. Per output the sum runs over k in order, one fma per term, so
// every result is bit-identical run to run, and across TILE and BK (the zeros that pad a last
// step add nothing).
//
// TILE and BK are pipeline constants the host sets per adapter (src/runtime/config.rs, tuned by
// `wgnn bench --tune-kernels`); src/runtime/tile_check.rs rejects the pairs the loaders cannot
// serve before a pipeline is built.

override TILE: u32 = 64u;
override BK: u32 = 16u;

// Threads per tile side (TT), and the elements of each operand's BK step (TILE * BK) that each
// thread stages (LOADS); every kernel's workgroup is @workgroup_size(TILE * TILE / 16u), TT * TT.
// Derived values are functions, not overrides, so that only TILE and BK can be set.
fn tt() -> u32 {
    return TILE / 4u;
}

fn tile_wg() -> u32 {
    return TILE * TILE / 16u;
}

fn loads() -> u32 {
    return 16u * BK / TILE;
}

// The most LOADS any accepted (TILE, BK) gives: the size of the loaders' per-thread arrays.
const MAX_LOADS: u32 = 16u;

// Row stride of both staged tiles, padded by 4: loaders store along k (transposing), and a stride
// of TILE would put all BK k of one row in the same bank.
fn sa() -> u32 {
    return TILE + 4u;
}

// As[k * sa() + row] = A[row0 + row, k0 + k]; Bs[k * sa() + col] = B[k0 + k, col0 + col]
// (2 x 4.25 KiB at the defaults).
var<workgroup> As: array<f32, BK * (TILE + 4u)>;
var<workgroup> Bs: array<f32, BK * (TILE + 4u)>;

// Tile row of output (i, _) and tile column of output (_, j) of thread li.
fn tile_row(li: u32, i: u32) -> u32 {
    return li / tt() + tt() * i;
}

fn tile_col(li: u32, j: u32) -> u32 {
    return li % tt() + tt() * j;
}

// acc[i * 4 + j] += the staged step's sum over k of As[k, tile_row(i)] * Bs[k, tile_col(j)].
fn tile_mma(li: u32, acc: ptr<function, array<f32, 16>>) {
    let s = sa();
    for (var k = 0u; k < BK; k++) {
        var a: array<f32, 4>;
        var b: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
            a[i] = As[k * s + tile_row(li, i)];
            b[i] = Bs[k * s + tile_col(li, i)];
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                (*acc)[i * 4u + j] = fma(a[i], b[j], (*acc)[i * 4u + j]);
            }
        }
    }
}
