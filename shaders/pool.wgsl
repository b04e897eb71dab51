// The pooling family, NHWC, Keras semantics with valid or same padding: one entry point per
// strategy (max, average) and pass. x / dx [n,h,w,c]; y / dy / argmax [n,oh,ow,c]. A window is
// clipped to the image (padding is never a value): a max is over real pixels, an average divides
// by the real pixels it covers.
// argmax holds the flat index into x of each window's maximum (the first one, in row-major window
// order, wins ties). The backward passes are gathers: each dx element visits the windows that
// cover it and sums their contributions in output order; no atomics, and correct for overlapping
// windows (stride < pool).
// Two entry points serve a convolution and the max pooling after it (`layers::ConvMaxPool`):
// max_forward_slabs pools the convolution's split slabs (summed, biased and activated as
// conv2d's forward_reduce does) without writing the convolution's output, and max_backward_act
// applies the convolution's activation gradient as it scatters, so the gradient the convolution's
// backward pass reads takes one pass, not two. Both give the bits of the two ops unfused.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"
#include "prelude/activate.wgsl"

struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    ph: u32,
    pw: u32,
    sh: u32,
    sw: u32,
    oh: u32,
    ow: u32,
    pad_top: u32,
    pad_left: u32,
    // Elements of y (forward) or of dx (backward).
    total: u32,
    // max_forward_slabs: the convolution's split slabs; both fused entry points: its activation
    // (`activate` in the prelude) and the activation's alpha.
    splits: u32,
    act: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read> partial: array<f32>;
@group(0) @binding(8) var<storage, read> bias: array<f32>;


// The input positions [lo, hi) under output position o of one axis, clipped to the image.
fn span(o: u32, s: u32, k: u32, pad: u32, size: u32) -> vec2<u32> {
    let start = o * s;
    let lo = select(0u, start - pad, start > pad);
    let hi = min(select(0u, start + k - pad, start + k > pad), size);
    return vec2<u32>(lo, hi);
}

fn rows(oy: u32) -> vec2<u32> {
    return span(oy, p.sh, p.ph, p.pad_top, p.h);
}

fn cols(ox: u32) -> vec2<u32> {
    return span(ox, p.sw, p.pw, p.pad_left, p.w);
}

// The outputs [lo, hi) of one axis whose windows cover input position i.
fn covering(i: u32, s: u32, k: u32, pad: u32, out: u32) -> vec2<u32> {
    let ip = i + pad;
    var lo = 0u;
    if ip >= k {
        lo = (ip - k) / s + 1u;
    }
    return vec2<u32>(lo, min(ip / s + 1u, out));
}

// (batch, oy, ox, channel) of output i.
fn out_pos(i: u32) -> vec4<u32> {
    let ch = i % p.c;
    var t = i / p.c;
    let ox = t % p.ow;
    t = t / p.ow;
    return vec4<u32>(t / p.oh, t % p.oh, ox, ch);
}

// (batch, iy, ix, channel) of input i.
fn in_pos(i: u32) -> vec4<u32> {
    let ch = i % p.c;
    var t = i / p.c;
    let ix = t % p.w;
    t = t / p.w;
    return vec4<u32>(t / p.h, t % p.h, ix, ch);
}

@compute @workgroup_size(WG)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let o = out_pos(i);
    let r = rows(o.y);
    let q = cols(o.z);
    let first = ((o.x * p.h + r.x) * p.w + q.x) * p.c + o.w;
    var best = x[first];
    var best_i = first;
    for (var iy = r.x; iy < r.y; iy++) {
        let row = ((o.x * p.h + iy) * p.w) * p.c + o.w;
        for (var ix = q.x; ix < q.y; ix++) {
            let j = row + ix * p.c;
            let v = x[j];
            if v > best {
                best = v;
                best_i = j;
            }
        }
    }
    y[i] = best;
    argmax[i] = best_i;
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let v = in_pos(i);
    let ry = covering(v.y, p.sh, p.ph, p.pad_top, p.oh);
    let rx = covering(v.z, p.sw, p.pw, p.pad_left, p.ow);
    var sum = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        for (var ox = rx.x; ox < rx.y; ox++) {
            let o = ((v.x * p.oh + oy) * p.ow + ox) * p.c + v.w;
            if argmax_in[o] == i {
                sum += dy[o];
            }
        }
    }
    dx[i] = sum;
}

// Element j of the convolution's output: its slabs summed in split order, the bias, the
// activation (the arithmetic of conv2d's forward_reduce, so the same bits).
fn conv_value(j: u32) -> f32 {
    let len = p.n * p.h * p.w * p.c;
    var sum = 0.0;
    for (var s = 0u; s < p.splits; s++) {
        sum += partial[s * len + j];
    }
    return activate(sum + bias[j % p.c], p.act, p.alpha);
}

// max_forward over the convolution's output computed from its slabs.
@compute @workgroup_size(WG)
fn max_forward_slabs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let o = out_pos(i);
    let r = rows(o.y);
    let q = cols(o.z);
    let first = ((o.x * p.h + r.x) * p.w + q.x) * p.c + o.w;
    var best = conv_value(first);
    var best_i = first;
    for (var iy = r.x; iy < r.y; iy++) {
        let row = ((o.x * p.h + iy) * p.w) * p.c + o.w;
        for (var ix = q.x; ix < q.y; ix++) {
            let j = row + ix * p.c;
            // The first element is read twice, as max_forward does, so ties go the same way.
            let v = conv_value(j);
            if v > best {
                best = v;
                best_i = j;
            }
        }
    }
    y[i] = best;
    argmax[i] = best_i;
}

// max_backward, then the gradient before the convolution's activation: at a window's argmax the
// activation's output is the pooled value y (bound as `y`, read only), so no pass over the
// convolution's output is needed. Summed first, then scaled, as the two unfused passes do.
@compute @workgroup_size(WG)
fn max_backward_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let v = in_pos(i);
    let ry = covering(v.y, p.sh, p.ph, p.pad_top, p.oh);
    let rx = covering(v.z, p.sw, p.pw, p.pad_left, p.ow);
    var sum = 0.0;
    var out = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        for (var ox = rx.x; ox < rx.y; ox++) {
            let o = ((v.x * p.oh + oy) * p.ow + ox) * p.c + v.w;
            if argmax_in[o] == i {
                sum += dy[o];
                out = y[o];
            }
        }
    }
    dx[i] = activate_grad(out, sum, p.act, p.alpha);
}

@compute @workgroup_size(WG)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let o = out_pos(i);
    let r = rows(o.y);
    let q = cols(o.z);
    var sum = 0.0;
    for (var iy = r.x; iy < r.y; iy++) {
        let row = ((o.x * p.h + iy) * p.w) * p.c + o.w;
        for (var ix = q.x; ix < q.y; ix++) {
            sum += x[row + ix * p.c];
        }
    }
    y[i] = sum / f32((r.y - r.x) * (q.y - q.x));
}

@compute @workgroup_size(WG)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let v = in_pos(i);
    let ry = covering(v.y, p.sh, p.ph, p.pad_top, p.oh);
    let rx = covering(v.z, p.sw, p.pw, p.pad_left, p.ow);
    var sum = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        let r = rows(oy);
        for (var ox = rx.x; ox < rx.y; ox++) {
            let q = cols(ox);
            let o = ((v.x * p.oh + oy) * p.ow + ox) * p.c + v.w;
            sum += dy[o] / f32((r.y - r.x) * (q.y - q.x));
        }
    }
    dx[i] = sum;
}
