// Softmax, fused softmax + cross-entropy (loss per row, gradient, prediction), and the
// deterministic accumulation of epoch metrics. Labels are class indices.

#include "prelude/step.wgsl"
#include "prelude/grid.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> step: Step;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(7) var<storage, read_write> row_pred: array<u32>;
// [loss sum as f32 bits, correct predictions, rows, unused]: counts are integers, exact past 2^24.
@group(0) @binding(8) var<storage, read_write> metrics: array<u32>;
@group(0) @binding(9) var<storage, read> row_loss_in: array<f32>;
@group(0) @binding(10) var<storage, read> row_pred_in: array<u32>;

// Workgroup size of the one-thread-per-row kernels (any size is correct).
override WG_ROW: u32 = 64u;

// One thread per row: probs = softmax(logits).
@compute @workgroup_size(WG_ROW)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG_ROW;
    if r >= p.rows { return; }
    let base = r * p.cols;
    var m = logits[base];
    for (var c = 1u; c < p.cols; c++) { m = max(m, logits[base + c]); }
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) { s += exp(logits[base + c] - m); }
    for (var c = 0u; c < p.cols; c++) { probs[base + c] = exp(logits[base + c] - m) / s; }
}

// Row r's loss, gradient and prediction, written. Rows at or past step.batch are padding: zero
// loss and gradient. grad = (softmax - onehot) / batch, the gradient of the batch-mean loss.
fn xent_row(r: u32) {
    let base = r * p.cols;
    if r >= step.batch {
        for (var c = 0u; c < p.cols; c++) { grad[base + c] = 0.0; }
        row_loss[r] = 0.0;
        row_pred[r] = 0u;
        return;
    }
    var m = logits[base];
    var arg = 0u;
    for (var c = 1u; c < p.cols; c++) {
        let v = logits[base + c];
        if v > m { m = v; arg = c; }
    }
    var s = 0.0;
    for (var c = 0u; c < p.cols; c++) { s += exp(logits[base + c] - m); }
    let label = labels[r];
    let scale = 1.0 / f32(step.batch);
    // Label smoothing (Keras): targets 1 - eps + eps/cols and eps/cols; off when eps is 0.
    let eps = step.smoothing;
    let off = eps / f32(p.cols);
    for (var c = 0u; c < p.cols; c++) {
        let q = exp(logits[base + c] - m) / s;
        var t = select(0.0, 1.0, c == label);
        if eps != 0.0 {
            t = t * (1.0 - eps) + off;
        }
        grad[base + c] = (q - t) * scale;
    }
    row_loss[r] = log(s) + m - logits[base + label];
    if eps != 0.0 {
        var z = 0.0;
        for (var c = 0u; c < p.cols; c++) { z += logits[base + c]; }
        row_loss[r] = log(s) + m - ((1.0 - eps) * logits[base + label] + off * z);
    }
    row_pred[r] = arg;
}

// One thread per row: xent_row.
@compute @workgroup_size(WG_ROW)
fn softmax_xent(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * WG_ROW;
    if r >= p.rows {
        return;
    }
    xent_row(r);
}

var<workgroup> part_loss: array<f32, WG>;
var<workgroup> part_hit: array<u32, WG>;

// One workgroup: metrics[0] += sum of row losses (f32 bits), [1] += correct predictions,
// [2] += rows (u32),
// over the step.batch valid rows. Fixed-order strided sums and a tree: deterministic.
@compute @workgroup_size(WG)
fn accumulate(@builtin(local_invocation_id) lid: vec3<u32>) {
    let i = lid.x;
    let n = min(step.batch, p.rows);
    var l = 0.0;
    var h = 0u;
    for (var r = i; r < n; r += WG) {
        l += row_loss_in[r];
        h += select(0u, 1u, row_pred_in[r] == labels[r]);
    }
    add_metrics(i, l, h, n);
}

// softmax_xent and accumulate in one workgroup: thread i takes rows i, i + WG, ... (all of them,
// padding included) and sums the valid ones' losses and hits in accumulate's order, so the
// metrics get the same bits. One dispatch for the loss instead of two.
@compute @workgroup_size(WG)
fn softmax_xent_metrics(@builtin(local_invocation_id) lid: vec3<u32>) {
    let i = lid.x;
    let n = min(step.batch, p.rows);
    var l = 0.0;
    var h = 0u;
    for (var r = i; r < p.rows; r += WG) {
        xent_row(r);
        if r < n {
            l += row_loss[r];
            h += select(0u, 1u, row_pred[r] == labels[r]);
        }
    }
    add_metrics(i, l, h, n);
}

// The workgroup's partial sums (thread i's l and h) added by a tree into metrics.
fn add_metrics(i: u32, l: f32, h: u32, n: u32) {
    part_loss[i] = l;
    part_hit[i] = h;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if i < s {
            part_loss[i] += part_loss[i + s];
            part_hit[i] += part_hit[i + s];
        }
        workgroupBarrier();
    }
    if i == 0u {
        metrics[0] = bitcast<u32>(bitcast<f32>(metrics[0]) + part_loss[0]);
        metrics[1] += part_hit[0];
        metrics[2] += n;
    }
}
