// The tiled GEMM core of the GPU kernels (Variant::Tiled): conv2d_tiled.wgsl and gemm.wgsl. A
// workgroup of TILE_WG threads computes a BM x BN output tile, each thread 4 x 4 outputs: tile rows
// ty + 16 i and columns tx + 16 j (tx, ty = li % 16, li / 16), so a warp's reads of the staged tiles
// are broadcasts (As) or consecutive (Bs). The reduction runs in steps of BK: the caller's loaders
// stage one step of each operand into As / Bs (im2col gathers, strided matrices: only they know
// the layout), then tile_mma between two barriers. Per output the sum runs over k in order, one
// fma per term, so every result is bit-identical run to run.

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TILE_WG: u32 = 256u;
// Row stride of both staged tiles, padded by 4: loaders store along k (transposing), and a stride
// of 64 would put all 16 k of one row in the same bank.
const SA: u32 = 68u;

// As[k * SA + row] = A[row0 + row, k0 + k]; Bs[k * SA + col] = B[k0 + k, col0 + col] (2 x 4.25 KiB).
var<workgroup> As: array<f32, BK * SA>;
var<workgroup> Bs: array<f32, BK * SA>;

// Tile row of output (i, _) and tile column of output (_, j) of thread li.
fn tile_row(li: u32, i: u32) -> u32 {
    return li / 16u + 16u * i;
}

fn tile_col(li: u32, j: u32) -> u32 {
    return li % 16u + 16u * j;
}

// acc[i * 4 + j] += the staged step's sum over k of As[k, tile_row(i)] * Bs[k, tile_col(j)].
fn tile_mma(li: u32, acc: ptr<function, array<f32, 16>>) {
    for (var k = 0u; k < BK; k++) {
        var a: array<f32, 4>;
        var b: array<f32, 4>;
        for (var i = 0u; i < 4u; i++) {
            a[i] = As[k * SA + tile_row(li, i)];
            b[i] = Bs[k * SA + tile_col(li, i)];
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                (*acc)[i * 4u + j] = fma(a[i], b[j], (*acc)[i * 4u + j]);
            }
        }
    }
}
