// BatchNormalization over the last axis of NHWC data viewed as [rows, c] (rows = batch*H*W).
// Only the first valid = step.batch * rows_per_sample rows are real samples; statistics use only
// those and padding rows get y = 0 / dx = 0.
//
// Reductions are deterministic and atomic-free: a (channel-block, row-chunk) grid where each
// workgroup sums its chunk with a workgroup tree reduction and writes one partial per channel; the
// next kernel adds the (at most ~64) partials of a channel in chunk order.
// Workgroup layout: 256 threads = cpg channels × (256 / cpg) row lanes; thread lid handles channel
// wid.x * cpg + lid % cpg and rows chunk_start + lid / cpg, stepping by 256 / cpg.
//
// Training forward: bn_sum, bn_sqdev, bn_apply_train. Backward: bn_bwd_sums, bn_dx.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"
#include "prelude/activate.wgsl"

struct Params {
    c: u32,
    rows_per_sample: u32,
    max_rows: u32,
    nchunks: u32,
    cpg: u32,
    chunk_rows: u32,
    momentum: f32,
    eps: f32,
    // bn_dx: the activation of the op before (its output is x), whose gradient bn_dx applies to
    // dx so that op need not (0: none), and its alpha.
    act: u32,
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read> mean: array<f32>;
@group(0) @binding(7) var<storage, read> invstd: array<f32>;
@group(0) @binding(8) var<storage, read> rmean: array<f32>;
@group(0) @binding(9) var<storage, read> rvar: array<f32>;
// [2][nchunks][c] partial sums
@group(0) @binding(10) var<storage, read_write> partial: array<f32>;
@group(0) @binding(11) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(12) var<storage, read_write> invstd_out: array<f32>;
@group(0) @binding(13) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(14) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(15) var<storage, read_write> y: array<f32>;
@group(0) @binding(16) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(17) var<storage, read_write> dbeta: array<f32>;


var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

fn valid_rows() -> u32 {
    return min(step.batch * p.rows_per_sample, p.max_rows);
}

// Row range [start, end) of this workgroup's chunk, clipped to `limit`.
fn chunk_start(wid: vec3<u32>) -> u32 {
    return wid.y * p.chunk_rows;
}

fn chunk_end(wid: vec3<u32>, limit: u32) -> u32 {
    return min(wid.y * p.chunk_rows + p.chunk_rows, limit);
}

// Tree-reduce (v0, v1) over the row lanes of each channel; every thread gets its channel's totals.
fn reduce(v: vec2<f32>, lid: u32) -> vec2<f32> {
    let cx = lid % p.cpg;
    let ry = lid / p.cpg;
    red0[lid] = v.x;
    red1[lid] = v.y;
    workgroupBarrier();
    for (var s = (WG / p.cpg) / 2u; s > 0u; s = s / 2u) {
        if ry < s {
            red0[lid] = red0[lid] + red0[lid + s * p.cpg];
            red1[lid] = red1[lid] + red1[lid + s * p.cpg];
        }
        workgroupBarrier();
    }
    return vec2<f32>(red0[cx], red1[cx]);
}

// Sum over chunks, in chunk order, of section `sec` of `partial` for channel ch.
fn total(sec: u32, ch: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < p.nchunks; j++) {
        s += partial[(sec * p.nchunks + j) * p.c + ch];
    }
    return s;
}

// Pass 1: partial[0][chunk][ch] = sum of x over the chunk's valid rows.
@compute @workgroup_size(WG)
fn bn_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x * p.cpg + lid % p.cpg;
    let lanes = WG / p.cpg;
    var acc = 0.0;
    if ch < p.c {
        let end = chunk_end(wid, valid_rows());
        for (var r = chunk_start(wid) + lid / p.cpg; r < end; r += lanes) {
            acc += x[r * p.c + ch];
        }
    }
    let s = reduce(vec2<f32>(acc, 0.0), lid);
    if lid < p.cpg && ch < p.c {
        partial[wid.y * p.c + ch] = s.x;
    }
}

// Pass 2: mean = total / valid (written by the chunk-0 workgroups);
// partial[1][chunk][ch] = sum of (x - mean)^2 over the chunk's valid rows.
@compute @workgroup_size(WG)
fn bn_sqdev(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x * p.cpg + lid % p.cpg;
    let lanes = WG / p.cpg;
    let valid = valid_rows();
    var acc = 0.0;
    var m = 0.0;
    if ch < p.c {
        m = total(0u, ch) / f32(max(valid, 1u));
        let end = chunk_end(wid, valid);
        for (var r = chunk_start(wid) + lid / p.cpg; r < end; r += lanes) {
            let d = x[r * p.c + ch] - m;
            acc += d * d;
        }
    }
    let s = reduce(vec2<f32>(acc, 0.0), lid);
    if lid < p.cpg && ch < p.c {
        partial[(p.nchunks + wid.y) * p.c + ch] = s.x;
        if wid.y == 0u {
            mean_out[ch] = m;
        }
    }
}

// Pass 3: invstd = 1/sqrt(var + eps) with the biased batch variance; the chunk-0 workgroups write
// invstd and update the running statistics; y = (x - mean) * (invstd * gamma) + beta on valid
// rows, 0 on padding rows.
@compute @workgroup_size(WG)
fn bn_apply_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x * p.cpg + lid % p.cpg;
    if ch >= p.c {
        return;
    }
    let lanes = WG / p.cpg;
    let valid = valid_rows();
    let m = mean[ch];
    let v = total(1u, ch) / f32(max(valid, 1u));
    let inv = 1.0 / sqrt(v + p.eps);
    if wid.y == 0u && lid < p.cpg {
        invstd_out[ch] = inv;
        running_mean[ch] = running_mean[ch] * p.momentum + m * (1.0 - p.momentum);
        running_var[ch] = running_var[ch] * p.momentum + v * (1.0 - p.momentum);
    }
    let sc = inv * gamma[ch];
    let b = beta[ch];
    let end = chunk_end(wid, p.max_rows);
    for (var r = chunk_start(wid) + lid / p.cpg; r < end; r += lanes) {
        let i = r * p.c + ch;
        y[i] = select(0.0, (x[i] - m) * sc + b, r < valid);
    }
}

// Inference: y = (x - running_mean) * (gamma / sqrt(running_var + eps)) + beta, every row.
@compute @workgroup_size(WG)
fn bn_infer(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i < p.max_rows * p.c {
        let ch = i % p.c;
        let sc = (1.0 / sqrt(rvar[ch] + p.eps)) * gamma[ch];
        y[i] = (x[i] - rmean[ch]) * sc + beta[ch];
    }
}

// Backward pass 1: partial[0] = sum dy, partial[1] = sum dy * xhat over valid rows.
@compute @workgroup_size(WG)
fn bn_bwd_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x * p.cpg + lid % p.cpg;
    let lanes = WG / p.cpg;
    var acc = vec2<f32>(0.0, 0.0);
    if ch < p.c {
        let m = mean[ch];
        let inv = invstd[ch];
        let end = chunk_end(wid, valid_rows());
        for (var r = chunk_start(wid) + lid / p.cpg; r < end; r += lanes) {
            let i = r * p.c + ch;
            let g = dy[i];
            acc += vec2<f32>(g, g * ((x[i] - m) * inv));
        }
    }
    let s = reduce(acc, lid);
    if lid < p.cpg && ch < p.c {
        partial[wid.y * p.c + ch] = s.x;
        partial[(p.nchunks + wid.y) * p.c + ch] = s.y;
    }
}

// Backward pass 2: dbeta = sum dy, dgamma = sum dy*xhat (written by the chunk-0 workgroups);
// dx = gamma*invstd/N * (N*dy - dbeta - xhat*dgamma) on valid rows, 0 on padding rows; then the
// gradient before the previous op's activation (p.act; linear gives dx as it is).
@compute @workgroup_size(WG)
fn bn_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ch = wid.x * p.cpg + lid % p.cpg;
    if ch >= p.c {
        return;
    }
    let lanes = WG / p.cpg;
    let valid = valid_rows();
    let db = total(0u, ch);
    let dg = total(1u, ch);
    if wid.y == 0u && lid < p.cpg {
        dbeta[ch] = db;
        dgamma[ch] = dg;
    }
    let m = mean[ch];
    let inv = invstd[ch];
    let nf = f32(max(valid, 1u));
    let k = gamma[ch] * inv / nf;
    let end = chunk_end(wid, p.max_rows);
    for (var r = chunk_start(wid) + lid / p.cpg; r < end; r += lanes) {
        let i = r * p.c + ch;
        let xhat = (x[i] - m) * inv;
        let g = select(0.0, k * (nf * dy[i] - db - xhat * dg), r < valid);
        y[i] = activate_grad(x[i], g, p.act, p.alpha);
    }
}
