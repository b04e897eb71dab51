// Builds a training batch from the GPU-resident dataset: images stay as bytes (4 per u32 word)
// and are normalised to [0, 1] here; the epoch's shuffled order is a permutation buffer.
// Rows past step.batch (a short last batch) are zero padding.

struct Params {
    sample_len: u32,
    max_batch: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> labels_all: array<u32>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
@group(0) @binding(4) var<storage, read> step: Step;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> labels: array<u32>;

const WG: u32 = 256u;

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let total = p.sample_len * p.max_batch;
    if i >= total { return; }
    let b = i / p.sample_len;
    let j = i - b * p.sample_len;
    if b >= step.batch {
        x[i] = 0.0;
        if j == 0u { labels[b] = 0u; }
        return;
    }
    let s = perm[step.offset + b];
    let byte_index = s * p.sample_len + j;
    let word = images[byte_index / 4u];
    let v = (word >> ((byte_index % 4u) * 8u)) & 0xffu;
    x[i] = f32(v) / 255.0;
    if j == 0u { labels[b] = labels_all[s]; }
}
