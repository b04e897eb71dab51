// Elementwise kernels: an activation forward and backward (`activate` in the prelude), and fill
// (used to clear accumulators).

#include "prelude/activate.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    n: u32,
    // fill: the value; activations: their alpha.
    value: f32,
    // The activation's code.
    act: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// y = activation(x)
@compute @workgroup_size(WG)
fn act_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        y[i] = activate(x[i], p.act, p.value);
    }
}

// y = the gradient before the activation, from dy and its output x (so it can be in place).
@compute @workgroup_size(WG)
fn act_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        y[i] = activate_grad(x[i], dy[i], p.act, p.value);
    }
}

// y = value
@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        y[i] = p.value;
    }
}
