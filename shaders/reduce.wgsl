// Column sums of a row-major [rows, cols] matrix: bias gradients (sum over the batch, and over
// the positions of a convolution's output). One workgroup per column, fixed-order strided partial
// sums then a tree: no atomics, deterministic.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn col_sum(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let col = wid.x;
    let i = lid.x;
    var s = 0.0;
    if col < p.cols {
        for (var r = i; r < p.rows; r += WG) {
            s += x[r * p.cols + col];
        }
    }
    part[i] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if i < k { part[i] += part[i + k]; }
        workgroupBarrier();
    }
    if i == 0u && col < p.cols {
        out[col] = part[0];
    }
}
