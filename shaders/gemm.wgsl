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
    // CPU variant only: whether op(A) / op(B) are read as vec4s.
    a_vec: u32,
    b_vec: u32,
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

// ---------------------------------------------------------------------------------------------
// CPU-driver variant (llvmpipe / lavapipe): no workgroup memory or barriers; every storage load is
// a vec4 and feeds several FMAs. One invocation computes 8 rows x 8 columns of C, walking k in
// steps of 4: 8 vec4 loads of op(A) and 8 of op(B) per 64 vec4 FMAs. Each operand is read
// as vec4s along its contiguous axis (A: k, or m when trans_a; B: n, or k when trans_b) and
// transposed in registers where needed; that needs k % 4 == 0 and m % 4 == 0 (A, trans_a) or
// n % 4 == 0 (B, not trans_b): p.a_vec / p.b_vec, set on the host. Otherwise the operand is read
// one scalar at a time (other shapes, e.g. a 10-unit dense layer): the *_mixed entry points, kept
// apart so the all-vec4 kernels carry no scalar path. Every output is a fixed-order sum over k.

@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

// Scalar loads for shapes that do not allow vec4s (p.a_vec / p.b_vec == 0): op(A)[row, kk] and
// op(B)[kk, col], 0 outside the matrices (the k tail when k % 4 != 0, clamped rows / columns).
fn lda(row: u32, kk: u32) -> f32 {
    let ok = row < p.m && kk < p.k;
    let i = select(row * p.k + kk, kk * p.m + row, p.trans_a != 0u);
    return select(0.0, a[select(0u, i, ok)], ok);
}

fn ldb(kk: u32, col: u32) -> f32 {
    let ok = col < p.n && kk < p.k;
    let i = select(kk * p.n + col, col * p.k + kk, p.trans_b != 0u);
    return select(0.0, b[select(0u, i, ok)], ok);
}

fn store_c(row: u32, col0: u32, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let col = col0 + j;
        if col < p.n {
            var r = v[j];
            if p.relu != 0u {
                r = max(r, 0.0);
            }
            c[row * p.n + col] = r;
        }
    }
}

@compute @workgroup_size(64)
fn matmul_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * 64u;
    let ncg = (p.n + 7u) / 8u;
    let rg = inv / ncg;
    let row0 = rg * 8u;
    if row0 >= p.m {
        return;
    }
    let col0 = (inv % ncg) * 8u;
    let k4 = p.k / 4u;
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let ta = p.trans_a != 0u;
    let tb = p.trans_b != 0u;
    // Per-invocation base vec4 indices of the operands, advanced by a fixed stride per k step.
    let ar0 = min(row0 + 0u, p.m - 1u) * k4;
    let ar1 = min(row0 + 1u, p.m - 1u) * k4;
    let ar2 = min(row0 + 2u, p.m - 1u) * k4;
    let ar3 = min(row0 + 3u, p.m - 1u) * k4;
    let ar4 = min(row0 + 4u, p.m - 1u) * k4;
    let ar5 = min(row0 + 5u, p.m - 1u) * k4;
    let ar6 = min(row0 + 6u, p.m - 1u) * k4;
    let ar7 = min(row0 + 7u, p.m - 1u) * k4;
    let at0 = min(row0 / 4u + 0u, m4 - 1u);
    let at1 = min(row0 / 4u + 1u, m4 - 1u);
    let bn0 = min(col0 / 4u + 0u, max(n4, 1u) - 1u);
    let bn1 = min(col0 / 4u + 1u, max(n4, 1u) - 1u);
    let bt0 = min(col0 + 0u, p.n - 1u) * k4;
    let bt1 = min(col0 + 1u, p.n - 1u) * k4;
    let bt2 = min(col0 + 2u, p.n - 1u) * k4;
    let bt3 = min(col0 + 3u, p.n - 1u) * k4;
    let bt4 = min(col0 + 4u, p.n - 1u) * k4;
    let bt5 = min(col0 + 5u, p.n - 1u) * k4;
    let bt6 = min(col0 + 6u, p.n - 1u) * k4;
    let bt7 = min(col0 + 7u, p.n - 1u) * k4;
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    let kq_end = (p.k + 3u) / 4u;
    for (var kq = 0u; kq < kq_end; kq++) {
        var am: array<mat4x4<f32>, 2>;
        if ta {
            let k0 = kq * 4u;
            am[0] = transpose(mat4x4<f32>(a4[k0 * m4 + at0], a4[(k0 + 1u) * m4 + at0], a4[(k0 + 2u) * m4 + at0], a4[(k0 + 3u) * m4 + at0]));
            am[1] = transpose(mat4x4<f32>(a4[k0 * m4 + at1], a4[(k0 + 1u) * m4 + at1], a4[(k0 + 2u) * m4 + at1], a4[(k0 + 3u) * m4 + at1]));
        } else {
            am[0] = mat4x4<f32>(a4[ar0 + kq], a4[ar1 + kq], a4[ar2 + kq], a4[ar3 + kq]);
            am[1] = mat4x4<f32>(a4[ar4 + kq], a4[ar5 + kq], a4[ar6 + kq], a4[ar7 + kq]);
        }
        var bm: array<mat4x4<f32>, 2>;
        if tb {
            bm[0] = transpose(mat4x4<f32>(b4[bt0 + kq], b4[bt1 + kq], b4[bt2 + kq], b4[bt3 + kq]));
            bm[1] = transpose(mat4x4<f32>(b4[bt4 + kq], b4[bt5 + kq], b4[bt6 + kq], b4[bt7 + kq]));
        } else {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(b4[k0 * n4 + bn0], b4[(k0 + 1u) * n4 + bn0], b4[(k0 + 2u) * n4 + bn0], b4[(k0 + 3u) * n4 + bn0]);
            bm[1] = mat4x4<f32>(b4[k0 * n4 + bn1], b4[(k0 + 1u) * n4 + bn1], b4[(k0 + 2u) * n4 + bn1], b4[(k0 + 3u) * n4 + bn1]);
        }
        let a0 = am[0];
        let a1 = am[1];
        let b0 = bm[0];
        let b1 = bm[1];
        c0a = fma(vec4<f32>(a0[0][0]), b0[0], c0a);
        c0b = fma(vec4<f32>(a0[0][0]), b1[0], c0b);
        c1a = fma(vec4<f32>(a0[1][0]), b0[0], c1a);
        c1b = fma(vec4<f32>(a0[1][0]), b1[0], c1b);
        c2a = fma(vec4<f32>(a0[2][0]), b0[0], c2a);
        c2b = fma(vec4<f32>(a0[2][0]), b1[0], c2b);
        c3a = fma(vec4<f32>(a0[3][0]), b0[0], c3a);
        c3b = fma(vec4<f32>(a0[3][0]), b1[0], c3b);
        c4a = fma(vec4<f32>(a1[0][0]), b0[0], c4a);
        c4b = fma(vec4<f32>(a1[0][0]), b1[0], c4b);
        c5a = fma(vec4<f32>(a1[1][0]), b0[0], c5a);
        c5b = fma(vec4<f32>(a1[1][0]), b1[0], c5b);
        c6a = fma(vec4<f32>(a1[2][0]), b0[0], c6a);
        c6b = fma(vec4<f32>(a1[2][0]), b1[0], c6b);
        c7a = fma(vec4<f32>(a1[3][0]), b0[0], c7a);
        c7b = fma(vec4<f32>(a1[3][0]), b1[0], c7b);
        c0a = fma(vec4<f32>(a0[0][1]), b0[1], c0a);
        c0b = fma(vec4<f32>(a0[0][1]), b1[1], c0b);
        c1a = fma(vec4<f32>(a0[1][1]), b0[1], c1a);
        c1b = fma(vec4<f32>(a0[1][1]), b1[1], c1b);
        c2a = fma(vec4<f32>(a0[2][1]), b0[1], c2a);
        c2b = fma(vec4<f32>(a0[2][1]), b1[1], c2b);
        c3a = fma(vec4<f32>(a0[3][1]), b0[1], c3a);
        c3b = fma(vec4<f32>(a0[3][1]), b1[1], c3b);
        c4a = fma(vec4<f32>(a1[0][1]), b0[1], c4a);
        c4b = fma(vec4<f32>(a1[0][1]), b1[1], c4b);
        c5a = fma(vec4<f32>(a1[1][1]), b0[1], c5a);
        c5b = fma(vec4<f32>(a1[1][1]), b1[1], c5b);
        c6a = fma(vec4<f32>(a1[2][1]), b0[1], c6a);
        c6b = fma(vec4<f32>(a1[2][1]), b1[1], c6b);
        c7a = fma(vec4<f32>(a1[3][1]), b0[1], c7a);
        c7b = fma(vec4<f32>(a1[3][1]), b1[1], c7b);
        c0a = fma(vec4<f32>(a0[0][2]), b0[2], c0a);
        c0b = fma(vec4<f32>(a0[0][2]), b1[2], c0b);
        c1a = fma(vec4<f32>(a0[1][2]), b0[2], c1a);
        c1b = fma(vec4<f32>(a0[1][2]), b1[2], c1b);
        c2a = fma(vec4<f32>(a0[2][2]), b0[2], c2a);
        c2b = fma(vec4<f32>(a0[2][2]), b1[2], c2b);
        c3a = fma(vec4<f32>(a0[3][2]), b0[2], c3a);
        c3b = fma(vec4<f32>(a0[3][2]), b1[2], c3b);
        c4a = fma(vec4<f32>(a1[0][2]), b0[2], c4a);
        c4b = fma(vec4<f32>(a1[0][2]), b1[2], c4b);
        c5a = fma(vec4<f32>(a1[1][2]), b0[2], c5a);
        c5b = fma(vec4<f32>(a1[1][2]), b1[2], c5b);
        c6a = fma(vec4<f32>(a1[2][2]), b0[2], c6a);
        c6b = fma(vec4<f32>(a1[2][2]), b1[2], c6b);
        c7a = fma(vec4<f32>(a1[3][2]), b0[2], c7a);
        c7b = fma(vec4<f32>(a1[3][2]), b1[2], c7b);
        c0a = fma(vec4<f32>(a0[0][3]), b0[3], c0a);
        c0b = fma(vec4<f32>(a0[0][3]), b1[3], c0b);
        c1a = fma(vec4<f32>(a0[1][3]), b0[3], c1a);
        c1b = fma(vec4<f32>(a0[1][3]), b1[3], c1b);
        c2a = fma(vec4<f32>(a0[2][3]), b0[3], c2a);
        c2b = fma(vec4<f32>(a0[2][3]), b1[3], c2b);
        c3a = fma(vec4<f32>(a0[3][3]), b0[3], c3a);
        c3b = fma(vec4<f32>(a0[3][3]), b1[3], c3b);
        c4a = fma(vec4<f32>(a1[0][3]), b0[3], c4a);
        c4b = fma(vec4<f32>(a1[0][3]), b1[3], c4b);
        c5a = fma(vec4<f32>(a1[1][3]), b0[3], c5a);
        c5b = fma(vec4<f32>(a1[1][3]), b1[3], c5b);
        c6a = fma(vec4<f32>(a1[2][3]), b0[3], c6a);
        c6b = fma(vec4<f32>(a1[2][3]), b1[3], c6b);
        c7a = fma(vec4<f32>(a1[3][3]), b0[3], c7a);
        c7b = fma(vec4<f32>(a1[3][3]), b1[3], c7b);
    }
    store_c(row0 + 0u, col0, c0a);
    store_c(row0 + 0u, col0 + 4u, c0b);
    store_c(row0 + 1u, col0, c1a);
    store_c(row0 + 1u, col0 + 4u, c1b);
    store_c(row0 + 2u, col0, c2a);
    store_c(row0 + 2u, col0 + 4u, c2b);
    store_c(row0 + 3u, col0, c3a);
    store_c(row0 + 3u, col0 + 4u, c3b);
    store_c(row0 + 4u, col0, c4a);
    store_c(row0 + 4u, col0 + 4u, c4b);
    store_c(row0 + 5u, col0, c5a);
    store_c(row0 + 5u, col0 + 4u, c5b);
    store_c(row0 + 6u, col0, c6a);
    store_c(row0 + 6u, col0 + 4u, c6b);
    store_c(row0 + 7u, col0, c7a);
    store_c(row0 + 7u, col0 + 4u, c7b);
}

@compute @workgroup_size(64)
fn matmul_bias_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * 64u;
    let ncg = (p.n + 7u) / 8u;
    let rg = inv / ncg;
    let row0 = rg * 8u;
    if row0 >= p.m {
        return;
    }
    let col0 = (inv % ncg) * 8u;
    let k4 = p.k / 4u;
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let ta = p.trans_a != 0u;
    let tb = p.trans_b != 0u;
    // Per-invocation base vec4 indices of the operands, advanced by a fixed stride per k step.
    let ar0 = min(row0 + 0u, p.m - 1u) * k4;
    let ar1 = min(row0 + 1u, p.m - 1u) * k4;
    let ar2 = min(row0 + 2u, p.m - 1u) * k4;
    let ar3 = min(row0 + 3u, p.m - 1u) * k4;
    let ar4 = min(row0 + 4u, p.m - 1u) * k4;
    let ar5 = min(row0 + 5u, p.m - 1u) * k4;
    let ar6 = min(row0 + 6u, p.m - 1u) * k4;
    let ar7 = min(row0 + 7u, p.m - 1u) * k4;
    let at0 = min(row0 / 4u + 0u, m4 - 1u);
    let at1 = min(row0 / 4u + 1u, m4 - 1u);
    let bn0 = min(col0 / 4u + 0u, max(n4, 1u) - 1u);
    let bn1 = min(col0 / 4u + 1u, max(n4, 1u) - 1u);
    let bt0 = min(col0 + 0u, p.n - 1u) * k4;
    let bt1 = min(col0 + 1u, p.n - 1u) * k4;
    let bt2 = min(col0 + 2u, p.n - 1u) * k4;
    let bt3 = min(col0 + 3u, p.n - 1u) * k4;
    let bt4 = min(col0 + 4u, p.n - 1u) * k4;
    let bt5 = min(col0 + 5u, p.n - 1u) * k4;
    let bt6 = min(col0 + 6u, p.n - 1u) * k4;
    let bt7 = min(col0 + 7u, p.n - 1u) * k4;
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    let kq_end = (p.k + 3u) / 4u;
    for (var kq = 0u; kq < kq_end; kq++) {
        var am: array<mat4x4<f32>, 2>;
        if ta {
            let k0 = kq * 4u;
            am[0] = transpose(mat4x4<f32>(a4[k0 * m4 + at0], a4[(k0 + 1u) * m4 + at0], a4[(k0 + 2u) * m4 + at0], a4[(k0 + 3u) * m4 + at0]));
            am[1] = transpose(mat4x4<f32>(a4[k0 * m4 + at1], a4[(k0 + 1u) * m4 + at1], a4[(k0 + 2u) * m4 + at1], a4[(k0 + 3u) * m4 + at1]));
        } else {
            am[0] = mat4x4<f32>(a4[ar0 + kq], a4[ar1 + kq], a4[ar2 + kq], a4[ar3 + kq]);
            am[1] = mat4x4<f32>(a4[ar4 + kq], a4[ar5 + kq], a4[ar6 + kq], a4[ar7 + kq]);
        }
        var bm: array<mat4x4<f32>, 2>;
        if tb {
            bm[0] = transpose(mat4x4<f32>(b4[bt0 + kq], b4[bt1 + kq], b4[bt2 + kq], b4[bt3 + kq]));
            bm[1] = transpose(mat4x4<f32>(b4[bt4 + kq], b4[bt5 + kq], b4[bt6 + kq], b4[bt7 + kq]));
        } else {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(b4[k0 * n4 + bn0], b4[(k0 + 1u) * n4 + bn0], b4[(k0 + 2u) * n4 + bn0], b4[(k0 + 3u) * n4 + bn0]);
            bm[1] = mat4x4<f32>(b4[k0 * n4 + bn1], b4[(k0 + 1u) * n4 + bn1], b4[(k0 + 2u) * n4 + bn1], b4[(k0 + 3u) * n4 + bn1]);
        }
        let a0 = am[0];
        let a1 = am[1];
        let b0 = bm[0];
        let b1 = bm[1];
        c0a = fma(vec4<f32>(a0[0][0]), b0[0], c0a);
        c0b = fma(vec4<f32>(a0[0][0]), b1[0], c0b);
        c1a = fma(vec4<f32>(a0[1][0]), b0[0], c1a);
        c1b = fma(vec4<f32>(a0[1][0]), b1[0], c1b);
        c2a = fma(vec4<f32>(a0[2][0]), b0[0], c2a);
        c2b = fma(vec4<f32>(a0[2][0]), b1[0], c2b);
        c3a = fma(vec4<f32>(a0[3][0]), b0[0], c3a);
        c3b = fma(vec4<f32>(a0[3][0]), b1[0], c3b);
        c4a = fma(vec4<f32>(a1[0][0]), b0[0], c4a);
        c4b = fma(vec4<f32>(a1[0][0]), b1[0], c4b);
        c5a = fma(vec4<f32>(a1[1][0]), b0[0], c5a);
        c5b = fma(vec4<f32>(a1[1][0]), b1[0], c5b);
        c6a = fma(vec4<f32>(a1[2][0]), b0[0], c6a);
        c6b = fma(vec4<f32>(a1[2][0]), b1[0], c6b);
        c7a = fma(vec4<f32>(a1[3][0]), b0[0], c7a);
        c7b = fma(vec4<f32>(a1[3][0]), b1[0], c7b);
        c0a = fma(vec4<f32>(a0[0][1]), b0[1], c0a);
        c0b = fma(vec4<f32>(a0[0][1]), b1[1], c0b);
        c1a = fma(vec4<f32>(a0[1][1]), b0[1], c1a);
        c1b = fma(vec4<f32>(a0[1][1]), b1[1], c1b);
        c2a = fma(vec4<f32>(a0[2][1]), b0[1], c2a);
        c2b = fma(vec4<f32>(a0[2][1]), b1[1], c2b);
        c3a = fma(vec4<f32>(a0[3][1]), b0[1], c3a);
        c3b = fma(vec4<f32>(a0[3][1]), b1[1], c3b);
        c4a = fma(vec4<f32>(a1[0][1]), b0[1], c4a);
        c4b = fma(vec4<f32>(a1[0][1]), b1[1], c4b);
        c5a = fma(vec4<f32>(a1[1][1]), b0[1], c5a);
        c5b = fma(vec4<f32>(a1[1][1]), b1[1], c5b);
        c6a = fma(vec4<f32>(a1[2][1]), b0[1], c6a);
        c6b = fma(vec4<f32>(a1[2][1]), b1[1], c6b);
        c7a = fma(vec4<f32>(a1[3][1]), b0[1], c7a);
        c7b = fma(vec4<f32>(a1[3][1]), b1[1], c7b);
        c0a = fma(vec4<f32>(a0[0][2]), b0[2], c0a);
        c0b = fma(vec4<f32>(a0[0][2]), b1[2], c0b);
        c1a = fma(vec4<f32>(a0[1][2]), b0[2], c1a);
        c1b = fma(vec4<f32>(a0[1][2]), b1[2], c1b);
        c2a = fma(vec4<f32>(a0[2][2]), b0[2], c2a);
        c2b = fma(vec4<f32>(a0[2][2]), b1[2], c2b);
        c3a = fma(vec4<f32>(a0[3][2]), b0[2], c3a);
        c3b = fma(vec4<f32>(a0[3][2]), b1[2], c3b);
        c4a = fma(vec4<f32>(a1[0][2]), b0[2], c4a);
        c4b = fma(vec4<f32>(a1[0][2]), b1[2], c4b);
        c5a = fma(vec4<f32>(a1[1][2]), b0[2], c5a);
        c5b = fma(vec4<f32>(a1[1][2]), b1[2], c5b);
        c6a = fma(vec4<f32>(a1[2][2]), b0[2], c6a);
        c6b = fma(vec4<f32>(a1[2][2]), b1[2], c6b);
        c7a = fma(vec4<f32>(a1[3][2]), b0[2], c7a);
        c7b = fma(vec4<f32>(a1[3][2]), b1[2], c7b);
        c0a = fma(vec4<f32>(a0[0][3]), b0[3], c0a);
        c0b = fma(vec4<f32>(a0[0][3]), b1[3], c0b);
        c1a = fma(vec4<f32>(a0[1][3]), b0[3], c1a);
        c1b = fma(vec4<f32>(a0[1][3]), b1[3], c1b);
        c2a = fma(vec4<f32>(a0[2][3]), b0[3], c2a);
        c2b = fma(vec4<f32>(a0[2][3]), b1[3], c2b);
        c3a = fma(vec4<f32>(a0[3][3]), b0[3], c3a);
        c3b = fma(vec4<f32>(a0[3][3]), b1[3], c3b);
        c4a = fma(vec4<f32>(a1[0][3]), b0[3], c4a);
        c4b = fma(vec4<f32>(a1[0][3]), b1[3], c4b);
        c5a = fma(vec4<f32>(a1[1][3]), b0[3], c5a);
        c5b = fma(vec4<f32>(a1[1][3]), b1[3], c5b);
        c6a = fma(vec4<f32>(a1[2][3]), b0[3], c6a);
        c6b = fma(vec4<f32>(a1[2][3]), b1[3], c6b);
        c7a = fma(vec4<f32>(a1[3][3]), b0[3], c7a);
        c7b = fma(vec4<f32>(a1[3][3]), b1[3], c7b);
    }
    let nl = p.n - 1u;
    let bva = vec4<f32>(bias[min(col0, nl)], bias[min(col0 + 1u, nl)], bias[min(col0 + 2u, nl)], bias[min(col0 + 3u, nl)]);
    let bvb = vec4<f32>(bias[min(col0 + 4u, nl)], bias[min(col0 + 5u, nl)], bias[min(col0 + 6u, nl)], bias[min(col0 + 7u, nl)]);
    store_c(row0 + 0u, col0, c0a + bva);
    store_c(row0 + 0u, col0 + 4u, c0b + bvb);
    store_c(row0 + 1u, col0, c1a + bva);
    store_c(row0 + 1u, col0 + 4u, c1b + bvb);
    store_c(row0 + 2u, col0, c2a + bva);
    store_c(row0 + 2u, col0 + 4u, c2b + bvb);
    store_c(row0 + 3u, col0, c3a + bva);
    store_c(row0 + 3u, col0 + 4u, c3b + bvb);
    store_c(row0 + 4u, col0, c4a + bva);
    store_c(row0 + 4u, col0 + 4u, c4b + bvb);
    store_c(row0 + 5u, col0, c5a + bva);
    store_c(row0 + 5u, col0 + 4u, c5b + bvb);
    store_c(row0 + 6u, col0, c6a + bva);
    store_c(row0 + 6u, col0 + 4u, c6b + bvb);
    store_c(row0 + 7u, col0, c7a + bva);
    store_c(row0 + 7u, col0 + 4u, c7b + bvb);
}

@compute @workgroup_size(64)
fn matmul_mixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * 64u;
    let ncg = (p.n + 7u) / 8u;
    let rg = inv / ncg;
    let row0 = rg * 8u;
    if row0 >= p.m {
        return;
    }
    let col0 = (inv % ncg) * 8u;
    let k4 = p.k / 4u;
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let ta = p.trans_a != 0u;
    let tb = p.trans_b != 0u;
    // Per-invocation base vec4 indices of the operands, advanced by a fixed stride per k step.
    let ar0 = min(row0 + 0u, p.m - 1u) * k4;
    let ar1 = min(row0 + 1u, p.m - 1u) * k4;
    let ar2 = min(row0 + 2u, p.m - 1u) * k4;
    let ar3 = min(row0 + 3u, p.m - 1u) * k4;
    let ar4 = min(row0 + 4u, p.m - 1u) * k4;
    let ar5 = min(row0 + 5u, p.m - 1u) * k4;
    let ar6 = min(row0 + 6u, p.m - 1u) * k4;
    let ar7 = min(row0 + 7u, p.m - 1u) * k4;
    let at0 = min(row0 / 4u + 0u, m4 - 1u);
    let at1 = min(row0 / 4u + 1u, m4 - 1u);
    let bn0 = min(col0 / 4u + 0u, max(n4, 1u) - 1u);
    let bn1 = min(col0 / 4u + 1u, max(n4, 1u) - 1u);
    let bt0 = min(col0 + 0u, p.n - 1u) * k4;
    let bt1 = min(col0 + 1u, p.n - 1u) * k4;
    let bt2 = min(col0 + 2u, p.n - 1u) * k4;
    let bt3 = min(col0 + 3u, p.n - 1u) * k4;
    let bt4 = min(col0 + 4u, p.n - 1u) * k4;
    let bt5 = min(col0 + 5u, p.n - 1u) * k4;
    let bt6 = min(col0 + 6u, p.n - 1u) * k4;
    let bt7 = min(col0 + 7u, p.n - 1u) * k4;
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    let kq_end = (p.k + 3u) / 4u;
    for (var kq = 0u; kq < kq_end; kq++) {
        var am: array<mat4x4<f32>, 2>;
        if p.a_vec == 0u {
            let k0 = kq * 4u;
            am[0] = mat4x4<f32>(vec4<f32>(lda(row0 + 0u, k0), lda(row0 + 0u, k0 + 1u), lda(row0 + 0u, k0 + 2u), lda(row0 + 0u, k0 + 3u)), vec4<f32>(lda(row0 + 1u, k0), lda(row0 + 1u, k0 + 1u), lda(row0 + 1u, k0 + 2u), lda(row0 + 1u, k0 + 3u)), vec4<f32>(lda(row0 + 2u, k0), lda(row0 + 2u, k0 + 1u), lda(row0 + 2u, k0 + 2u), lda(row0 + 2u, k0 + 3u)), vec4<f32>(lda(row0 + 3u, k0), lda(row0 + 3u, k0 + 1u), lda(row0 + 3u, k0 + 2u), lda(row0 + 3u, k0 + 3u)));
            am[1] = mat4x4<f32>(vec4<f32>(lda(row0 + 4u, k0), lda(row0 + 4u, k0 + 1u), lda(row0 + 4u, k0 + 2u), lda(row0 + 4u, k0 + 3u)), vec4<f32>(lda(row0 + 5u, k0), lda(row0 + 5u, k0 + 1u), lda(row0 + 5u, k0 + 2u), lda(row0 + 5u, k0 + 3u)), vec4<f32>(lda(row0 + 6u, k0), lda(row0 + 6u, k0 + 1u), lda(row0 + 6u, k0 + 2u), lda(row0 + 6u, k0 + 3u)), vec4<f32>(lda(row0 + 7u, k0), lda(row0 + 7u, k0 + 1u), lda(row0 + 7u, k0 + 2u), lda(row0 + 7u, k0 + 3u)));
        } else if ta {
            let k0 = kq * 4u;
            am[0] = transpose(mat4x4<f32>(a4[k0 * m4 + at0], a4[(k0 + 1u) * m4 + at0], a4[(k0 + 2u) * m4 + at0], a4[(k0 + 3u) * m4 + at0]));
            am[1] = transpose(mat4x4<f32>(a4[k0 * m4 + at1], a4[(k0 + 1u) * m4 + at1], a4[(k0 + 2u) * m4 + at1], a4[(k0 + 3u) * m4 + at1]));
        } else {
            am[0] = mat4x4<f32>(a4[ar0 + kq], a4[ar1 + kq], a4[ar2 + kq], a4[ar3 + kq]);
            am[1] = mat4x4<f32>(a4[ar4 + kq], a4[ar5 + kq], a4[ar6 + kq], a4[ar7 + kq]);
        }
        var bm: array<mat4x4<f32>, 2>;
        if p.b_vec == 0u {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(vec4<f32>(ldb(k0 + 0u, col0 + 0u), ldb(k0 + 0u, col0 + 1u), ldb(k0 + 0u, col0 + 2u), ldb(k0 + 0u, col0 + 3u)), vec4<f32>(ldb(k0 + 1u, col0 + 0u), ldb(k0 + 1u, col0 + 1u), ldb(k0 + 1u, col0 + 2u), ldb(k0 + 1u, col0 + 3u)), vec4<f32>(ldb(k0 + 2u, col0 + 0u), ldb(k0 + 2u, col0 + 1u), ldb(k0 + 2u, col0 + 2u), ldb(k0 + 2u, col0 + 3u)), vec4<f32>(ldb(k0 + 3u, col0 + 0u), ldb(k0 + 3u, col0 + 1u), ldb(k0 + 3u, col0 + 2u), ldb(k0 + 3u, col0 + 3u)));
            bm[1] = mat4x4<f32>(vec4<f32>(ldb(k0 + 0u, col0 + 4u), ldb(k0 + 0u, col0 + 5u), ldb(k0 + 0u, col0 + 6u), ldb(k0 + 0u, col0 + 7u)), vec4<f32>(ldb(k0 + 1u, col0 + 4u), ldb(k0 + 1u, col0 + 5u), ldb(k0 + 1u, col0 + 6u), ldb(k0 + 1u, col0 + 7u)), vec4<f32>(ldb(k0 + 2u, col0 + 4u), ldb(k0 + 2u, col0 + 5u), ldb(k0 + 2u, col0 + 6u), ldb(k0 + 2u, col0 + 7u)), vec4<f32>(ldb(k0 + 3u, col0 + 4u), ldb(k0 + 3u, col0 + 5u), ldb(k0 + 3u, col0 + 6u), ldb(k0 + 3u, col0 + 7u)));
        } else if tb {
            bm[0] = transpose(mat4x4<f32>(b4[bt0 + kq], b4[bt1 + kq], b4[bt2 + kq], b4[bt3 + kq]));
            bm[1] = transpose(mat4x4<f32>(b4[bt4 + kq], b4[bt5 + kq], b4[bt6 + kq], b4[bt7 + kq]));
        } else {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(b4[k0 * n4 + bn0], b4[(k0 + 1u) * n4 + bn0], b4[(k0 + 2u) * n4 + bn0], b4[(k0 + 3u) * n4 + bn0]);
            bm[1] = mat4x4<f32>(b4[k0 * n4 + bn1], b4[(k0 + 1u) * n4 + bn1], b4[(k0 + 2u) * n4 + bn1], b4[(k0 + 3u) * n4 + bn1]);
        }
        let a0 = am[0];
        let a1 = am[1];
        let b0 = bm[0];
        let b1 = bm[1];
        c0a = fma(vec4<f32>(a0[0][0]), b0[0], c0a);
        c0b = fma(vec4<f32>(a0[0][0]), b1[0], c0b);
        c1a = fma(vec4<f32>(a0[1][0]), b0[0], c1a);
        c1b = fma(vec4<f32>(a0[1][0]), b1[0], c1b);
        c2a = fma(vec4<f32>(a0[2][0]), b0[0], c2a);
        c2b = fma(vec4<f32>(a0[2][0]), b1[0], c2b);
        c3a = fma(vec4<f32>(a0[3][0]), b0[0], c3a);
        c3b = fma(vec4<f32>(a0[3][0]), b1[0], c3b);
        c4a = fma(vec4<f32>(a1[0][0]), b0[0], c4a);
        c4b = fma(vec4<f32>(a1[0][0]), b1[0], c4b);
        c5a = fma(vec4<f32>(a1[1][0]), b0[0], c5a);
        c5b = fma(vec4<f32>(a1[1][0]), b1[0], c5b);
        c6a = fma(vec4<f32>(a1[2][0]), b0[0], c6a);
        c6b = fma(vec4<f32>(a1[2][0]), b1[0], c6b);
        c7a = fma(vec4<f32>(a1[3][0]), b0[0], c7a);
        c7b = fma(vec4<f32>(a1[3][0]), b1[0], c7b);
        c0a = fma(vec4<f32>(a0[0][1]), b0[1], c0a);
        c0b = fma(vec4<f32>(a0[0][1]), b1[1], c0b);
        c1a = fma(vec4<f32>(a0[1][1]), b0[1], c1a);
        c1b = fma(vec4<f32>(a0[1][1]), b1[1], c1b);
        c2a = fma(vec4<f32>(a0[2][1]), b0[1], c2a);
        c2b = fma(vec4<f32>(a0[2][1]), b1[1], c2b);
        c3a = fma(vec4<f32>(a0[3][1]), b0[1], c3a);
        c3b = fma(vec4<f32>(a0[3][1]), b1[1], c3b);
        c4a = fma(vec4<f32>(a1[0][1]), b0[1], c4a);
        c4b = fma(vec4<f32>(a1[0][1]), b1[1], c4b);
        c5a = fma(vec4<f32>(a1[1][1]), b0[1], c5a);
        c5b = fma(vec4<f32>(a1[1][1]), b1[1], c5b);
        c6a = fma(vec4<f32>(a1[2][1]), b0[1], c6a);
        c6b = fma(vec4<f32>(a1[2][1]), b1[1], c6b);
        c7a = fma(vec4<f32>(a1[3][1]), b0[1], c7a);
        c7b = fma(vec4<f32>(a1[3][1]), b1[1], c7b);
        c0a = fma(vec4<f32>(a0[0][2]), b0[2], c0a);
        c0b = fma(vec4<f32>(a0[0][2]), b1[2], c0b);
        c1a = fma(vec4<f32>(a0[1][2]), b0[2], c1a);
        c1b = fma(vec4<f32>(a0[1][2]), b1[2], c1b);
        c2a = fma(vec4<f32>(a0[2][2]), b0[2], c2a);
        c2b = fma(vec4<f32>(a0[2][2]), b1[2], c2b);
        c3a = fma(vec4<f32>(a0[3][2]), b0[2], c3a);
        c3b = fma(vec4<f32>(a0[3][2]), b1[2], c3b);
        c4a = fma(vec4<f32>(a1[0][2]), b0[2], c4a);
        c4b = fma(vec4<f32>(a1[0][2]), b1[2], c4b);
        c5a = fma(vec4<f32>(a1[1][2]), b0[2], c5a);
        c5b = fma(vec4<f32>(a1[1][2]), b1[2], c5b);
        c6a = fma(vec4<f32>(a1[2][2]), b0[2], c6a);
        c6b = fma(vec4<f32>(a1[2][2]), b1[2], c6b);
        c7a = fma(vec4<f32>(a1[3][2]), b0[2], c7a);
        c7b = fma(vec4<f32>(a1[3][2]), b1[2], c7b);
        c0a = fma(vec4<f32>(a0[0][3]), b0[3], c0a);
        c0b = fma(vec4<f32>(a0[0][3]), b1[3], c0b);
        c1a = fma(vec4<f32>(a0[1][3]), b0[3], c1a);
        c1b = fma(vec4<f32>(a0[1][3]), b1[3], c1b);
        c2a = fma(vec4<f32>(a0[2][3]), b0[3], c2a);
        c2b = fma(vec4<f32>(a0[2][3]), b1[3], c2b);
        c3a = fma(vec4<f32>(a0[3][3]), b0[3], c3a);
        c3b = fma(vec4<f32>(a0[3][3]), b1[3], c3b);
        c4a = fma(vec4<f32>(a1[0][3]), b0[3], c4a);
        c4b = fma(vec4<f32>(a1[0][3]), b1[3], c4b);
        c5a = fma(vec4<f32>(a1[1][3]), b0[3], c5a);
        c5b = fma(vec4<f32>(a1[1][3]), b1[3], c5b);
        c6a = fma(vec4<f32>(a1[2][3]), b0[3], c6a);
        c6b = fma(vec4<f32>(a1[2][3]), b1[3], c6b);
        c7a = fma(vec4<f32>(a1[3][3]), b0[3], c7a);
        c7b = fma(vec4<f32>(a1[3][3]), b1[3], c7b);
    }
    store_c(row0 + 0u, col0, c0a);
    store_c(row0 + 0u, col0 + 4u, c0b);
    store_c(row0 + 1u, col0, c1a);
    store_c(row0 + 1u, col0 + 4u, c1b);
    store_c(row0 + 2u, col0, c2a);
    store_c(row0 + 2u, col0 + 4u, c2b);
    store_c(row0 + 3u, col0, c3a);
    store_c(row0 + 3u, col0 + 4u, c3b);
    store_c(row0 + 4u, col0, c4a);
    store_c(row0 + 4u, col0 + 4u, c4b);
    store_c(row0 + 5u, col0, c5a);
    store_c(row0 + 5u, col0 + 4u, c5b);
    store_c(row0 + 6u, col0, c6a);
    store_c(row0 + 6u, col0 + 4u, c6b);
    store_c(row0 + 7u, col0, c7a);
    store_c(row0 + 7u, col0 + 4u, c7b);
}

@compute @workgroup_size(64)
fn matmul_bias_mixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * 64u;
    let ncg = (p.n + 7u) / 8u;
    let rg = inv / ncg;
    let row0 = rg * 8u;
    if row0 >= p.m {
        return;
    }
    let col0 = (inv % ncg) * 8u;
    let k4 = p.k / 4u;
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let ta = p.trans_a != 0u;
    let tb = p.trans_b != 0u;
    // Per-invocation base vec4 indices of the operands, advanced by a fixed stride per k step.
    let ar0 = min(row0 + 0u, p.m - 1u) * k4;
    let ar1 = min(row0 + 1u, p.m - 1u) * k4;
    let ar2 = min(row0 + 2u, p.m - 1u) * k4;
    let ar3 = min(row0 + 3u, p.m - 1u) * k4;
    let ar4 = min(row0 + 4u, p.m - 1u) * k4;
    let ar5 = min(row0 + 5u, p.m - 1u) * k4;
    let ar6 = min(row0 + 6u, p.m - 1u) * k4;
    let ar7 = min(row0 + 7u, p.m - 1u) * k4;
    let at0 = min(row0 / 4u + 0u, m4 - 1u);
    let at1 = min(row0 / 4u + 1u, m4 - 1u);
    let bn0 = min(col0 / 4u + 0u, max(n4, 1u) - 1u);
    let bn1 = min(col0 / 4u + 1u, max(n4, 1u) - 1u);
    let bt0 = min(col0 + 0u, p.n - 1u) * k4;
    let bt1 = min(col0 + 1u, p.n - 1u) * k4;
    let bt2 = min(col0 + 2u, p.n - 1u) * k4;
    let bt3 = min(col0 + 3u, p.n - 1u) * k4;
    let bt4 = min(col0 + 4u, p.n - 1u) * k4;
    let bt5 = min(col0 + 5u, p.n - 1u) * k4;
    let bt6 = min(col0 + 6u, p.n - 1u) * k4;
    let bt7 = min(col0 + 7u, p.n - 1u) * k4;
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    let kq_end = (p.k + 3u) / 4u;
    for (var kq = 0u; kq < kq_end; kq++) {
        var am: array<mat4x4<f32>, 2>;
        if p.a_vec == 0u {
            let k0 = kq * 4u;
            am[0] = mat4x4<f32>(vec4<f32>(lda(row0 + 0u, k0), lda(row0 + 0u, k0 + 1u), lda(row0 + 0u, k0 + 2u), lda(row0 + 0u, k0 + 3u)), vec4<f32>(lda(row0 + 1u, k0), lda(row0 + 1u, k0 + 1u), lda(row0 + 1u, k0 + 2u), lda(row0 + 1u, k0 + 3u)), vec4<f32>(lda(row0 + 2u, k0), lda(row0 + 2u, k0 + 1u), lda(row0 + 2u, k0 + 2u), lda(row0 + 2u, k0 + 3u)), vec4<f32>(lda(row0 + 3u, k0), lda(row0 + 3u, k0 + 1u), lda(row0 + 3u, k0 + 2u), lda(row0 + 3u, k0 + 3u)));
            am[1] = mat4x4<f32>(vec4<f32>(lda(row0 + 4u, k0), lda(row0 + 4u, k0 + 1u), lda(row0 + 4u, k0 + 2u), lda(row0 + 4u, k0 + 3u)), vec4<f32>(lda(row0 + 5u, k0), lda(row0 + 5u, k0 + 1u), lda(row0 + 5u, k0 + 2u), lda(row0 + 5u, k0 + 3u)), vec4<f32>(lda(row0 + 6u, k0), lda(row0 + 6u, k0 + 1u), lda(row0 + 6u, k0 + 2u), lda(row0 + 6u, k0 + 3u)), vec4<f32>(lda(row0 + 7u, k0), lda(row0 + 7u, k0 + 1u), lda(row0 + 7u, k0 + 2u), lda(row0 + 7u, k0 + 3u)));
        } else if ta {
            let k0 = kq * 4u;
            am[0] = transpose(mat4x4<f32>(a4[k0 * m4 + at0], a4[(k0 + 1u) * m4 + at0], a4[(k0 + 2u) * m4 + at0], a4[(k0 + 3u) * m4 + at0]));
            am[1] = transpose(mat4x4<f32>(a4[k0 * m4 + at1], a4[(k0 + 1u) * m4 + at1], a4[(k0 + 2u) * m4 + at1], a4[(k0 + 3u) * m4 + at1]));
        } else {
            am[0] = mat4x4<f32>(a4[ar0 + kq], a4[ar1 + kq], a4[ar2 + kq], a4[ar3 + kq]);
            am[1] = mat4x4<f32>(a4[ar4 + kq], a4[ar5 + kq], a4[ar6 + kq], a4[ar7 + kq]);
        }
        var bm: array<mat4x4<f32>, 2>;
        if p.b_vec == 0u {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(vec4<f32>(ldb(k0 + 0u, col0 + 0u), ldb(k0 + 0u, col0 + 1u), ldb(k0 + 0u, col0 + 2u), ldb(k0 + 0u, col0 + 3u)), vec4<f32>(ldb(k0 + 1u, col0 + 0u), ldb(k0 + 1u, col0 + 1u), ldb(k0 + 1u, col0 + 2u), ldb(k0 + 1u, col0 + 3u)), vec4<f32>(ldb(k0 + 2u, col0 + 0u), ldb(k0 + 2u, col0 + 1u), ldb(k0 + 2u, col0 + 2u), ldb(k0 + 2u, col0 + 3u)), vec4<f32>(ldb(k0 + 3u, col0 + 0u), ldb(k0 + 3u, col0 + 1u), ldb(k0 + 3u, col0 + 2u), ldb(k0 + 3u, col0 + 3u)));
            bm[1] = mat4x4<f32>(vec4<f32>(ldb(k0 + 0u, col0 + 4u), ldb(k0 + 0u, col0 + 5u), ldb(k0 + 0u, col0 + 6u), ldb(k0 + 0u, col0 + 7u)), vec4<f32>(ldb(k0 + 1u, col0 + 4u), ldb(k0 + 1u, col0 + 5u), ldb(k0 + 1u, col0 + 6u), ldb(k0 + 1u, col0 + 7u)), vec4<f32>(ldb(k0 + 2u, col0 + 4u), ldb(k0 + 2u, col0 + 5u), ldb(k0 + 2u, col0 + 6u), ldb(k0 + 2u, col0 + 7u)), vec4<f32>(ldb(k0 + 3u, col0 + 4u), ldb(k0 + 3u, col0 + 5u), ldb(k0 + 3u, col0 + 6u), ldb(k0 + 3u, col0 + 7u)));
        } else if tb {
            bm[0] = transpose(mat4x4<f32>(b4[bt0 + kq], b4[bt1 + kq], b4[bt2 + kq], b4[bt3 + kq]));
            bm[1] = transpose(mat4x4<f32>(b4[bt4 + kq], b4[bt5 + kq], b4[bt6 + kq], b4[bt7 + kq]));
        } else {
            let k0 = kq * 4u;
            bm[0] = mat4x4<f32>(b4[k0 * n4 + bn0], b4[(k0 + 1u) * n4 + bn0], b4[(k0 + 2u) * n4 + bn0], b4[(k0 + 3u) * n4 + bn0]);
            bm[1] = mat4x4<f32>(b4[k0 * n4 + bn1], b4[(k0 + 1u) * n4 + bn1], b4[(k0 + 2u) * n4 + bn1], b4[(k0 + 3u) * n4 + bn1]);
        }
        let a0 = am[0];
        let a1 = am[1];
        let b0 = bm[0];
        let b1 = bm[1];
        c0a = fma(vec4<f32>(a0[0][0]), b0[0], c0a);
        c0b = fma(vec4<f32>(a0[0][0]), b1[0], c0b);
        c1a = fma(vec4<f32>(a0[1][0]), b0[0], c1a);
        c1b = fma(vec4<f32>(a0[1][0]), b1[0], c1b);
        c2a = fma(vec4<f32>(a0[2][0]), b0[0], c2a);
        c2b = fma(vec4<f32>(a0[2][0]), b1[0], c2b);
        c3a = fma(vec4<f32>(a0[3][0]), b0[0], c3a);
        c3b = fma(vec4<f32>(a0[3][0]), b1[0], c3b);
        c4a = fma(vec4<f32>(a1[0][0]), b0[0], c4a);
        c4b = fma(vec4<f32>(a1[0][0]), b1[0], c4b);
        c5a = fma(vec4<f32>(a1[1][0]), b0[0], c5a);
        c5b = fma(vec4<f32>(a1[1][0]), b1[0], c5b);
        c6a = fma(vec4<f32>(a1[2][0]), b0[0], c6a);
        c6b = fma(vec4<f32>(a1[2][0]), b1[0], c6b);
        c7a = fma(vec4<f32>(a1[3][0]), b0[0], c7a);
        c7b = fma(vec4<f32>(a1[3][0]), b1[0], c7b);
        c0a = fma(vec4<f32>(a0[0][1]), b0[1], c0a);
        c0b = fma(vec4<f32>(a0[0][1]), b1[1], c0b);
        c1a = fma(vec4<f32>(a0[1][1]), b0[1], c1a);
        c1b = fma(vec4<f32>(a0[1][1]), b1[1], c1b);
        c2a = fma(vec4<f32>(a0[2][1]), b0[1], c2a);
        c2b = fma(vec4<f32>(a0[2][1]), b1[1], c2b);
        c3a = fma(vec4<f32>(a0[3][1]), b0[1], c3a);
        c3b = fma(vec4<f32>(a0[3][1]), b1[1], c3b);
        c4a = fma(vec4<f32>(a1[0][1]), b0[1], c4a);
        c4b = fma(vec4<f32>(a1[0][1]), b1[1], c4b);
        c5a = fma(vec4<f32>(a1[1][1]), b0[1], c5a);
        c5b = fma(vec4<f32>(a1[1][1]), b1[1], c5b);
        c6a = fma(vec4<f32>(a1[2][1]), b0[1], c6a);
        c6b = fma(vec4<f32>(a1[2][1]), b1[1], c6b);
        c7a = fma(vec4<f32>(a1[3][1]), b0[1], c7a);
        c7b = fma(vec4<f32>(a1[3][1]), b1[1], c7b);
        c0a = fma(vec4<f32>(a0[0][2]), b0[2], c0a);
        c0b = fma(vec4<f32>(a0[0][2]), b1[2], c0b);
        c1a = fma(vec4<f32>(a0[1][2]), b0[2], c1a);
        c1b = fma(vec4<f32>(a0[1][2]), b1[2], c1b);
        c2a = fma(vec4<f32>(a0[2][2]), b0[2], c2a);
        c2b = fma(vec4<f32>(a0[2][2]), b1[2], c2b);
        c3a = fma(vec4<f32>(a0[3][2]), b0[2], c3a);
        c3b = fma(vec4<f32>(a0[3][2]), b1[2], c3b);
        c4a = fma(vec4<f32>(a1[0][2]), b0[2], c4a);
        c4b = fma(vec4<f32>(a1[0][2]), b1[2], c4b);
        c5a = fma(vec4<f32>(a1[1][2]), b0[2], c5a);
        c5b = fma(vec4<f32>(a1[1][2]), b1[2], c5b);
        c6a = fma(vec4<f32>(a1[2][2]), b0[2], c6a);
        c6b = fma(vec4<f32>(a1[2][2]), b1[2], c6b);
        c7a = fma(vec4<f32>(a1[3][2]), b0[2], c7a);
        c7b = fma(vec4<f32>(a1[3][2]), b1[2], c7b);
        c0a = fma(vec4<f32>(a0[0][3]), b0[3], c0a);
        c0b = fma(vec4<f32>(a0[0][3]), b1[3], c0b);
        c1a = fma(vec4<f32>(a0[1][3]), b0[3], c1a);
        c1b = fma(vec4<f32>(a0[1][3]), b1[3], c1b);
        c2a = fma(vec4<f32>(a0[2][3]), b0[3], c2a);
        c2b = fma(vec4<f32>(a0[2][3]), b1[3], c2b);
        c3a = fma(vec4<f32>(a0[3][3]), b0[3], c3a);
        c3b = fma(vec4<f32>(a0[3][3]), b1[3], c3b);
        c4a = fma(vec4<f32>(a1[0][3]), b0[3], c4a);
        c4b = fma(vec4<f32>(a1[0][3]), b1[3], c4b);
        c5a = fma(vec4<f32>(a1[1][3]), b0[3], c5a);
        c5b = fma(vec4<f32>(a1[1][3]), b1[3], c5b);
        c6a = fma(vec4<f32>(a1[2][3]), b0[3], c6a);
        c6b = fma(vec4<f32>(a1[2][3]), b1[3], c6b);
        c7a = fma(vec4<f32>(a1[3][3]), b0[3], c7a);
        c7b = fma(vec4<f32>(a1[3][3]), b1[3], c7b);
    }
    let nl = p.n - 1u;
    let bva = vec4<f32>(bias[min(col0, nl)], bias[min(col0 + 1u, nl)], bias[min(col0 + 2u, nl)], bias[min(col0 + 3u, nl)]);
    let bvb = vec4<f32>(bias[min(col0 + 4u, nl)], bias[min(col0 + 5u, nl)], bias[min(col0 + 6u, nl)], bias[min(col0 + 7u, nl)]);
    store_c(row0 + 0u, col0, c0a + bva);
    store_c(row0 + 0u, col0 + 4u, c0b + bvb);
    store_c(row0 + 1u, col0, c1a + bva);
    store_c(row0 + 1u, col0 + 4u, c1b + bvb);
    store_c(row0 + 2u, col0, c2a + bva);
    store_c(row0 + 2u, col0 + 4u, c2b + bvb);
    store_c(row0 + 3u, col0, c3a + bva);
    store_c(row0 + 3u, col0 + 4u, c3b + bvb);
    store_c(row0 + 4u, col0, c4a + bva);
    store_c(row0 + 4u, col0 + 4u, c4b + bvb);
    store_c(row0 + 5u, col0, c5a + bva);
    store_c(row0 + 5u, col0 + 4u, c5b + bvb);
    store_c(row0 + 6u, col0, c6a + bva);
    store_c(row0 + 6u, col0 + 4u, c6b + bvb);
    store_c(row0 + 7u, col0, c7a + bva);
    store_c(row0 + 7u, col0 + 4u, c7b + bvb);
}

