// GEMM: C[m,n] = op(A)·op(B) (+ bias[n]) (then ReLU), all row-major.
// A is [m,k] (or [k,m] when trans_a); B is [k,n] (or [n,k] when trans_b).
// Each workgroup computes a 64×64 tile of C; its 256 threads each own a 4×4 register block.
// The k dimension is walked in slabs of 16, staged through workgroup memory. Every output is a
// fixed-order sum over k, so results are bit-identical run to run.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,
    trans_b: u32,
    relu: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;
// Row stride of the staged tiles, padded by 4 to spread the transposing stores over banks.
const SA: u32 = 68u;

var<workgroup> As: array<f32, 1088>; // [TK][SA]: As[kk * SA + r] = op(A)[row0 + r, k0 + kk]
var<workgroup> Bs: array<f32, 1088>; // [TK][SA]: Bs[kk * SA + j] = op(B)[k0 + kk, col0 + j]

fn load_a(row: u32, kk: u32) -> f32 {
    if row >= p.m || kk >= p.k {
        return 0.0;
    }
    if p.trans_a != 0u {
        return a[kk * p.m + row];
    }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32) -> f32 {
    if col >= p.n || kk >= p.k {
        return 0.0;
    }
    if p.trans_b != 0u {
        return b[col * p.k + kk];
    }
    return b[kk * p.n + col];
}

// The 4×4 block of thread `lid` of the tile at (row0, col0), accumulated over all of k.
fn tile(row0: u32, col0: u32, lid: u32) -> array<f32, 16> {
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: array<f32, 16>;
    for (var q = 0u; q < 16u; q++) {
        acc[q] = 0.0;
    }
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        // Stage 64×16 of A and 16×64 of B: 4 elements each per thread, with consecutive threads
        // reading consecutive global addresses whichever way each operand is laid out.
        for (var l = 0u; l < 4u; l++) {
            let idx = l * 256u + lid;
            var r: u32;
            var kk: u32;
            if p.trans_a != 0u {
                r = idx % TM;
                kk = idx / TM;
            } else {
                r = idx / TK;
                kk = idx % TK;
            }
            As[kk * SA + r] = load_a(row0 + r, k0 + kk);
            var j: u32;
            var kb: u32;
            if p.trans_b != 0u {
                j = idx / TK;
                kb = idx % TK;
            } else {
                j = idx % TN;
                kb = idx / TN;
            }
            Bs[kb * SA + j] = load_b(k0 + kb, col0 + j);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let ar = vec4<f32>(As[kk * SA + ty * 4u], As[kk * SA + ty * 4u + 1u], As[kk * SA + ty * 4u + 2u], As[kk * SA + ty * 4u + 3u]);
            let br = vec4<f32>(Bs[kk * SA + tx * 4u], Bs[kk * SA + tx * 4u + 1u], Bs[kk * SA + tx * 4u + 2u], Bs[kk * SA + tx * 4u + 3u]);
            for (var i = 0u; i < 4u; i++) {
                acc[i * 4u] = fma(ar[i], br.x, acc[i * 4u]);
                acc[i * 4u + 1u] = fma(ar[i], br.y, acc[i * 4u + 1u]);
                acc[i * 4u + 2u] = fma(ar[i], br.z, acc[i * 4u + 2u]);
                acc[i * 4u + 3u] = fma(ar[i], br.w, acc[i * 4u + 3u]);
            }
        }
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let acc = tile(row0, col0, lid);
    let tx = lid % 16u;
    let ty = lid / 16u;
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tx * 4u + j;
            if row < p.m && col < p.n {
                var v = acc[i * 4u + j];
                if p.relu != 0u {
                    v = max(v, 0.0);
                }
                c[row * p.n + col] = v;
            }
        }
    }
}

@compute @workgroup_size(256)
fn matmul_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let acc = tile(row0, col0, lid);
    let tx = lid % 16u;
    let ty = lid / 16u;
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tx * 4u + j;
            if row < p.m && col < p.n {
                var v = acc[i * 4u + j] + bias[col];
                if p.relu != 0u {
                    v = max(v, 0.0);
                }
                c[row * p.n + col] = v;
            }
        }
    }
}
