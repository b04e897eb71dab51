// Optimizer updates over one flat parameter buffer (all layers at once), Keras 3 formulas.
// lr and t come from the per-step record, so a schedule can change lr every step.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    n: u32,
    // SGD: momentum; Adam: beta1; RMSprop: rho
    a: f32,
    // Adam: beta2
    b: f32,
    eps: f32,
    // Keras 3's decoupled weight decay: p loses p * (wd * lr) before the update.
    wd: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: Step;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> s1: array<f32>;
@group(0) @binding(5) var<storage, read_write> s2: array<f32>;

// The parameter after weight decay (untouched when wd is 0, so -0.0 stays -0.0 as on the CPU).
fn decayed(i: u32) -> f32 {
    let w = params[i];
    if p.wd == 0.0 {
        return w;
    }
    return w - w * (p.wd * step.lr);
}

// p -= lr * g
@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        params[i] = decayed(i) - step.lr * grads[i];
    }
}

// v = momentum * v - lr * g; p += v
@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let v = p.a * s1[i] - step.lr * grads[i];
        s1[i] = v;
        params[i] = decayed(i) + v;
    }
}

// alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m += (g - m)(1 - beta1); v += (g² - v)(1 - beta2);
// p -= m * alpha / (sqrt(v) + eps)
@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let t = f32(step.t);
        let alpha = step.lr * sqrt(1.0 - pow(p.b, t)) / (1.0 - pow(p.a, t));
        let g = grads[i];
        let m = s1[i] + (g - s1[i]) * (1.0 - p.a);
        let v = s2[i] + (g * g - s2[i]) * (1.0 - p.b);
        s1[i] = m;
        s2[i] = v;
        params[i] = decayed(i) - (m * alpha) / (sqrt(v) + p.eps);
    }
}

// v = rho * v + (1 - rho) g²; p -= lr * g / sqrt(v + eps)
@compute @workgroup_size(WG)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if i < p.n {
        let g = grads[i];
        let v = p.a * s1[i] + (1.0 - p.a) * (g * g);
        s1[i] = v;
        params[i] = decayed(i) - (step.lr * g) / sqrt(v + p.eps);
    }
}
