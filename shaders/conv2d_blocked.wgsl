// 2-D convolution as implicit GEMM, register-blocked: the blocked family (Variant::Blocked), every
// adapter's default. Written for CPU drivers (llvmpipe / lavapipe), and faster on an H200 too. Layouts, the GEMMs and weights_reduce: shaders/prelude/conv2d.wgsl.
//
// No workgroup memory, no barriers, no division in inner loops, 64-invocation workgroups. On
// llvmpipe every storage-buffer load costs a loop over the SIMD lanes, whatever it loads, so these
// kernels load vec4s (needs cin % 4 == 0 and / or cout % 4 == 0, checked on the host) and block
// registers so each loaded vector feeds many FMAs.

#include "prelude/conv2d.wgsl"
#include "prelude/block8.wgsl"

@group(0) @binding(10) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> w4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> dy4: array<vec4<f32>>;

// Output pixel q of an invocation: the vec4 index of x at tap (0, 0), and whether it is live.
struct Pix {
    b: u32,
    iy0: i32,
    ix0: i32,
    live: bool,
}

fn out_pix(m: u32) -> Pix {
    let M = p.n * p.oh * p.ow;
    let mm = min(m, M - 1u);
    let ox = mm % p.ow;
    let t = mm / p.ow;
    let oy = t % p.oh;
    return Pix(t / p.oh, i32(oy * p.sh) - i32(p.pad_top), i32(ox * p.sw) - i32(p.pad_left), m < M);
}

// vec4 index of x for pixel q at tap (ki, kj), channel 0, and whether the tap is inside the image.
fn tap_x(q: Pix, ki: u32, kj: u32, cin4: u32) -> vec2<u32> {
    let iy = q.iy0 + i32(ki);
    let ix = q.ix0 + i32(kj);
    let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    let idx = select(0u, ((q.b * p.h + u32(iy)) * p.w + u32(ix)) * cin4, ok);
    return vec2<u32>(idx, select(0u, 1u, ok));
}

fn ldx(i: vec2<u32>, c4: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), x4[i.x + c4], i.y != 0u);
}

fn store_y(m: u32, co4: u32, v: vec4<f32>) {
    let N = p.cout;
    let M = p.n * p.oh * p.ow;
    if m >= M || co4 * 4u >= N {
        return;
    }
    let r = v + vec4<f32>(bias[co4 * 4u], bias[co4 * 4u + 1u], bias[co4 * 4u + 2u], bias[co4 * 4u + 3u]);
    let o = m * N + co4 * 4u;
    y[o] = activate(r.x, p.act, p.alpha);
    y[o + 1u] = activate(r.y, p.act, p.alpha);
    y[o + 2u] = activate(r.z, p.act, p.alpha);
    y[o + 3u] = activate(r.w, p.act, p.alpha);
}

// Four outputs of pixel m: as store_y in one pass; raw into slab `split` of `y` when split.
fn store_part(split: u32, splits: u32, m: u32, co4: u32, v: vec4<f32>) {
    if splits <= 1u {
        store_y(m, co4, v);
        return;
    }
    let N = p.cout;
    let M = p.n * p.oh * p.ow;
    if m >= M || co4 * 4u >= N {
        return;
    }
    let o = split * M * N + m * N + co4 * 4u;
    y[o] = v.x;
    y[o + 1u] = v.y;
    y[o + 2u] = v.z;
    y[o + 3u] = v.w;
}

// Forward, cin % 4 == 0 and cout % 4 == 0: 8 consecutive output pixels x 8 channels per
// invocation (8 x and 8 weight vec4 loads per 64 vec4 FMAs).
@compute @workgroup_size(WG_BLOCK)
fn forward_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let all = gid.x + gid.y * nwg.x * WG_BLOCK;
    let cout4 = p.cout / 4u;
    let ngc = (cout4 + 1u) / 2u;
    let M = p.n * p.oh * p.ow;
    // Split over the taps, as backward_input_vec: block `inv` of split `split` sums taps
    // [tap0, tap1) into slab `split` of `y` (bound to the slabs; forward_reduce adds them, the
    // bias and the activation).
    let blocks = ngc * ((M + 7u) / 8u);
    let splits = max(p.tap_splits, 1u);
    let split = all / blocks;
    let inv = all % blocks;
    let mg = inv / ngc;
    if split >= splits || mg * 8u >= M {
        return;
    }
    let taps = p.kh * p.kw;
    let tap0 = select(0u, split * p.taps_per_split, splits > 1u);
    let tap1 = select(taps, min(tap0 + p.taps_per_split, taps), splits > 1u);
    let gc = inv % ngc;
    let co4a = gc * 2u;
    let co4b = min(co4a + 1u, cout4 - 1u);
    let m0 = mg * 8u;
    let q0 = out_pix(m0 + 0u);
    let q1 = out_pix(m0 + 1u);
    let q2 = out_pix(m0 + 2u);
    let q3 = out_pix(m0 + 3u);
    let q4 = out_pix(m0 + 4u);
    let q5 = out_pix(m0 + 5u);
    let q6 = out_pix(m0 + 6u);
    let q7 = out_pix(m0 + 7u);
    let cin4 = p.cin / 4u;
    var blk: Block8;
    // Nested loops, the taps outside this split skipped: no division per tap (slow on llvmpipe).
    for (var ki = 0u; ki < p.kh; ki++) {
        for (var kj = 0u; kj < p.kw; kj++) {
            let tap = ki * p.kw + kj;
            if tap < tap0 || tap >= tap1 {
                continue;
            }
            let i0 = tap_x(q0, ki, kj, cin4);
            let i1 = tap_x(q1, ki, kj, cin4);
            let i2 = tap_x(q2, ki, kj, cin4);
            let i3 = tap_x(q3, ki, kj, cin4);
            let i4 = tap_x(q4, ki, kj, cin4);
            let i5 = tap_x(q5, ki, kj, cin4);
            let i6 = tap_x(q6, ki, kj, cin4);
            let i7 = tap_x(q7, ki, kj, cin4);
            // weights row (tap, c) starts at vec4 index (tap * cin + c) * cout4.
            var wr = (ki * p.kw + kj) * p.cin * cout4;
            for (var c4 = 0u; c4 < cin4; c4++) {
                let x0 = ldx(i0, c4);
                let x1 = ldx(i1, c4);
                let x2 = ldx(i2, c4);
                let x3 = ldx(i3, c4);
                let x4 = ldx(i4, c4);
                let x5 = ldx(i5, c4);
                let x6 = ldx(i6, c4);
                let x7 = ldx(i7, c4);
                // Column j of the x blocks is channel 4 c4 + j of the 8 pixels; weight rows follow.
                let wa = mat4x4<f32>(w4[wr + co4a], w4[wr + cout4 + co4a], w4[wr + 2u * cout4 + co4a], w4[wr + 3u * cout4 + co4a]);
                let wb = mat4x4<f32>(w4[wr + co4b], w4[wr + cout4 + co4b], w4[wr + 2u * cout4 + co4b], w4[wr + 3u * cout4 + co4b]);
                block8_rank4(&blk, transpose(mat4x4<f32>(x0, x1, x2, x3)), transpose(mat4x4<f32>(x4, x5, x6, x7)), wa, wb);
                wr += 4u * cout4;
            }
        }
    }
    let second = co4b != co4a;
    store_part(split, splits, m0 + 0u, co4a, blk.a0);
    store_part(split, splits, m0 + 1u, co4a, blk.a1);
    store_part(split, splits, m0 + 2u, co4a, blk.a2);
    store_part(split, splits, m0 + 3u, co4a, blk.a3);
    store_part(split, splits, m0 + 4u, co4a, blk.a4);
    store_part(split, splits, m0 + 5u, co4a, blk.a5);
    store_part(split, splits, m0 + 6u, co4a, blk.a6);
    store_part(split, splits, m0 + 7u, co4a, blk.a7);
    if second {
        store_part(split, splits, m0 + 0u, co4b, blk.b0);
        store_part(split, splits, m0 + 1u, co4b, blk.b1);
        store_part(split, splits, m0 + 2u, co4b, blk.b2);
        store_part(split, splits, m0 + 3u, co4b, blk.b3);
        store_part(split, splits, m0 + 4u, co4b, blk.b4);
        store_part(split, splits, m0 + 5u, co4b, blk.b5);
        store_part(split, splits, m0 + 6u, co4b, blk.b6);
        store_part(split, splits, m0 + 7u, co4b, blk.b7);
    }
}

struct IPix {
    b: u32,
    py: i32,
    px: i32,
}

fn in_pix(m: u32) -> IPix {
    let M = p.n * p.h * p.w;
    let mm = min(m, M - 1u);
    let ix = mm % p.w;
    let t = mm / p.w;
    return IPix(t / p.h, i32(t % p.h + p.pad_top), i32(ix + p.pad_left));
}

// vec4 index of dy (channel 0) of the output that input pixel q touched through tap (ki, kj).
fn tap_dy(q: IPix, ki: u32, kj: u32, cout4: u32) -> vec2<u32> {
    let ty = q.py - i32(ki);
    let tx = q.px - i32(kj);
    let sh = i32(p.sh);
    let sw = i32(p.sw);
    let oy = ty / sh;
    let ox = tx / sw;
    let ok = ty >= 0 && tx >= 0 && oy * sh == ty && ox * sw == tx && oy < i32(p.oh) && ox < i32(p.ow);
    let idx = select(0u, ((q.b * p.oh + u32(oy)) * p.ow + u32(ox)) * cout4, ok);
    return vec2<u32>(idx, select(0u, 1u, ok));
}

fn lddy(i: vec2<u32>, c4: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), dy4[i.x + c4], i.y != 0u);
}

// backward_input, cout % 4 == 0: 8 consecutive input pixels x 8 input channels per invocation
// (8 dy and 8 weight vec4 loads per 64 vec4 dot products).
// It does not use Block8: Block8 accumulates rank-1 updates (one fma per reduction index, the
// reduction index outermost), while here the reduction runs along cout in vec4 dot products (four
// cout values summed inside each dot, then added). The two sum in different orders, so the
// shared block would change this kernel's results and every checkpoint trained with it; and
// Block8's vec4 rows would need the 8 channels of a pixel in one vector, which the weight layout
// ([kh][kw][cin][cout]) does not give without a transpose per load.
@compute @workgroup_size(WG_BLOCK)
fn backward_input_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let all = gid.x + gid.y * nwg.x * WG_BLOCK;
    let ngc = (p.cin + 7u) / 8u;
    let M = p.n * p.h * p.w;
    // Split over the taps: invocation `all` is block `inv` of split `split`, which sums taps
    // [tap0, tap1) into slab `split` of `dx` (bound to the slabs; input_grad_reduce adds them).
    let blocks = ngc * ((M + 7u) / 8u);
    let splits = max(p.tap_splits, 1u);
    let split = all / blocks;
    let inv = all % blocks;
    let mg = inv / ngc;
    if split >= splits || mg * 8u >= M {
        return;
    }
    let taps = p.kh * p.kw;
    let tap0 = select(0u, split * p.taps_per_split, splits > 1u);
    let tap1 = select(taps, min(tap0 + p.taps_per_split, taps), splits > 1u);
    let base = split * M * p.cin;
    let ci0 = (inv % ngc) * 8u;
    let cout4 = p.cout / 4u;
    let m0 = mg * 8u;
    let q0 = in_pix(m0 + 0u);
    let q1 = in_pix(m0 + 1u);
    let q2 = in_pix(m0 + 2u);
    let q3 = in_pix(m0 + 3u);
    let q4 = in_pix(m0 + 4u);
    let q5 = in_pix(m0 + 5u);
    let q6 = in_pix(m0 + 6u);
    let q7 = in_pix(m0 + 7u);
    let r0 = min(ci0 + 0u, p.cin - 1u) * cout4;
    let r1 = min(ci0 + 1u, p.cin - 1u) * cout4;
    let r2 = min(ci0 + 2u, p.cin - 1u) * cout4;
    let r3 = min(ci0 + 3u, p.cin - 1u) * cout4;
    let r4 = min(ci0 + 4u, p.cin - 1u) * cout4;
    let r5 = min(ci0 + 5u, p.cin - 1u) * cout4;
    let r6 = min(ci0 + 6u, p.cin - 1u) * cout4;
    let r7 = min(ci0 + 7u, p.cin - 1u) * cout4;
    var a0_0 = 0.0;
    var a0_1 = 0.0;
    var a0_2 = 0.0;
    var a0_3 = 0.0;
    var a0_4 = 0.0;
    var a0_5 = 0.0;
    var a0_6 = 0.0;
    var a0_7 = 0.0;
    var a1_0 = 0.0;
    var a1_1 = 0.0;
    var a1_2 = 0.0;
    var a1_3 = 0.0;
    var a1_4 = 0.0;
    var a1_5 = 0.0;
    var a1_6 = 0.0;
    var a1_7 = 0.0;
    var a2_0 = 0.0;
    var a2_1 = 0.0;
    var a2_2 = 0.0;
    var a2_3 = 0.0;
    var a2_4 = 0.0;
    var a2_5 = 0.0;
    var a2_6 = 0.0;
    var a2_7 = 0.0;
    var a3_0 = 0.0;
    var a3_1 = 0.0;
    var a3_2 = 0.0;
    var a3_3 = 0.0;
    var a3_4 = 0.0;
    var a3_5 = 0.0;
    var a3_6 = 0.0;
    var a3_7 = 0.0;
    var a4_0 = 0.0;
    var a4_1 = 0.0;
    var a4_2 = 0.0;
    var a4_3 = 0.0;
    var a4_4 = 0.0;
    var a4_5 = 0.0;
    var a4_6 = 0.0;
    var a4_7 = 0.0;
    var a5_0 = 0.0;
    var a5_1 = 0.0;
    var a5_2 = 0.0;
    var a5_3 = 0.0;
    var a5_4 = 0.0;
    var a5_5 = 0.0;
    var a5_6 = 0.0;
    var a5_7 = 0.0;
    var a6_0 = 0.0;
    var a6_1 = 0.0;
    var a6_2 = 0.0;
    var a6_3 = 0.0;
    var a6_4 = 0.0;
    var a6_5 = 0.0;
    var a6_6 = 0.0;
    var a6_7 = 0.0;
    var a7_0 = 0.0;
    var a7_1 = 0.0;
    var a7_2 = 0.0;
    var a7_3 = 0.0;
    var a7_4 = 0.0;
    var a7_5 = 0.0;
    var a7_6 = 0.0;
    var a7_7 = 0.0;
    // Nested loops, the taps outside this split skipped: no division per tap (slow on llvmpipe).
    for (var ki = 0u; ki < p.kh; ki++) {
        for (var kj = 0u; kj < p.kw; kj++) {
            let tap = ki * p.kw + kj;
            if tap < tap0 || tap >= tap1 {
                continue;
            }
            let i0 = tap_dy(q0, ki, kj, cout4);
            let i1 = tap_dy(q1, ki, kj, cout4);
            let i2 = tap_dy(q2, ki, kj, cout4);
            let i3 = tap_dy(q3, ki, kj, cout4);
            let i4 = tap_dy(q4, ki, kj, cout4);
            let i5 = tap_dy(q5, ki, kj, cout4);
            let i6 = tap_dy(q6, ki, kj, cout4);
            let i7 = tap_dy(q7, ki, kj, cout4);
            let wt = (ki * p.kw + kj) * p.cin * cout4;
            for (var c4 = 0u; c4 < cout4; c4++) {
                let d0 = lddy(i0, c4);
                let d1 = lddy(i1, c4);
                let d2 = lddy(i2, c4);
                let d3 = lddy(i3, c4);
                let d4 = lddy(i4, c4);
                let d5 = lddy(i5, c4);
                let d6 = lddy(i6, c4);
                let d7 = lddy(i7, c4);
                let wv0 = w4[wt + r0 + c4];
                a0_0 += dot(d0, wv0);
                a1_0 += dot(d1, wv0);
                a2_0 += dot(d2, wv0);
                a3_0 += dot(d3, wv0);
                a4_0 += dot(d4, wv0);
                a5_0 += dot(d5, wv0);
                a6_0 += dot(d6, wv0);
                a7_0 += dot(d7, wv0);
                let wv1 = w4[wt + r1 + c4];
                a0_1 += dot(d0, wv1);
                a1_1 += dot(d1, wv1);
                a2_1 += dot(d2, wv1);
                a3_1 += dot(d3, wv1);
                a4_1 += dot(d4, wv1);
                a5_1 += dot(d5, wv1);
                a6_1 += dot(d6, wv1);
                a7_1 += dot(d7, wv1);
                let wv2 = w4[wt + r2 + c4];
                a0_2 += dot(d0, wv2);
                a1_2 += dot(d1, wv2);
                a2_2 += dot(d2, wv2);
                a3_2 += dot(d3, wv2);
                a4_2 += dot(d4, wv2);
                a5_2 += dot(d5, wv2);
                a6_2 += dot(d6, wv2);
                a7_2 += dot(d7, wv2);
                let wv3 = w4[wt + r3 + c4];
                a0_3 += dot(d0, wv3);
                a1_3 += dot(d1, wv3);
                a2_3 += dot(d2, wv3);
                a3_3 += dot(d3, wv3);
                a4_3 += dot(d4, wv3);
                a5_3 += dot(d5, wv3);
                a6_3 += dot(d6, wv3);
                a7_3 += dot(d7, wv3);
                let wv4 = w4[wt + r4 + c4];
                a0_4 += dot(d0, wv4);
                a1_4 += dot(d1, wv4);
                a2_4 += dot(d2, wv4);
                a3_4 += dot(d3, wv4);
                a4_4 += dot(d4, wv4);
                a5_4 += dot(d5, wv4);
                a6_4 += dot(d6, wv4);
                a7_4 += dot(d7, wv4);
                let wv5 = w4[wt + r5 + c4];
                a0_5 += dot(d0, wv5);
                a1_5 += dot(d1, wv5);
                a2_5 += dot(d2, wv5);
                a3_5 += dot(d3, wv5);
                a4_5 += dot(d4, wv5);
                a5_5 += dot(d5, wv5);
                a6_5 += dot(d6, wv5);
                a7_5 += dot(d7, wv5);
                let wv6 = w4[wt + r6 + c4];
                a0_6 += dot(d0, wv6);
                a1_6 += dot(d1, wv6);
                a2_6 += dot(d2, wv6);
                a3_6 += dot(d3, wv6);
                a4_6 += dot(d4, wv6);
                a5_6 += dot(d5, wv6);
                a6_6 += dot(d6, wv6);
                a7_6 += dot(d7, wv6);
                let wv7 = w4[wt + r7 + c4];
                a0_7 += dot(d0, wv7);
                a1_7 += dot(d1, wv7);
                a2_7 += dot(d2, wv7);
                a3_7 += dot(d3, wv7);
                a4_7 += dot(d4, wv7);
                a5_7 += dot(d5, wv7);
                a6_7 += dot(d6, wv7);
                a7_7 += dot(d7, wv7);
            }
        }
    }
    if m0 + 0u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 0u] = a0_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 1u] = a0_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 2u] = a0_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 3u] = a0_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 4u] = a0_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 5u] = a0_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 6u] = a0_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 0u) * p.cin + ci0 + 7u] = a0_7; }
    }
    if m0 + 1u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 0u] = a1_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 1u] = a1_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 2u] = a1_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 3u] = a1_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 4u] = a1_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 5u] = a1_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 6u] = a1_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 1u) * p.cin + ci0 + 7u] = a1_7; }
    }
    if m0 + 2u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 0u] = a2_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 1u] = a2_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 2u] = a2_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 3u] = a2_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 4u] = a2_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 5u] = a2_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 6u] = a2_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 2u) * p.cin + ci0 + 7u] = a2_7; }
    }
    if m0 + 3u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 0u] = a3_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 1u] = a3_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 2u] = a3_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 3u] = a3_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 4u] = a3_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 5u] = a3_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 6u] = a3_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 3u) * p.cin + ci0 + 7u] = a3_7; }
    }
    if m0 + 4u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 0u] = a4_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 1u] = a4_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 2u] = a4_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 3u] = a4_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 4u] = a4_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 5u] = a4_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 6u] = a4_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 4u) * p.cin + ci0 + 7u] = a4_7; }
    }
    if m0 + 5u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 0u] = a5_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 1u] = a5_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 2u] = a5_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 3u] = a5_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 4u] = a5_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 5u] = a5_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 6u] = a5_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 5u) * p.cin + ci0 + 7u] = a5_7; }
    }
    if m0 + 6u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 0u] = a6_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 1u] = a6_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 2u] = a6_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 3u] = a6_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 4u] = a6_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 5u] = a6_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 6u] = a6_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 6u) * p.cin + ci0 + 7u] = a6_7; }
    }
    if m0 + 7u < M {
        if ci0 + 0u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 0u] = a7_0; }
        if ci0 + 1u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 1u] = a7_1; }
        if ci0 + 2u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 2u] = a7_2; }
        if ci0 + 3u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 3u] = a7_3; }
        if ci0 + 4u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 4u] = a7_4; }
        if ci0 + 5u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 5u] = a7_5; }
        if ci0 + 6u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 6u] = a7_6; }
        if ci0 + 7u < p.cin { dx[base + (m0 + 7u) * p.cin + ci0 + 7u] = a7_7; }
    }
}

// The sums of four output pixels q0..q3 x the output channels of vec4s co4a and co4b, x read
// one scalar per pixel and input channel (forward_vec_sx and forward_pool_sx).
struct Sums8 {
    a0: vec4<f32>,
    a1: vec4<f32>,
    a2: vec4<f32>,
    a3: vec4<f32>,
    b0: vec4<f32>,
    b1: vec4<f32>,
    b2: vec4<f32>,
    b3: vec4<f32>,
}

fn sx_sums(q0: Pix, q1: Pix, q2: Pix, q3: Pix, co4a: u32, co4b: u32) -> Sums8 {
    let cout4 = p.cout / 4u;
    var a0 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    for (var ki = 0u; ki < p.kh; ki++) {
        for (var kj = 0u; kj < p.kw; kj++) {
            // tap_x with cin4 = cin gives the scalar index of channel 0.
            let i0 = tap_x(q0, ki, kj, p.cin);
            let i1 = tap_x(q1, ki, kj, p.cin);
            let i2 = tap_x(q2, ki, kj, p.cin);
            let i3 = tap_x(q3, ki, kj, p.cin);
            var wr = (ki * p.kw + kj) * p.cin * cout4;
            for (var c = 0u; c < p.cin; c++) {
                let x0 = select(0.0, x[i0.x + c], i0.y != 0u);
                let x1 = select(0.0, x[i1.x + c], i1.y != 0u);
                let x2 = select(0.0, x[i2.x + c], i2.y != 0u);
                let x3 = select(0.0, x[i3.x + c], i3.y != 0u);
                let wa = w4[wr + co4a];
                let wb = w4[wr + co4b];
                a0 = fma(vec4<f32>(x0), wa, a0);
                b0 = fma(vec4<f32>(x0), wb, b0);
                a1 = fma(vec4<f32>(x1), wa, a1);
                b1 = fma(vec4<f32>(x1), wb, b1);
                a2 = fma(vec4<f32>(x2), wa, a2);
                b2 = fma(vec4<f32>(x2), wb, b2);
                a3 = fma(vec4<f32>(x3), wa, a3);
                b3 = fma(vec4<f32>(x3), wb, b3);
                wr += cout4;
            }
        }
    }
    return Sums8(a0, a1, a2, a3, b0, b1, b2, b3);
}

// Forward, cout % 4 == 0 and cin % 4 != 0 (the first layer: cin = 1): like forward_vec, 4 output
// pixels x 8 channels per invocation, but x is read one scalar per pixel and input channel.
@compute @workgroup_size(WG_BLOCK)
fn forward_vec_sx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * WG_BLOCK;
    let cout4 = p.cout / 4u;
    let ngc = (cout4 + 1u) / 2u;
    let M = p.n * p.oh * p.ow;
    let mg = inv / ngc;
    if mg * 4u >= M {
        return;
    }
    let gc = inv % ngc;
    let co4a = gc * 2u;
    let co4b = min(co4a + 1u, cout4 - 1u);
    let m0 = mg * 4u;
    let q0 = out_pix(m0);
    let q1 = out_pix(m0 + 1u);
    let q2 = out_pix(m0 + 2u);
    let q3 = out_pix(m0 + 3u);
    let r = sx_sums(q0, q1, q2, q3, co4a, co4b);
    let second = co4b != co4a;
    store_y(m0, co4a, r.a0);
    store_y(m0 + 1u, co4a, r.a1);
    store_y(m0 + 2u, co4a, r.a2);
    store_y(m0 + 3u, co4a, r.a3);
    if second {
        store_y(m0, co4b, r.b0);
        store_y(m0 + 1u, co4b, r.b1);
        store_y(m0 + 2u, co4b, r.b2);
        store_y(m0 + 3u, co4b, r.b3);
    }
}

// ---- forward_pool_sx: forward_vec_sx and the 2x2, stride 2, valid max pooling after it in one
// pass (layers::ConvMaxPool). Each invocation takes the four pixels of one pooling window x 8
// channels, sums them in forward_vec_sx's order (so the same bits), applies the bias and the
// activation, and writes the window's maximum (`y`, [n, oh/2, ow/2, cout]) and its flat index
// into the convolution's output (`argmax`; the first in row-major window order wins ties, as
// pool.wgsl's max_forward). The convolution's output is never written.
@group(0) @binding(14) var<storage, read_write> argmax: array<u32>;

// The window's maximum of channel co of the four pixels' values v0..v3 (pixels m0..m3).
fn pool4(o: u32, co: u32, m: vec4<u32>, v: vec4<f32>) {
    var best = v.x;
    var at = m.x;
    if v.y > best { best = v.y; at = m.y; }
    if v.z > best { best = v.z; at = m.z; }
    if v.w > best { best = v.w; at = m.w; }
    y[o + co] = best;
    argmax[o + co] = at * p.cout + co;
}

// The bias and activation of channels co4 * 4 .. + 3 of the four pixels, pooled into output o.
fn store_pooled(o: u32, co4: u32, m: vec4<u32>, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
    if co4 * 4u >= p.cout {
        return;
    }
    let bv = vec4<f32>(bias[co4 * 4u], bias[co4 * 4u + 1u], bias[co4 * 4u + 2u], bias[co4 * 4u + 3u]);
    let r0 = a0 + bv;
    let r1 = a1 + bv;
    let r2 = a2 + bv;
    let r3 = a3 + bv;
    let c = co4 * 4u;
    pool4(o, c, m, act4(vec4<f32>(r0.x, r1.x, r2.x, r3.x)));
    pool4(o, c + 1u, m, act4(vec4<f32>(r0.y, r1.y, r2.y, r3.y)));
    pool4(o, c + 2u, m, act4(vec4<f32>(r0.z, r1.z, r2.z, r3.z)));
    pool4(o, c + 3u, m, act4(vec4<f32>(r0.w, r1.w, r2.w, r3.w)));
}

fn act4(r: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(
        activate(r.x, p.act, p.alpha),
        activate(r.y, p.act, p.alpha),
        activate(r.z, p.act, p.alpha),
        activate(r.w, p.act, p.alpha),
    );
}

@compute @workgroup_size(WG_BLOCK)
fn forward_pool_sx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * WG_BLOCK;
    let cout4 = p.cout / 4u;
    let ngc = (cout4 + 1u) / 2u;
    let poh = p.oh / 2u;
    let pwd = p.ow / 2u;
    let mp = inv / ngc;
    if mp >= p.n * poh * pwd {
        return;
    }
    let gc = inv % ngc;
    let co4a = gc * 2u;
    let co4b = min(co4a + 1u, cout4 - 1u);
    let px = mp % pwd;
    let t = mp / pwd;
    let py = t % poh;
    let top = ((t / poh) * p.oh + py * 2u) * p.ow + px * 2u;
    // The window's pixels in row-major order.
    let m = vec4<u32>(top, top + 1u, top + p.ow, top + p.ow + 1u);
    let q0 = out_pix(m.x);
    let q1 = out_pix(m.y);
    let q2 = out_pix(m.z);
    let q3 = out_pix(m.w);
    let r = sx_sums(q0, q1, q2, q3, co4a, co4b);
    let o = mp * p.cout;
    store_pooled(o, co4a, m, r.a0, r.a1, r.a2, r.a3);
    if co4b != co4a {
        store_pooled(o, co4b, m, r.b0, r.b1, r.b2, r.b3);
    }
}

// ---- backward_weights (cout % 4 == 0). Same partial-sum layout as the tiled kernel:
// partial[s][row][cout] with rows tap * cin + c and row K = db, then weights_reduce.

@group(0) @binding(13) var<storage, read_write> partial4: array<vec4<f32>>;

// Output pixel (b, oy, ox) of reduction row m, advanced row by row without division.
struct Walk {
    b: u32,
    oy: u32,
    ox: u32,
}

fn walk_start(m: u32) -> Walk {
    let t = m / p.ow;
    return Walk(t / p.oh, t % p.oh, m % p.ow);
}

fn walk_next(w: ptr<function, Walk>) {
    (*w).ox += 1u;
    if (*w).ox == p.ow {
        (*w).ox = 0u;
        (*w).oy += 1u;
        if (*w).oy == p.oh {
            (*w).oy = 0u;
            (*w).b += 1u;
        }
    }
}

// Stores partial row `row` of split s, column vec4s co4a and (when distinct) co4b.
fn store_partial(s: u32, row: u32, co4a: u32, co4b: u32, va: vec4<f32>, vb: vec4<f32>) {
    let cout4 = p.cout / 4u;
    let R = p.kh * p.kw * p.cin + 1u;
    let base = (s * R + row) * cout4;
    partial4[base + co4a] = va;
    if co4b != co4a {
        partial4[base + co4b] = vb;
    }
}

// Accumulates reduction row (tap (ki, kj), channel c) of backward_weights_k9: x is a scalar,
// 0 when the tap falls in the padding.
fn k9_row(wk: Walk, ki: u32, kj: u32, c: u32, da: vec4<f32>, db_: vec4<f32>, a: ptr<function, vec4<f32>>, b: ptr<function, vec4<f32>>) {
    let iy = i32(wk.oy * p.sh + ki) - i32(p.pad_top);
    let ix = i32(wk.ox * p.sw + kj) - i32(p.pad_left);
    let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
    let xv = select(0.0, x[select(0u, ((wk.b * p.h + u32(iy)) * p.w + u32(ix)) * p.cin + c, ok)], ok);
    *a = fma(vec4<f32>(xv), da, *a);
    *b = fma(vec4<f32>(xv), db_, *b);
}

// cin % 4 != 0 (the first layer: cin = 1): one invocation takes 9 consecutive rows of the partial
// product (row k = tap * cin + c; group g: rows 9 g .. 9 g + 8, clamped; with cin = 1 these are the
// 3x3 taps) x 8 output channels: 9 scalar x loads and two dy vec4 loads per row of n*oh*ow. Group 0
// also sums dy for db.
@compute @workgroup_size(WG_BLOCK)
fn backward_weights_k9(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * WG_BLOCK;
    let cout4 = p.cout / 4u;
    let ngc = (cout4 + 1u) / 2u;
    let K = p.kh * p.kw * p.cin;
    let ntg = (K + 8u) / 9u;
    let per = ntg * ngc;
    let s = inv / per;
    if s >= p.splits {
        return;
    }
    let r = inv % per;
    let t0 = (r / ngc) * 9u;
    let co4a = (r % ngc) * 2u;
    let co4b = min(co4a + 1u, cout4 - 1u);
    let M = p.n * p.oh * p.ow;
    let mb = s * p.chunk;
    let me = min(mb + p.chunk, M);
    var ki: array<u32, 9>;
    var kj: array<u32, 9>;
    var kc: array<u32, 9>;
    for (var j = 0u; j < 9u; j++) {
        let k = min(t0 + j, K - 1u);
        let t = k / p.cin;
        kc[j] = k % p.cin;
        ki[j] = t / p.kw;
        kj[j] = t % p.kw;
    }
    let ki0 = ki[0]; let kj0 = kj[0]; let kc0 = kc[0];
    let ki1 = ki[1]; let kj1 = kj[1]; let kc1 = kc[1];
    let ki2 = ki[2]; let kj2 = kj[2]; let kc2 = kc[2];
    let ki3 = ki[3]; let kj3 = kj[3]; let kc3 = kc[3];
    let ki4 = ki[4]; let kj4 = kj[4]; let kc4 = kc[4];
    let ki5 = ki[5]; let kj5 = kj[5]; let kc5 = kc[5];
    let ki6 = ki[6]; let kj6 = kj[6]; let kc6 = kc[6];
    let ki7 = ki[7]; let kj7 = kj[7]; let kc7 = kc[7];
    let ki8 = ki[8]; let kj8 = kj[8]; let kc8 = kc[8];

    var a0 = vec4<f32>(0.0); var b0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var b4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0); var b5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0); var b6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0); var b7 = vec4<f32>(0.0);
    var a8 = vec4<f32>(0.0); var b8 = vec4<f32>(0.0);
    var sa = vec4<f32>(0.0); var sb = vec4<f32>(0.0);
    var wk = walk_start(mb);
    var dyi = mb * cout4;
    for (var m = mb; m < me; m++) {
        let da = dy4[dyi + co4a];
        let db_ = dy4[dyi + co4b];
        k9_row(wk, ki0, kj0, kc0, da, db_, &a0, &b0);
        k9_row(wk, ki1, kj1, kc1, da, db_, &a1, &b1);
        k9_row(wk, ki2, kj2, kc2, da, db_, &a2, &b2);
        k9_row(wk, ki3, kj3, kc3, da, db_, &a3, &b3);
        k9_row(wk, ki4, kj4, kc4, da, db_, &a4, &b4);
        k9_row(wk, ki5, kj5, kc5, da, db_, &a5, &b5);
        k9_row(wk, ki6, kj6, kc6, da, db_, &a6, &b6);
        k9_row(wk, ki7, kj7, kc7, da, db_, &a7, &b7);
        k9_row(wk, ki8, kj8, kc8, da, db_, &a8, &b8);
        sa += da;
        sb += db_;
        dyi += cout4;
        walk_next(&wk);
    }
    // Row K (= K) is db.
    store_partial(s, t0, co4a, co4b, a0, b0);
    if t0 + 1u < K { store_partial(s, t0 + 1u, co4a, co4b, a1, b1); }
    if t0 + 2u < K { store_partial(s, t0 + 2u, co4a, co4b, a2, b2); }
    if t0 + 3u < K { store_partial(s, t0 + 3u, co4a, co4b, a3, b3); }
    if t0 + 4u < K { store_partial(s, t0 + 4u, co4a, co4b, a4, b4); }
    if t0 + 5u < K { store_partial(s, t0 + 5u, co4a, co4b, a5, b5); }
    if t0 + 6u < K { store_partial(s, t0 + 6u, co4a, co4b, a6, b6); }
    if t0 + 7u < K { store_partial(s, t0 + 7u, co4a, co4b, a7, b7); }
    if t0 + 8u < K { store_partial(s, t0 + 8u, co4a, co4b, a8, b8); }
    if t0 == 0u {
        store_partial(s, K, co4a, co4b, sa, sb);
    }
}

// cin % 4 == 0: one invocation takes split s, one kernel tap x 8 input channels (two vec4s of x,
// the second clamped to the last when cin % 8 == 4) x 8 output channels (rows of the partial
// product), summed over the split's rows of n*oh*ow with two x and two dy vec4 loads per row
// (16 vec4 FMAs). The extra row group after the taps reads x as 1 and produces db.
@compute @workgroup_size(WG_BLOCK)
fn backward_weights_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let inv = gid.x + gid.y * nwg.x * WG_BLOCK;
    let cout4 = p.cout / 4u;
    let ngc = (cout4 + 1u) / 2u;
    let cin4 = p.cin / 4u;
    let cg = (cin4 + 1u) / 2u;
    let ntap = p.kh * p.kw;
    let nrg = ntap * cg + 1u;
    let per = nrg * ngc;
    let s = inv / per;
    if s >= p.splits {
        return;
    }
    let r = inv % per;
    let rg = r / ngc;
    let co4a = (r % ngc) * 2u;
    let co4b = min(co4a + 1u, cout4 - 1u);
    let is_db = rg == ntap * cg;
    let tap = min(rg / cg, ntap - 1u);
    let c4a = (rg % cg) * 2u;
    let c4b = min(c4a + 1u, cin4 - 1u);
    let second = c4b != c4a;
    let c0 = c4a * 4u;
    let ki = tap / p.kw;
    let kj = tap % p.kw;
    let M = p.n * p.oh * p.ow;
    let mb = s * p.chunk;
    let me = min(mb + p.chunk, M);
    let offy = i32(ki) - i32(p.pad_top);
    let offx = i32(kj) - i32(p.pad_left);
    var blk: Block8;
    var wk = walk_start(mb);
    var dyi = mb * cout4;
    for (var m = mb; m < me; m++) {
        let iy = i32(wk.oy * p.sh) + offy;
        let ix = i32(wk.ox * p.sw) + offx;
        let ok = iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        let xi = select(0u, ((wk.b * p.h + u32(iy)) * p.w + u32(ix)) * cin4, ok);
        var xa = select(vec4<f32>(0.0), x4[xi + c4a], ok);
        let xb = select(vec4<f32>(0.0), x4[xi + c4b], ok);
        xa = select(xa, vec4<f32>(1.0), is_db);
        let da = dy4[dyi + co4a];
        let db_ = dy4[dyi + co4b];
        block8_rank1(&blk, xa, xb, da, db_);
        dyi += cout4;
        walk_next(&wk);
    }
    if is_db {
        store_partial(s, ntap * p.cin, co4a, co4b, blk.a0, blk.b0);
        return;
    }
    let row = tap * p.cin + c0;
    store_partial(s, row, co4a, co4b, blk.a0, blk.b0);
    if c0 + 1u < p.cin {
        store_partial(s, row + 1u, co4a, co4b, blk.a1, blk.b1);
    }
    if c0 + 2u < p.cin {
        store_partial(s, row + 2u, co4a, co4b, blk.a2, blk.b2);
    }
    if c0 + 3u < p.cin {
        store_partial(s, row + 3u, co4a, co4b, blk.a3, blk.b3);
    }
    if second && c0 + 4u < p.cin {
        store_partial(s, row + 4u, co4a, co4b, blk.a4, blk.b4);
    }
    if second && c0 + 5u < p.cin {
        store_partial(s, row + 5u, co4a, co4b, blk.a5, blk.b5);
    }
    if second && c0 + 6u < p.cin {
        store_partial(s, row + 6u, co4a, co4b, blk.a6, blk.b6);
    }
    if second && c0 + 7u < p.cin {
        store_partial(s, row + 7u, co4a, co4b, blk.a7, blk.b7);
    }
}

// Element i of a split pass's slabs of `len` elements (bound as `partial`), summed in order.
fn slab_sum(i: u32, len: u32) -> f32 {
    var sum = 0.0;
    for (var s = 0u; s < p.tap_splits; s++) {
        sum += partial[s * len + i];
    }
    return sum;
}

// backward_input_vec's slabs summed into dx, one element per invocation.
@compute @workgroup_size(WG)
fn input_grad_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let len = p.n * p.h * p.w * p.cin;
    if i >= len {
        return;
    }
    dx[i] = slab_sum(i, len);
}

// forward_vec's slabs (bound as `partial`) summed in order into y, with the bias and the
// activation, one element per invocation.
@compute @workgroup_size(WG)
fn forward_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let len = p.n * p.oh * p.ow * p.cout;
    if i >= len {
        return;
    }
    y[i] = activate(slab_sum(i, len) + bias[i % p.cout], p.act, p.alpha);
}
