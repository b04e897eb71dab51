// Builds a training batch from the dataset's bytes on the GPU: images stay as bytes (4 per u32
// word) and are normalised to [0, 1] here; the epoch's shuffled order is a permutation buffer.
// `images` is either the whole set, indexed through `perm`, or (a streamed set) one chunk of it
// holding the chunk's samples in order, with `perm` their indices in the whole set.
// Rows past step.batch (a short last batch) are zero padding.

#include "prelude/step.wgsl"
#include "prelude/hash.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    sample_len: u32,
    max_batch: u32,
    // gather_augment only: the image shape and the largest transform (src/ops/augment.rs).
    h: u32,
    w: u32,
    c: u32,
    shift: f32,
    rotate: f32,
    scale: f32,
    // 1: `images` and `labels_all` hold a streamed chunk, sample after sample in batch order.
    chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> labels_all: array<u32>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
@group(0) @binding(4) var<storage, read> step: Step;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> labels: array<u32>;


// Byte `index` of the packed images, in [0, 1].
fn unpack(index: u32) -> f32 {
    let word = images[index / 4u];
    return f32((word >> ((index % 4u) * 8u)) & 0xffu) / 255.0;
}

// Where batch row b's sample lies in `images` and `labels_all`.
fn slot(b: u32) -> u32 {
    if p.chunk != 0u {
        return step.offset + b;
    }
    return perm[step.offset + b];
}

// Element j of batch row b (x[i]): rows at or past step.batch are zero padding, written here.
fn padding(i: u32, b: u32, j: u32) -> bool {
    if b < step.batch {
        return false;
    }
    x[i] = 0.0;
    if j == 0u { labels[b] = 0u; }
    return true;
}

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.sample_len * p.max_batch { return; }
    let b = i / p.sample_len;
    let j = i - b * p.sample_len;
    if padding(i, b, j) { return; }
    let s = slot(b);
    x[i] = unpack(s * p.sample_len + j);
    if j == 0u { labels[b] = labels_all[s]; }
}

// 24 bits of the hash as a uniform number in [-1, 1), exact in f32.
fn draw(h: u32) -> f32 {
    return f32(h >> 8u) * (2.0 / 16777216.0) - 1.0;
}

fn pixel(s: u32, xx: f32, yy: f32, ch: u32) -> f32 {
    if xx < 0.0 || yy < 0.0 || xx > f32(p.w - 1u) || yy > f32(p.h - 1u) {
        return 0.0;
    }
    return unpack(s * p.sample_len + (u32(yy) * p.w + u32(xx)) * p.c + ch);
}

// gather with a random affine transform of each image (shift, rotation, zoom about the centre),
// sampled bilinearly: the same hash and arithmetic as gather_augment_ref.
@compute @workgroup_size(WG)
fn gather_augment(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.sample_len * p.max_batch { return; }
    let b = i / p.sample_len;
    let j = i - b * p.sample_len;
    if padding(i, b, j) { return; }
    let s = slot(b);
    // The transform is keyed by the sample's index in the whole set, streamed or not.
    let id = perm[step.offset + b];
    let key = lowbias32(step.seed ^ 0x2545f491u) ^ lowbias32(step.seed_hi);
    var h = lowbias32(lowbias32(key ^ step.t) ^ lowbias32(id + 0x632be5abu));
    h = lowbias32(h + 0x9e3779b9u);
    let d0 = draw(h);
    h = lowbias32(h + 0x9e3779b9u);
    let d1 = draw(h);
    h = lowbias32(h + 0x9e3779b9u);
    let d2 = draw(h);
    h = lowbias32(h + 0x9e3779b9u);
    let d3 = draw(h);
    let q = j / p.c;
    let ch = j - q * p.c;
    let oy = q / p.w;
    let ox = q - oy * p.w;
    let cx = (f32(p.w) - 1.0) * 0.5;
    let cy = (f32(p.h) - 1.0) * 0.5;
    let angle = d2 * p.rotate * (3.14159265358979 / 180.0);
    let zoom = 1.0 + d3 * p.scale;
    let sn = sin(angle);
    let cs = cos(angle);
    let xo = f32(ox) - cx - d0 * p.shift;
    let yo = f32(oy) - cy - d1 * p.shift;
    let sx = (cs * xo + sn * yo) / zoom + cx;
    let sy = (cs * yo - sn * xo) / zoom + cy;
    let x0 = floor(sx);
    let y0 = floor(sy);
    let fx = sx - x0;
    let fy = sy - y0;
    let top = pixel(s, x0, y0, ch) * (1.0 - fx) + pixel(s, x0 + 1.0, y0, ch) * fx;
    let bottom = pixel(s, x0, y0 + 1.0, ch) * (1.0 - fx) + pixel(s, x0 + 1.0, y0 + 1.0, ch) * fx;
    x[i] = top * (1.0 - fy) + bottom * fy;
    if j == 0u { labels[b] = labels_all[s]; }
}
