//! Softmax, fused softmax + cross-entropy with its gradient, and epoch metrics.
//! Kernel: `shaders/loss.wgsl`; tests: `crates/engine/tests/ops_loss.rs`.

use bytemuck::{Pod, Zeroable};

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::step::StepParams;
use crate::error::{Error, Result};
use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

const SHADER: &str = "loss";

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

fn params(rows: usize, cols: usize) -> Params {
    Params {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
    }
}

fn row_max(row: &[f32]) -> (usize, f32) {
    let mut arg = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[arg] {
            arg = c;
        }
    }
    (arg, row[arg])
}

pub fn softmax_cpu(cols: usize, logits: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(cols) {
        let (_, m) = row_max(row);
        let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
        out.extend(row.iter().map(|v| (v - m).exp() / s));
    }
    out
}

/// Per-row loss, gradient of the mean loss over the `valid` first rows, and predicted class.
pub struct Xent {
    pub row_loss: Vec<f32>,
    pub grad: Vec<f32>,
    pub pred: Vec<u32>,
}

pub fn softmax_xent_cpu(cols: usize, logits: &[f32], labels: &[u32], valid: usize) -> Xent {
    softmax_xent_smoothed_cpu(cols, logits, labels, valid, 0.0)
}

/// `softmax_xent_cpu` against smoothed targets, as Keras' `label_smoothing`: the label's class
/// gets 1 - eps + eps/cols, every other class eps/cols. eps 0 is the plain loss, bit for bit.
pub fn softmax_xent_smoothed_cpu(
    cols: usize,
    logits: &[f32],
    labels: &[u32],
    valid: usize,
    eps: f32,
) -> Xent {
    let rows = logits.len() / cols;
    let off = eps / cols as f32;
    let mut out = Xent {
        row_loss: vec![0.0; rows],
        grad: vec![0.0; rows * cols],
        pred: vec![0; rows],
    };
    for r in 0..rows.min(valid) {
        let row = &logits[r * cols..(r + 1) * cols];
        let (arg, m) = row_max(row);
        let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
        let label = labels[r] as usize;
        let grad = &mut out.grad[r * cols..(r + 1) * cols];
        for (c, (g, &v)) in grad.iter_mut().zip(row).enumerate() {
            let q = (v - m).exp() / s;
            let mut t = if c == label { 1.0 } else { 0.0 };
            if eps != 0.0 {
                t = t * (1.0 - eps) + off;
            }
            *g = (q - t) / valid as f32;
        }
        out.row_loss[r] = s.ln() + m - row[label];
        if eps != 0.0 {
            let z: f32 = row.iter().sum();
            out.row_loss[r] = s.ln() + m - ((1.0 - eps) * row[label] + off * z);
        }
        out.pred[r] = arg as u32;
    }
    out
}

fn check(rows: usize, cols: usize, logits: &GpuTensor) -> Result<()> {
    if rows == 0 || cols < 2 || logits.len < rows * cols {
        return Err(Error::Msg(format!(
            "softmax over [{rows}, {cols}] needs at least 1 row, 2 classes and {} logits (got {})",
            rows * cols,
            logits.len
        )));
    }
    Ok(())
}

pub fn softmax(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    logits: &GpuTensor,
    probs: &GpuTensor,
) -> Result<Dispatch> {
    check(rows, cols, logits)?;
    let p = params(rows, cols);
    ctx.dispatch_1d(
        SHADER,
        "softmax",
        bytemuck::bytes_of(&p),
        &[("logits", logits), ("probs", probs)],
        rows,
    )
}

/// Buffers of the fused loss: `labels` u32 [rows], `grad` [rows, cols], `row_loss` [rows],
/// `row_pred` u32 [rows]; the valid row count is `step.batch`.
pub struct XentBuffers<'a> {
    pub logits: &'a GpuTensor,
    pub labels: &'a GpuTensor,
    pub step: &'a GpuTensor,
    pub grad: &'a GpuTensor,
    pub row_loss: &'a GpuTensor,
    pub row_pred: &'a GpuTensor,
}

impl<'a> XentBuffers<'a> {
    /// The buffers by the names the loss kernels bind them under.
    fn bind(&self) -> [(&'static str, &'a GpuTensor); 6] {
        [
            ("logits", self.logits),
            ("labels", self.labels),
            ("step", self.step),
            ("grad", self.grad),
            ("row_loss", self.row_loss),
            ("row_pred", self.row_pred),
        ]
    }
}

pub fn softmax_xent(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    b: &XentBuffers,
) -> Result<Dispatch> {
    check(rows, cols, b.logits)?;
    let p = params(rows, cols);
    let d = ctx.dispatch_1d(
        SHADER,
        "softmax_xent",
        bytemuck::bytes_of(&p),
        &b.bind(),
        rows,
    )?;
    // Three passes over the row's logits.
    Ok(d.with_work(Work {
        serial: 3 * cols as u64,
        loads: 1,
        flops: (5 * rows * cols) as u64,
        ..Work::default()
    }))
}

/// metrics[0..3] += (sum of the valid rows' losses, correct predictions, valid rows). `metrics`
/// is 4 u32 words: the loss sum as f32 bits, then the two counts as integers (exact past 2^24);
/// [`Metrics`] reads and writes that layout.
pub fn accumulate(
    ctx: &GpuContext,
    rows: usize,
    b: &XentBuffers,
    metrics: &GpuTensor,
) -> Result<Dispatch> {
    let p = params(rows, 0);
    let d = ctx.dispatch(
        SHADER,
        "accumulate",
        bytemuck::bytes_of(&p),
        &[
            ("row_loss_in", b.row_loss),
            ("row_pred_in", b.row_pred),
            ("labels", b.labels),
            ("step", b.step),
            ("metrics", metrics),
        ],
        [1, 1, 1],
    )?;
    let wg = d.cost.workgroup as usize;
    // Each invocation's rows, then the tree.
    Ok(d.with_work(Work {
        serial: (rows.div_ceil(wg) + wg.ilog2() as usize) as u64,
        loads: 2,
        flops: 2 * rows as u64,
        ..Work::default()
    }))
}

/// [`softmax_xent`] and then [`accumulate`] in one dispatch of one workgroup, with the bits of
/// the two: each invocation takes a row of every `WG` and sums the valid ones in `accumulate`'s
/// order.
pub fn softmax_xent_metrics(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    b: &XentBuffers,
    metrics: &GpuTensor,
) -> Result<Dispatch> {
    check(rows, cols, b.logits)?;
    let p = params(rows, cols);
    let mut bind = b.bind().to_vec();
    bind.push(("metrics", metrics));
    let entry = "softmax_xent_metrics";
    let d = ctx.dispatch(SHADER, entry, bytemuck::bytes_of(&p), &bind, [1, 1, 1])?;
    let wg = d.cost.workgroup as usize;
    // Each invocation's rows, three passes over a row's logits each, then the tree.
    let serial = (rows.div_ceil(wg) * 3 * cols + wg.ilog2() as usize) as u64;
    Ok(d.with_work(Work {
        serial,
        loads: 1,
        flops: (5 * rows * cols) as u64,
        ..Work::default()
    }))
}

/// Running sums of a pass: the GPU's `metrics` buffer, and what a pass returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Sum of the per-sample losses (f32 on the GPU, f64 on the CPU backend).
    pub loss: f64,
    /// Correct predictions.
    pub hits: u64,
    /// Samples.
    pub samples: u64,
}

impl Metrics {
    /// The GPU buffer's four words. The GPU counts in u32: a pass of 2^32 samples is refused
    /// before it starts.
    pub fn to_words(self) -> [u32; 4] {
        [
            (self.loss as f32).to_bits(),
            self.hits as u32,
            self.samples as u32,
            0,
        ]
    }

    pub fn from_words(w: &[u32]) -> Self {
        Self {
            loss: f32::from_bits(w[0]) as f64,
            hits: w[1] as u64,
            samples: w[2] as u64,
        }
    }

    pub fn add(&mut self, o: Metrics) {
        self.loss += o.loss;
        self.hits += o.hits;
        self.samples += o.samples;
    }

    pub fn mean_loss(&self) -> f32 {
        (self.loss / self.samples.max(1) as f64) as f32
    }

    pub fn accuracy(&self) -> f32 {
        (self.hits as f64 / self.samples.max(1) as f64) as f32
    }
}

/// Reference of `accumulate`: (loss sum, correct, rows) over the first `valid` rows.
pub fn accumulate_cpu(x: &Xent, labels: &[u32], valid: usize) -> Metrics {
    let n = valid.min(x.row_loss.len());
    let loss: f32 = x.row_loss[..n].iter().sum();
    let hits = (0..n).filter(|&r| x.pred[r] == labels[r]).count();
    Metrics {
        loss: loss as f64,
        hits: hits as u64,
        samples: n as u64,
    }
}

/// The checks of `wgnn check` and the tests: softmax and the fused softmax + cross-entropy, with
/// a short last batch (rows past `valid` are padding and must not count).
pub const CHECK: OpCheck = OpCheck {
    op: "loss",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// (rows, classes, valid rows).
/// The last has more rows than a workgroup's invocations, which then take several each.
const CHECK_CASES: [(usize, usize, usize); 3] = [(3, 10, 3), (130, 7, 97), (600, 10, 517)];

fn checks(env: &Env, out: Sink) -> Result<()> {
    for (rows, cols, valid) in CHECK_CASES {
        check_one(env.ctx, rows, cols, valid, out)?;
    }
    Ok(())
}

fn check_one(ctx: &GpuContext, rows: usize, cols: usize, valid: usize, out: Sink) -> Result<()> {
    let shape = format!("{rows} rows x {cols} classes, {valid} valid");
    let x: Vec<f32> = rand_vec(rows as u64, rows * cols)
        .iter()
        .map(|v| v * 20.0)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 3) % cols) as u32).collect();
    let gx = ctx.tensor(&x, "logits")?;
    let gp = nan_tensor(ctx, rows * cols, "probs")?;
    let d = softmax(ctx, rows, cols, &gx, &gp)?;
    let ms = timed(ctx, &[&d])?;
    out(Output {
        kernel: "loss::softmax".into(),
        shape: shape.clone(),
        got: ctx.read_f32(&gp)?,
        want: softmax_cpu(cols, &x),
        ms,
    });
    let step = StepParams {
        batch: valid as u32,
        t: 1,
        ..Default::default()
    };
    let gstep = ctx.tensor(bytemuck::bytes_of(&step), "step")?;
    let glabels = ctx.tensor(&labels, "labels")?;
    let ggrad = nan_tensor(ctx, rows * cols, "grad")?;
    let gloss = nan_tensor(ctx, rows, "row loss")?;
    let gpred = ctx.alloc(rows, "row pred")?;
    let bufs = XentBuffers {
        logits: &gx,
        labels: &glabels,
        step: &gstep,
        grad: &ggrad,
        row_loss: &gloss,
        row_pred: &gpred,
    };
    let d = softmax_xent(ctx, rows, cols, &bufs)?;
    let ms = timed(ctx, &[&d])?;
    let want = softmax_xent_cpu(cols, &x, &labels, valid);
    let mut got = ctx.read_f32(&ggrad)?;
    got.extend(&ctx.read_f32(&gloss)?[..valid]);
    got.extend(ctx.read_u32(&gpred)?.iter().map(|&p| p as f32));
    let mut w = want.grad.clone();
    w.extend(&want.row_loss[..valid]);
    w.extend(want.pred.iter().map(|&p| p as f32));
    out(Output {
        kernel: "loss::softmax_xent (grad, loss, class)".into(),
        shape: shape.clone(),
        got,
        want: w,
        ms,
    });
    // The metrics of two steps over the same batch, added onto a pass that already holds one.
    let start = Metrics {
        loss: 1.5,
        hits: 3,
        samples: 7,
    };
    let gmetrics = ctx.tensor(&start.to_words(), "metrics")?;
    let a = accumulate(ctx, rows, &bufs, &gmetrics)?;
    let ms = timed(ctx, &[&a, &a])?;
    let got = Metrics::from_words(&ctx.read_u32(&gmetrics)?);
    let mut total = start;
    let step = accumulate_cpu(&want, &labels, valid);
    total.add(step);
    total.add(step);
    let as_values = |m: Metrics| vec![m.loss as f32, m.hits as f32, m.samples as f32];
    out(Output {
        kernel: "loss::accumulate (loss sum, hits, samples)".into(),
        shape: format!("{shape}, twice onto a running sum"),
        got: as_values(got),
        want: as_values(total),
        ms,
    });
    // The two in one dispatch, from fresh outputs and the same running sum.
    for t in [&ggrad, &gloss] {
        ctx.write(t, &vec![f32::NAN; t.len])?;
    }
    ctx.write(&gmetrics, &start.to_words())?;
    let f = softmax_xent_metrics(ctx, rows, cols, &bufs, &gmetrics)?;
    let ms = timed(ctx, &[&f, &f])?;
    let mut got = ctx.read_f32(&ggrad)?;
    got.extend(&ctx.read_f32(&gloss)?[..valid]);
    got.extend(ctx.read_u32(&gpred)?.iter().map(|&p| p as f32));
    got.extend(as_values(Metrics::from_words(&ctx.read_u32(&gmetrics)?)));
    let mut w = want.grad.clone();
    w.extend(&want.row_loss[..valid]);
    w.extend(want.pred.iter().map(|&p| p as f32));
    w.extend(as_values(total));
    out(Output {
        kernel: "loss::softmax_xent_metrics (grad, loss, class, then the sums)".into(),
        shape: format!("{shape}, twice onto a running sum"),
        got,
        want: w,
        ms,
    });
    Ok(())
}
