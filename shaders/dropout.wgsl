// Inverted dropout (Keras): keep each element with probability 1 - rate and scale it by
// 1 / (1 - rate). The keep decision is a counter-based hash of (64-bit seed, t, layer, i) in u32
// arithmetic only, identical to `src/ops/dropout.rs`, so every device and the CPU draw the same mask.

#include "prelude/step.wgsl"
#include "prelude/hash.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    n: u32,
    // keep iff hash >= threshold (threshold = rate * 2^32, computed on the host)
    threshold: u32,
    scale: f32,
    layer: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> mask_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> mask: array<f32>;

// The high seed word enters through lowbias32(seed_hi), which is 0 for seeds below 2^32.
fn stream_key(seed: u32, seed_hi: u32, t: u32, layer: u32) -> u32 {
    let k = lowbias32(seed ^ 0x9e3779b9u) ^ lowbias32(seed_hi);
    let k2 = lowbias32(k ^ t);
    return lowbias32(k2 ^ (layer * 0x85ebca6bu));
}

fn element_hash(key: u32, i: u32) -> u32 {
    return lowbias32(lowbias32(i ^ key) + lowbias32(key + 0x68e31da4u));
}

// y = x * mask, mask = scale where kept, else 0.
@compute @workgroup_size(WG)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let key = stream_key(step.seed, step.seed_hi, step.t, p.layer);
        let keep = element_hash(key, i) >= p.threshold;
        let m = select(0.0, p.scale, keep);
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

// dx = dy * mask
@compute @workgroup_size(WG)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        y[i] = dy[i] * mask_in[i];
    }
}
