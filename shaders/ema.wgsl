// The exponential moving average of the weights (Keras' `use_ema`), over the flat parameter
// buffer, and the swap that lets the forward kernels, bound to the parameters, evaluate the average.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    n: u32,
    momentum: f32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: Step;
@group(0) @binding(2) var<storage, read_write> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> average: array<f32>;

// After step t's update: average = m * average + (1 - m) * params, where m is 0 on the first step
// (t = 1), so the average starts at the weights, as Keras' does.
@compute @workgroup_size(WG)
fn ema(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let m = select(p.momentum, 0.0, step.t <= 1u);
        average[i] = m * average[i] + (1.0 - m) * params[i];
    }
}

// Exchanges the weights with their average; run twice, it puts both back.
@compute @workgroup_size(WG)
fn swap(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let w = params[i];
        params[i] = average[i];
        average[i] = w;
    }
}
