// Included by every shader that binds the per-step record of src/ops/step.rs (`#include`, see
// src/runtime/include.rs), as `var<storage, read> step: Step;`.
struct Step {
    batch: u32,
    t: u32,
    seed: u32,
    offset: u32,
    lr: f32,
    seed_hi: u32,
    smoothing: f32,
    _p2: u32,
}

