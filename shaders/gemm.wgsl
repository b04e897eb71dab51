// GEMM: C[m,n] = op(A)·op(B) (+ bias[n]) (then an activation), all row-major.
// A is [m,k] (or [k,m] when trans_a); B is [k,n] (or [n,k] when trans_b).
// The tiled entry points (matmul, matmul_bias) run on the tiled core, shaders/prelude/tile_gemm.wgsl:
// one TILE x TILE tile of C per workgroup, k in slabs of BK staged through workgroup memory by
// the loaders below. Every output is a fixed-order sum over k, so results are bit-identical run to run.

#include "prelude/step.wgsl"
#include "prelude/block8.wgsl"
#include "prelude/activate.wgsl"
#include "prelude/tile_gemm.wgsl"

struct Params {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,
    trans_b: u32,
    // The activation fused into the epilogue (`activate` in the prelude) and its alpha.
    act: u32,
    // CPU variant only: whether op(A) / op(B) are read as vec4s.
    a_vec: u32,
    b_vec: u32,
    alpha: f32,
    // Split k (the matmul_split_* entry points): the splits, the steps of 4 along k each takes,
    // and whether the reduce adds the bias.
    splits: u32,
    kq_split: u32,
    has_bias: u32,
    // The thin GEMM and its reduce: 1 adds a row m to op(A) of all ones, whose products (the
    // column sums of op(B): a dense layer's bias gradient) go to `db`.
    ones_row: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read_write> db: array<f32>;

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

// The 4x4 block of thread `lid` of the tile at (row0, col0) (see tile_row / tile_col), over all of k.
fn tile(row0: u32, col0: u32, lid: u32) -> array<f32, 16> {
    var acc: array<f32, 16>;
    let nl = loads();
    let wg = tile_wg();
    let s = sa();
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Stage TILE x BK of A and BK x TILE of B: loads() elements each per thread, with
        // consecutive threads reading consecutive global addresses whichever way each operand is
        // laid out.
        for (var l = 0u; l < nl; l++) {
            let idx = l * wg + lid;
            var r: u32;
            var kk: u32;
            if p.trans_a != 0u {
                r = idx % TILE;
                kk = idx / TILE;
            } else {
                r = idx / BK;
                kk = idx % BK;
            }
            As[kk * s + r] = load_a(row0 + r, k0 + kk);
            var j: u32;
            var kb: u32;
            if p.trans_b != 0u {
                j = idx / BK;
                kb = idx % BK;
            } else {
                j = idx % TILE;
                kb = idx / TILE;
            }
            Bs[kb * s + j] = load_b(k0 + kb, col0 + j);
        }
        workgroupBarrier();
        tile_mma(lid, &acc);
        workgroupBarrier();
    }
    return acc;
}

@compute @workgroup_size(TILE * TILE / 16u)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let acc = tile(row0, col0, lid);
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + tile_row(lid, i);
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tile_col(lid, j);
            if row < p.m && col < p.n {
                c[row * p.n + col] = activate(acc[i * 4u + j], p.act, p.alpha);
            }
        }
    }
}

// As matmul, plus the bias (kept apart so that matmul binds no bias buffer).
@compute @workgroup_size(TILE * TILE / 16u)
fn matmul_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let acc = tile(row0, col0, lid);
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + tile_row(lid, i);
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + tile_col(lid, j);
            if row < p.m && col < p.n {
                c[row * p.n + col] = activate(acc[i * 4u + j] + bias[col], p.act, p.alpha);
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
// The four entry points differ only in their loads (vec4 / mixed) and epilogue (bias or not); the
// block and its update are Block8 (shaders/prelude/block8.wgsl).

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
            c[row * p.n + col] = activate(v[j], p.act, p.alpha);
        }
    }
}

// The 8x8 block of C an invocation owns, and the vec4 indices its operand loads start from
// (clamped to the matrices; the stores skip rows and columns past them).
struct Tile8 {
    row0: u32,
    col0: u32,
    m4: u32,
    n4: u32,
    // A rows row0..row0+7, at k = 0 (not trans_a).
    ar_lo: vec4<u32>,
    ar_hi: vec4<u32>,
    // A as [k, m] (trans_a): the vec4 columns of rows row0..+3 and row0+4..+7.
    at: vec2<u32>,
    // B as [k, n]: the vec4 columns of col0..+3 and col0+4..+7.
    bn: vec2<u32>,
    // B as [n, k] (trans_b): columns col0..col0+7, at k = 0.
    bt_lo: vec4<u32>,
    bt_hi: vec4<u32>,
}

fn tile8(gid: vec3<u32>, nwg: vec3<u32>) -> Tile8 {
    return tile8_at(gid.x + gid.y * nwg.x * WG_BLOCK);
}

// The block of C numbered `inv` (row-major over blocks of 8 x 8).
fn tile8_at(inv: u32) -> Tile8 {
    let ncg = (p.n + 7u) / 8u;
    var t: Tile8;
    t.row0 = (inv / ncg) * 8u;
    t.col0 = (inv % ncg) * 8u;
    let k4 = p.k / 4u;
    t.m4 = p.m / 4u;
    t.n4 = p.n / 4u;
    let ml = vec4<u32>(p.m - 1u);
    let nl = vec4<u32>(p.n - 1u);
    let r = vec4<u32>(t.row0) + vec4<u32>(0u, 1u, 2u, 3u);
    let c = vec4<u32>(t.col0) + vec4<u32>(0u, 1u, 2u, 3u);
    t.ar_lo = min(r, ml) * k4;
    t.ar_hi = min(r + 4u, ml) * k4;
    t.at = min(vec2<u32>(t.row0 / 4u) + vec2<u32>(0u, 1u), vec2<u32>(t.m4 - 1u));
    t.bn = min(vec2<u32>(t.col0 / 4u) + vec2<u32>(0u, 1u), vec2<u32>(max(t.n4, 1u) - 1u));
    t.bt_lo = min(c, nl) * k4;
    t.bt_hi = min(c + 4u, nl) * k4;
    return t;
}

// Two 4x4 operand blocks for one step of 4 along k.
struct Pair {
    lo: mat4x4<f32>,
    hi: mat4x4<f32>,
}

// op(A) rows row0..+3 (lo) and row0+4..+7 (hi) at k = 4kq..4kq+3, as vec4 loads; column j holds
// the four rows at k = 4kq + j.
fn load_a_vec(t: Tile8, kq: u32) -> Pair {
    if p.trans_a != 0u {
        let k0 = kq * 4u;
        let m4 = t.m4;
        return Pair(
            mat4x4<f32>(a4[k0 * m4 + t.at.x], a4[(k0 + 1u) * m4 + t.at.x], a4[(k0 + 2u) * m4 + t.at.x], a4[(k0 + 3u) * m4 + t.at.x]),
            mat4x4<f32>(a4[k0 * m4 + t.at.y], a4[(k0 + 1u) * m4 + t.at.y], a4[(k0 + 2u) * m4 + t.at.y], a4[(k0 + 3u) * m4 + t.at.y]),
        );
    }
    return Pair(
        transpose(mat4x4<f32>(a4[t.ar_lo.x + kq], a4[t.ar_lo.y + kq], a4[t.ar_lo.z + kq], a4[t.ar_lo.w + kq])),
        transpose(mat4x4<f32>(a4[t.ar_hi.x + kq], a4[t.ar_hi.y + kq], a4[t.ar_hi.z + kq], a4[t.ar_hi.w + kq])),
    );
}

// op(B) rows k = 4kq..4kq+3 at columns col0..+3 (lo) and col0+4..+7 (hi), as vec4 loads; column j
// holds row k = 4kq + j.
fn load_b_vec(t: Tile8, kq: u32) -> Pair {
    if p.trans_b != 0u {
        return Pair(
            transpose(mat4x4<f32>(b4[t.bt_lo.x + kq], b4[t.bt_lo.y + kq], b4[t.bt_lo.z + kq], b4[t.bt_lo.w + kq])),
            transpose(mat4x4<f32>(b4[t.bt_hi.x + kq], b4[t.bt_hi.y + kq], b4[t.bt_hi.z + kq], b4[t.bt_hi.w + kq])),
        );
    }
    let k0 = kq * 4u;
    let n4 = t.n4;
    return Pair(
        mat4x4<f32>(b4[k0 * n4 + t.bn.x], b4[(k0 + 1u) * n4 + t.bn.x], b4[(k0 + 2u) * n4 + t.bn.x], b4[(k0 + 3u) * n4 + t.bn.x]),
        mat4x4<f32>(b4[k0 * n4 + t.bn.y], b4[(k0 + 1u) * n4 + t.bn.y], b4[(k0 + 2u) * n4 + t.bn.y], b4[(k0 + 3u) * n4 + t.bn.y]),
    );
}

// Four rows of op(A) at k0..k0+3, one scalar at a time, as the columns of a k-major block.
fn lda4(row: u32, k0: u32) -> mat4x4<f32> {
    return transpose(mat4x4<f32>(
        vec4<f32>(lda(row, k0), lda(row, k0 + 1u), lda(row, k0 + 2u), lda(row, k0 + 3u)),
        vec4<f32>(lda(row + 1u, k0), lda(row + 1u, k0 + 1u), lda(row + 1u, k0 + 2u), lda(row + 1u, k0 + 3u)),
        vec4<f32>(lda(row + 2u, k0), lda(row + 2u, k0 + 1u), lda(row + 2u, k0 + 2u), lda(row + 2u, k0 + 3u)),
        vec4<f32>(lda(row + 3u, k0), lda(row + 3u, k0 + 1u), lda(row + 3u, k0 + 2u), lda(row + 3u, k0 + 3u)),
    ));
}

// Rows k0..k0+3 of op(B) at four columns, one scalar at a time.
fn ldb4(k0: u32, col: u32) -> mat4x4<f32> {
    return mat4x4<f32>(
        vec4<f32>(ldb(k0, col), ldb(k0, col + 1u), ldb(k0, col + 2u), ldb(k0, col + 3u)),
        vec4<f32>(ldb(k0 + 1u, col), ldb(k0 + 1u, col + 1u), ldb(k0 + 1u, col + 2u), ldb(k0 + 1u, col + 3u)),
        vec4<f32>(ldb(k0 + 2u, col), ldb(k0 + 2u, col + 1u), ldb(k0 + 2u, col + 2u), ldb(k0 + 2u, col + 3u)),
        vec4<f32>(ldb(k0 + 3u, col), ldb(k0 + 3u, col + 1u), ldb(k0 + 3u, col + 2u), ldb(k0 + 3u, col + 3u)),
    );
}

fn load_a_mixed(t: Tile8, kq: u32) -> Pair {
    if p.a_vec == 0u {
        return Pair(lda4(t.row0, kq * 4u), lda4(t.row0 + 4u, kq * 4u));
    }
    return load_a_vec(t, kq);
}

fn load_b_mixed(t: Tile8, kq: u32) -> Pair {
    if p.b_vec == 0u {
        return Pair(ldb4(kq * 4u, t.col0), ldb4(kq * 4u, t.col0 + 4u));
    }
    return load_b_vec(t, kq);
}

// The block into C, plus (ba | bb) on every row.
fn store8(t: Tile8, blk: Block8, ba: vec4<f32>, bb: vec4<f32>) {
    let r = t.row0;
    let c4 = t.col0 + 4u;
    store_c(r, t.col0, blk.a0 + ba);
    store_c(r, c4, blk.b0 + bb);
    store_c(r + 1u, t.col0, blk.a1 + ba);
    store_c(r + 1u, c4, blk.b1 + bb);
    store_c(r + 2u, t.col0, blk.a2 + ba);
    store_c(r + 2u, c4, blk.b2 + bb);
    store_c(r + 3u, t.col0, blk.a3 + ba);
    store_c(r + 3u, c4, blk.b3 + bb);
    store_c(r + 4u, t.col0, blk.a4 + ba);
    store_c(r + 4u, c4, blk.b4 + bb);
    store_c(r + 5u, t.col0, blk.a5 + ba);
    store_c(r + 5u, c4, blk.b5 + bb);
    store_c(r + 6u, t.col0, blk.a6 + ba);
    store_c(r + 6u, c4, blk.b6 + bb);
    store_c(r + 7u, t.col0, blk.a7 + ba);
    store_c(r + 7u, c4, blk.b7 + bb);
}

// The block plus the bias of its columns.
fn store8_bias(t: Tile8, blk: Block8) {
    let nl = p.n - 1u;
    let c = t.col0;
    let ba = vec4<f32>(bias[min(c, nl)], bias[min(c + 1u, nl)], bias[min(c + 2u, nl)], bias[min(c + 3u, nl)]);
    let bb = vec4<f32>(bias[min(c + 4u, nl)], bias[min(c + 5u, nl)], bias[min(c + 6u, nl)], bias[min(c + 7u, nl)]);
    store8(t, blk, ba, bb);
}

// The block of tile t over k steps [kq0, kq1) (of 4 each), operands read as vec4s.
fn block_vec(t: Tile8, kq0: u32, kq1: u32) -> Block8 {
    var blk: Block8;
    for (var kq = kq0; kq < kq1; kq++) {
        let a = load_a_vec(t, kq);
        let b = load_b_vec(t, kq);
        block8_rank4(&blk, a.lo, a.hi, b.lo, b.hi);
    }
    return blk;
}

// The same where an operand may need scalar loads.
fn block_mixed(t: Tile8, kq0: u32, kq1: u32) -> Block8 {
    var blk: Block8;
    for (var kq = kq0; kq < kq1; kq++) {
        let a = load_a_mixed(t, kq);
        let b = load_b_mixed(t, kq);
        block8_rank4(&blk, a.lo, a.hi, b.lo, b.hi);
    }
    return blk;
}

@compute @workgroup_size(WG_BLOCK)
fn matmul_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile8(gid, nwg);
    if t.row0 < p.m {
        store8(t, block_vec(t, 0u, k_steps()), vec4<f32>(0.0), vec4<f32>(0.0));
    }
}

@compute @workgroup_size(WG_BLOCK)
fn matmul_bias_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile8(gid, nwg);
    if t.row0 < p.m {
        store8_bias(t, block_vec(t, 0u, k_steps()));
    }
}

@compute @workgroup_size(WG_BLOCK)
fn matmul_mixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile8(gid, nwg);
    if t.row0 < p.m {
        store8(t, block_mixed(t, 0u, k_steps()), vec4<f32>(0.0), vec4<f32>(0.0));
    }
}

@compute @workgroup_size(WG_BLOCK)
fn matmul_bias_mixed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = tile8(gid, nwg);
    if t.row0 < p.m {
        store8_bias(t, block_mixed(t, 0u, k_steps()));
    }
}

fn k_steps() -> u32 {
    return (p.k + 3u) / 4u;
}

// ---------------------------------------------------------------------------------------------
// Thin GEMMs (ops::Threads::Many, for a GEMM whose 8 x 8 blocks alone would leave a GPU idle: a
// dense layer's 128 x 10 output is 32 blocks): one output per invocation, k in steps of 4 with
// four scalar loads of each operand a step (any transpose and size), fma in k order. With
// p.splits > 1, invocation (s, i) sums output i over the steps [s * p.kq_split, (s + 1) *
// p.kq_split) into slab s of `c`, bound to a scratch buffer of p.splits slabs of m x n (no bias,
// no activation), and matmul_split_reduce sums each output's slabs in order, adds the bias and
// activates; with one split it does that itself. Fixed-order sums: bit-identical run to run.
@compute @workgroup_size(WG_BLOCK)
fn matmul_thin(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * WG_BLOCK;
    let mn = (p.m + p.ones_row) * p.n;
    let s = inv / mn;
    if s >= p.splits {
        return;
    }
    let i = inv % mn;
    let row = i / p.n;
    let col = i % p.n;
    let kq0 = min(s * p.kq_split, k_steps());
    let kq1 = min(kq0 + p.kq_split, k_steps());
    var acc = 0.0;
    for (var kq = kq0; kq < kq1; kq++) {
        let k0 = kq * 4u;
        var av = vec4<f32>(lda(row, k0), lda(row, k0 + 1u), lda(row, k0 + 2u), lda(row, k0 + 3u));
        if row == p.m {
            av = select(vec4<f32>(0.0), vec4<f32>(1.0), k0 + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k));
        }
        let bv = vec4<f32>(ldb(k0, col), ldb(k0 + 1u, col), ldb(k0 + 2u, col), ldb(k0 + 3u, col));
        acc = fma(av.x, bv.x, acc);
        acc = fma(av.y, bv.y, acc);
        acc = fma(av.z, bv.z, acc);
        acc = fma(av.w, bv.w, acc);
    }
    if p.splits > 1u {
        c[s * mn + i] = acc;
        return;
    }
    store_thin(i, acc);
}

// Output i of a thin GEMM (row m, when p.ones_row, into `db`), with the bias and activation.
fn store_thin(i: u32, v: f32) {
    if i >= p.m * p.n {
        db[i - p.m * p.n] = v;
        return;
    }
    var acc = v;
    if p.has_bias != 0u {
        acc += bias[i % p.n];
    }
    c[i] = activate(acc, p.act, p.alpha);
}

// One output per invocation: its slabs (bound as `a`) summed in order, the bias, the activation
// (the ones row's outputs into `db`).
@compute @workgroup_size(WG_BLOCK)
fn matmul_split_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG_BLOCK;
    let mn = (p.m + p.ones_row) * p.n;
    if i >= mn {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        acc += a[s * mn + i];
    }
    store_thin(i, acc);
}
