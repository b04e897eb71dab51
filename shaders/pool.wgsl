// Max pooling, NHWC, Keras valid padding. x / dx [n,h,w,c]; y / dy / argmax [n,oh,ow,c].
// argmax holds the flat index into x of each window's maximum (the first one, in row-major window
// order, wins ties). The backward is a gather: each dx element visits the windows that cover it and
// sums the dy of those whose argmax is this element, in output order; no atomics, and correct for
// overlapping windows (stride < pool).
// Convention for every 1-D kernel: i = gid.x + gid.y * nwg.x * WG (grids fold into y past 65,535).

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
    // Elements of y (forward) or of dx (backward).
    total: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let ch = i % p.c;
    var t = i / p.c;
    let ox = t % p.ow;
    t = t / p.ow;
    let oy = t % p.oh;
    let b = t / p.oh;
    let first = ((b * p.h + oy * p.sh) * p.w + ox * p.sw) * p.c + ch;
    var best = x[first];
    var best_i = first;
    for (var ki = 0u; ki < p.ph; ki++) {
        let row = first + ki * p.w * p.c;
        for (var kj = 0u; kj < p.pw; kj++) {
            let j = row + kj * p.c;
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

@compute @workgroup_size(256)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.total {
        return;
    }
    let ch = i % p.c;
    var t = i / p.c;
    let ix = t % p.w;
    t = t / p.w;
    let iy = t % p.h;
    let b = t / p.h;
    // Windows oy with oy*sh <= iy < oy*sh + ph, i.e. ceil((iy - ph + 1)/sh) <= oy <= iy/sh.
    var oy_lo = 0u;
    if iy >= p.ph {
        oy_lo = (iy - p.ph) / p.sh + 1u;
    }
    let oy_hi = min(iy / p.sh + 1u, p.oh);
    var ox_lo = 0u;
    if ix >= p.pw {
        ox_lo = (ix - p.pw) / p.sw + 1u;
    }
    let ox_hi = min(ix / p.sw + 1u, p.ow);
    var sum = 0.0;
    for (var oy = oy_lo; oy < oy_hi; oy++) {
        for (var ox = ox_lo; ox < ox_hi; ox++) {
            let o = ((b * p.oh + oy) * p.ow + ox) * p.c + ch;
            if argmax_in[o] == i {
                sum += dy[o];
            }
        }
    }
    dx[i] = sum;
}
