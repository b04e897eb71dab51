// Included by both conv2d kernel families (conv2d_blocked.wgsl, the default on every adapter, and
// conv2d_tiled.wgsl): the layouts, the parameter block, the buffers both bind, and the split-K sum that
// both families' backward_weights end with. Layouts, NHWC: x [n,h,w,cin], weights [kh,kw,cin,cout]
// (Keras), bias [cout], y / dy [n,oh,ow,cout], dx [n,h,w,cin]. Each family computes
//
//   forward          y[M=n*oh*ow, N=cout]   = im2col(x)[M, K=kh*kw*cin] x weights[K, N] (+ bias, activation)
//   backward_input   dx[M=n*h*w, N=cin]     = dy-gather[M, K=kh*kw*cout] x weights^T[K, N]
//                    (transposed convolution in gather form: each dx element sums the dy it touched)
//   backward_weights partial[s][K+1, cout]  = im2col(x)^T[K+1, chunk s of n*oh*ow] x dy[chunk, cout]
//                    (split-K; row K of im2col^T is all ones, so row K of the product is db)
//   weights_reduce   dw, db                 = sum over s of partial[s], in fixed order s = 0, 1, ...
//                    (weights_reduce_tree: the same sums by a workgroup per weight, for many splits)
//
// No atomics: every output is written by exactly one invocation, and every sum runs in a fixed
// order. Binding numbers are shared by both families (each file adds its own), so none collide.

#include "prelude/activate.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    n: u32,
    h: u32,
    w: u32,
    cin: u32,
    cout: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_top: u32,
    pad_left: u32,
    oh: u32,
    ow: u32,
    // The activation fused into the forward's epilogue (`activate` in the prelude) and its alpha.
    act: u32,
    // backward_weights: rows of n*oh*ow per split, and the number of splits.
    chunk: u32,
    splits: u32,
    alpha: f32,
    // backward_input_vec in splits of the taps (blocked family; 0 or 1: one pass): the splits
    // and the taps each takes.
    tap_splits: u32,
    taps_per_split: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
@group(0) @binding(8) var<storage, read_write> dw: array<f32>;
@group(0) @binding(9) var<storage, read_write> db: array<f32>;

// dw / db = sum over the splits of partial, in split order. One thread per (row, col) of [K+1, cout].
@compute @workgroup_size(WG)
fn weights_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let K = p.kh * p.kw * p.cin;
    let per = (K + 1u) * p.cout;
    if i >= per {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        sum += partial[s * per + i];
    }
    let nw = K * p.cout;
    if i < nw {
        dw[i] = sum;
    } else {
        db[i - nw] = sum;
    }
}

// weights_reduce_tree's workgroup: a power of two; 64 keeps most of its invocations busy when the
// splits number a few hundred.
override WG_TREE: u32 = 64u;

var<workgroup> wred: array<f32, WG_TREE>;

// The same sums for many short splits: one workgroup per (row, col) of [K+1, cout], its
// invocations striding over the splits, then halving their sums in workgroup memory. The order
// is fixed for a given WG, so the result is bit-identical run to run.
@compute @workgroup_size(WG_TREE)
fn weights_reduce_tree(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = wid.x + wid.y * nwg.x;
    let K = p.kh * p.kw * p.cin;
    let per = (K + 1u) * p.cout;
    let t = lid.x;
    var sum = 0.0;
    if o < per {
        for (var s = t; s < p.splits; s += WG_TREE) {
            sum += partial[s * per + o];
        }
    }
    wred[t] = sum;
    workgroupBarrier();
    for (var k = WG_TREE / 2u; k > 0u; k >>= 1u) {
        if t < k {
            wred[t] += wred[t + k];
        }
        workgroupBarrier();
    }
    if t == 0u && o < per {
        let nw = K * p.cout;
        if o < nw {
            dw[o] = wred[0];
        } else {
            db[o - nw] = wred[0];
        }
    }
}
