//! `wgnn check`: every kernel against its CPU reference on one adapter, for both kernel families,
//! over odd shapes (tile and vector tails, strides, same padding, one channel) and the presets'
//! real layer shapes, then one whole training step GPU-vs-CPU per optimizer. The test suite runs
//! the same cases (`tests/check.rs`), so this module is the one list of them, and the tolerance
//! policy is stated here once.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::graph::{Backend, CpuGraph, GpuGraph, HostData, Plan};
use crate::layers::{
    AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D,
};
use crate::model::{preset, Activation, Layer, Padding, PRESETS};
use crate::ops::augment::{gather_augment_cpu, Augment};
use crate::ops::conv2d::{self as conv, Conv2dShape};
use crate::ops::gemm::{self, GemmShape};
use crate::ops::optim::Optimizer;
use crate::ops::step::StepParams;
use crate::ops::{elementwise, gather, loss, pool, reduce, Variant};
use crate::runtime::{parse_shader, GpuContext, GpuTensor, KernelFamily, SHADERS};
use crate::util::rng::Rng;

/// Tolerance policy for one kernel against its reference: |gpu - ref| <= ATOL + RTOL * |ref|.
/// f32 kernels that sum up to a few thousand products in another order than the reference stay
/// well inside it; anything larger is a bug, not rounding.
pub const ATOL: f32 = 1e-4;
pub const RTOL: f32 = 1e-3;
/// A whole training step compounds every kernel's rounding through the update of every
/// parameter (and a batch-norm division by small variances): a looser bound, still far below
/// what a wrongly carried moment or statistic gives.
pub const STEP_ATOL: f32 = 1e-3;
pub const STEP_RTOL: f32 = 1e-2;

/// One compared output.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    /// `shader::entry` (the entry points the dispatch code chose for this shape and family), or
    /// `training step, OPTIMIZER`.
    pub kernel: String,
    pub family: String,
    pub shape: String,
    pub values: usize,
    pub max_abs_err: f32,
    /// Largest |gpu - ref| / |ref| over the values with |ref| > ATOL.
    pub max_rel_err: f32,
    pub atol: f32,
    pub rtol: f32,
    pub pass: bool,
    /// Wall time of the GPU work (dispatch to results back), in milliseconds.
    pub ms: f64,
    /// Why it failed, in words (the first bad value), or empty.
    pub note: String,
}

/// What to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Presets' shapes at batch 2 instead of their own batch, fewer odd shapes: for tests and a
    /// first look at a new adapter.
    pub quick: bool,
    /// The kernel families to check (both by default).
    pub families: Vec<Variant>,
}

impl Options {
    /// Both families unless `family` names one.
    pub fn new(quick: bool, family: KernelFamily) -> Self {
        let families = match family {
            KernelFamily::Auto => vec![Variant::Tiled, Variant::Cpu],
            KernelFamily::Tiled => vec![Variant::Tiled],
            KernelFamily::CpuAdapter => vec![Variant::Cpu],
        };
        Self { quick, families }
    }
}

/// The rows, and the entry points no case ran.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub entry_points: usize,
    pub not_exercised: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.pass)
    }
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| !r.pass).count()
    }
}

pub fn family_name(v: Variant) -> &'static str {
    match v {
        Variant::Tiled => "tiled",
        Variant::Cpu => "cpu-adapter",
    }
}

/// Compares `got` with `want` under (atol, rtol).
#[allow(clippy::too_many_arguments)]
pub fn compare(
    kernel: &str,
    family: &str,
    shape: &str,
    got: &[f32],
    want: &[f32],
    atol: f32,
    rtol: f32,
    ms: f64,
) -> Row {
    let (mut max_abs, mut max_rel, mut note) = (0f32, 0f32, String::new());
    if got.len() != want.len() {
        note = format!(
            "the GPU gave {} values, the reference {}",
            got.len(),
            want.len()
        );
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let bad = !g.is_finite() || err.is_nan() || err > atol + rtol * w.abs();
        if bad && note.is_empty() {
            note = format!("value {i} is {g}, the reference says {w}");
        }
        if err.is_finite() {
            max_abs = max_abs.max(err);
            if w.abs() > atol {
                max_rel = max_rel.max(err / w.abs());
            }
        } else {
            max_abs = f32::INFINITY;
        }
    }
    Row {
        kernel: kernel.to_string(),
        family: family.to_string(),
        shape: shape.to_string(),
        values: want.len(),
        max_abs_err: max_abs,
        max_rel_err: max_rel,
        atol,
        rtol,
        pass: note.is_empty(),
        ms,
        note,
    }
}

fn rand_vec(seed: u64, n: usize) -> Vec<f32> {
    Rng::new(seed).vec(n, -1.0, 1.0)
}

/// (n, h, w, cin, cout, kernel, strides, same padding).
type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    bool,
);

/// The odd shapes of tests/ops_conv2d.rs: one input channel, channels not a multiple of 4 or of
/// the 64-wide tile, vec4 tails, strides, same padding, 1x1 and non-square kernels.
fn odd_convs(quick: bool) -> Vec<ConvCase> {
    let mut v = vec![
        (1, 7, 9, 1, 1, [3, 3], [1, 1], false),
        (1, 8, 8, 3, 5, [3, 3], [1, 1], false),
        (2, 7, 6, 8, 12, [3, 3], [1, 1], true),
        (2, 9, 8, 4, 8, [3, 3], [2, 2], true),
        (1, 5, 5, 4, 4, [1, 1], [1, 1], false),
        (2, 6, 7, 16, 4, [5, 5], [1, 2], true),
    ];
    if !quick {
        v.extend([
            (2, 11, 10, 3, 70, [3, 3], [1, 1], false),
            (3, 12, 13, 17, 65, [3, 3], [1, 1], false),
            (3, 10, 9, 12, 20, [2, 3], [2, 1], false),
            (4, 28, 28, 1, 32, [3, 3], [1, 1], false),
        ]);
    }
    v
}

/// Odd GEMMs: sizes around the tiles and vec4 widths, each transpose.
fn odd_gemms(quick: bool) -> Vec<GemmShape> {
    let g = |m, n, k, ta, tb| GemmShape {
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
    };
    let mut v = vec![
        g(1, 1, 1, false, false),
        g(3, 5, 7, false, false),
        g(8, 12, 16, false, false),
        g(13, 10, 20, true, false),
        g(9, 17, 4, false, true),
    ];
    if !quick {
        v.extend([
            g(65, 70, 33, false, false),
            g(128, 64, 96, true, false),
            g(130, 66, 129, false, true),
        ]);
    }
    v
}

/// The convolution, pooling and dense shapes of every preset at `batch` (None: each preset's
/// own batch size), once each.
type PresetShapes = (
    Vec<(String, ConvCase)>,
    Vec<(String, [usize; 6])>,
    Vec<(String, GemmShape)>,
);

fn preset_shapes(batch: Option<usize>) -> Result<PresetShapes> {
    let (mut convs, mut pools, mut dense) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for name in PRESETS {
        let spec = preset(name)?;
        let n = batch.unwrap_or(spec.defaults.batch_size);
        // Each layer's input shape as the model's own shape inference gives it.
        for (layer, info) in spec.layers.iter().zip(spec.infer()?) {
            let (h, w, c) = match info.input_shape[..] {
                [h, w, c] => (h, w, c),
                [k] => (1, 1, k),
                _ => continue,
            };
            match layer {
                Layer::Conv2D(l) => {
                    let same = l.padding == Padding::Same;
                    let case = (n, h, w, c, l.filters, l.kernel, l.strides, same);
                    if seen.insert(format!("conv{case:?}")) {
                        convs.push((name.to_string(), case));
                    }
                }
                Layer::MaxPool2D(l) if l.padding == Padding::Valid => {
                    let case = [
                        n,
                        h,
                        w,
                        c,
                        l.pool[0] * 10 + l.pool[1],
                        l.strides[0] * 10 + l.strides[1],
                    ];
                    if seen.insert(format!("pool{case:?}")) {
                        pools.push((name.to_string(), case));
                    }
                }
                Layer::Dense(l) => {
                    let d = GemmShape::dense(n, h * w * c, l.units);
                    for s in [d.forward, d.weights, d.input] {
                        if seen.insert(format!("gemm{s:?}")) {
                            dense.push((name.to_string(), s));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok((convs, pools, dense))
}

fn conv_label(s: &Conv2dShape, same: bool) -> String {
    format!(
        "n{} {}x{}x{} -> {} k{}x{} s{}x{} {}",
        s.n,
        s.h,
        s.w,
        s.cin,
        s.cout,
        s.kh,
        s.kw,
        s.sh,
        s.sw,
        if same { "same" } else { "valid" }
    )
}

fn gemm_label(s: &GemmShape) -> String {
    format!(
        "{}x{}x{}{}{}",
        s.m,
        s.n,
        s.k,
        if s.trans_a { " Aᵀ" } else { "" },
        if s.trans_b { " Bᵀ" } else { "" }
    )
}

/// Runs dispatches and waits, in milliseconds.
fn timed(ctx: &GpuContext, d: &[&crate::runtime::Dispatch]) -> Result<f64> {
    let t0 = Instant::now();
    ctx.run(d)?;
    Ok(t0.elapsed().as_secs_f64() * 1e3)
}

fn nan_tensor(ctx: &GpuContext, n: usize, label: &str) -> Result<GpuTensor> {
    ctx.tensor(&vec![f32::NAN; n], label)
}

fn check_conv(
    ctx: &GpuContext,
    v: Variant,
    c: ConvCase,
    origin: &str,
    seed: u64,
    out: &mut dyn FnMut(Row),
) -> Result<()> {
    let s = Conv2dShape::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7)?;
    let shape = format!("{}{origin}", conv_label(&s, c.7));
    let fam = family_name(v);
    let x = rand_vec(seed, s.x_len());
    let w = rand_vec(seed + 1, s.w_len());
    let b = rand_vec(seed + 2, s.cout);
    let dy = rand_vec(seed + 3, s.y_len());
    let (gx, gw, gb, gdy) = (
        ctx.tensor(&x, "x")?,
        ctx.tensor(&w, "w")?,
        ctx.tensor(&b, "b")?,
        ctx.tensor(&dy, "dy")?,
    );
    // Outputs start as NaN, so that an element a kernel misses cannot pass.
    let gy = nan_tensor(ctx, s.y_len(), "y")?;
    let f = conv::forward_with(ctx, v, &s, &gx, &gw, &gb, &gy, true)?;
    let ms = timed(ctx, &[&f])?;
    let want: Vec<f32> = conv::forward_ref(&s, &x, &w, &b, true);
    out(compare(
        &format!("{} + ReLU", f.name),
        fam,
        &shape,
        &ctx.read_f32(&gy)?,
        &want,
        ATOL,
        RTOL,
        ms,
    ));
    let gdx = nan_tensor(ctx, s.x_len(), "dx")?;
    let bi = conv::backward_input_with(ctx, v, &s, &gw, &gdy, &gdx)?;
    let ms = timed(ctx, &[&bi])?;
    out(compare(
        &bi.name,
        fam,
        &shape,
        &ctx.read_f32(&gdx)?,
        &conv::backward_input_ref(&s, &w, &dy),
        ATOL,
        RTOL,
        ms,
    ));
    let gdw = nan_tensor(ctx, s.w_len(), "dw")?;
    let gdb = nan_tensor(ctx, s.cout, "db")?;
    let bw = conv::backward_weights_with(ctx, v, &s, &gx, &gdy, &gdw, &gdb)?;
    let ms = timed(ctx, &bw.iter().collect::<Vec<_>>())?;
    let (dw, db) = conv::backward_weights_ref(&s, &x, &dy);
    let mut got = ctx.read_f32(&gdw)?;
    got.extend(ctx.read_f32(&gdb)?);
    let want: Vec<f32> = dw.into_iter().chain(db).collect();
    out(compare(
        &bw.iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        fam,
        &shape,
        &got,
        &want,
        ATOL,
        RTOL,
        ms,
    ));
    Ok(())
}

fn check_gemm(
    ctx: &GpuContext,
    v: Variant,
    s: &GemmShape,
    origin: &str,
    seed: u64,
    out: &mut dyn FnMut(Row),
) -> Result<()> {
    let fam = family_name(v);
    let shape = format!("{}{origin}", gemm_label(s));
    let a = rand_vec(seed, s.a_len());
    let b = rand_vec(seed + 1, s.b_len());
    let bias = rand_vec(seed + 2, s.n);
    let (ga, gb, gbias) = (
        ctx.tensor(&a, "a")?,
        ctx.tensor(&b, "b")?,
        ctx.tensor(&bias, "bias")?,
    );
    for (with_bias, relu) in [(false, false), (true, true)] {
        let gc = nan_tensor(ctx, s.c_len(), "c")?;
        let d = gemm::matmul_with(ctx, v, s, &ga, &gb, with_bias.then_some(&gbias), &gc, relu)?;
        let ms = timed(ctx, &[&d])?;
        let want = gemm::matmul_ref(s, &a, &b, with_bias.then_some(&bias[..]), relu);
        let what = if with_bias {
            format!("{} (+ ReLU)", d.name)
        } else {
            d.name.clone()
        };
        out(compare(
            &what,
            fam,
            &shape,
            &ctx.read_f32(&gc)?,
            &want,
            ATOL,
            RTOL,
            ms,
        ));
    }
    Ok(())
}

fn check_pool(
    ctx: &GpuContext,
    case: [usize; 6],
    origin: &str,
    seed: u64,
    out: &mut dyn FnMut(Row),
) -> Result<()> {
    let [n, h, w, c, p, st] = case;
    let s = pool::PoolShape::new(n, h, w, c, [p / 10, p % 10], [st / 10, st % 10])?;
    let shape = format!(
        "n{n} {h}x{w}x{c} pool {}x{} s{}x{}{origin}",
        s.ph, s.pw, s.sh, s.sw
    );
    let x = rand_vec(seed, s.x_len());
    let dy = rand_vec(seed + 1, s.y_len());
    let (gx, gdy) = (ctx.tensor(&x, "x")?, ctx.tensor(&dy, "dy")?);
    let gy = nan_tensor(ctx, s.y_len(), "y")?;
    let garg = ctx.alloc(s.y_len(), "argmax")?;
    let gdx = nan_tensor(ctx, s.x_len(), "dx")?;
    let f = pool::forward(ctx, &s, &gx, &gy, &garg)?;
    let ms = timed(ctx, &[&f])?;
    let (want, arg) = pool::forward_ref(&s, &x);
    out(compare(
        &f.name,
        "-",
        &shape,
        &ctx.read_f32(&gy)?,
        &want,
        ATOL,
        RTOL,
        ms,
    ));
    let b = pool::backward(ctx, &s, &gdy, &garg, &gdx)?;
    let ms = timed(ctx, &[&b])?;
    out(compare(
        &b.name,
        "-",
        &shape,
        &ctx.read_f32(&gdx)?,
        &pool::backward_ref(&s, &dy, &arg),
        ATOL,
        RTOL,
        ms,
    ));
    Ok(())
}

fn check_small_ops(ctx: &GpuContext, out: &mut dyn FnMut(Row)) -> Result<()> {
    // Softmax and the fused softmax + cross-entropy, with a short last batch (rows past `valid`
    // are padding and must not count).
    for &(rows, cols, valid) in &[(3usize, 10usize, 3usize), (130, 7, 97)] {
        let shape = format!("{rows} rows x {cols} classes, {valid} valid");
        let x: Vec<f32> = rand_vec(rows as u64, rows * cols)
            .iter()
            .map(|v| v * 20.0)
            .collect();
        let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 3) % cols) as u32).collect();
        let gx = ctx.tensor(&x, "logits")?;
        let gp = nan_tensor(ctx, rows * cols, "probs")?;
        let d = loss::softmax(ctx, rows, cols, &gx, &gp)?;
        let ms = timed(ctx, &[&d])?;
        out(compare(
            "loss::softmax",
            "-",
            &shape,
            &ctx.read_f32(&gp)?,
            &loss::softmax_cpu(cols, &x),
            ATOL,
            RTOL,
            ms,
        ));
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
        let bufs = loss::XentBuffers {
            logits: &gx,
            labels: &glabels,
            step: &gstep,
            grad: &ggrad,
            row_loss: &gloss,
            row_pred: &gpred,
        };
        let d = loss::softmax_xent(ctx, rows, cols, &bufs)?;
        let ms = timed(ctx, &[&d])?;
        let want = loss::softmax_xent_cpu(cols, &x, &labels, valid);
        let mut got = ctx.read_f32(&ggrad)?;
        got.extend(&ctx.read_f32(&gloss)?[..valid]);
        got.extend(ctx.read_u32(&gpred)?.iter().map(|&p| p as f32));
        let mut w = want.grad.clone();
        w.extend(&want.row_loss[..valid]);
        w.extend(want.pred.iter().map(|&p| p as f32));
        out(compare(
            "loss::softmax_xent (grad, loss, class)",
            "-",
            &shape,
            &got,
            &w,
            ATOL,
            RTOL,
            ms,
        ));
    }
    // The batch gather from the dataset bytes, plain and with random affine transforms (a short
    // batch at an offset into the permutation; padding rows must be zero).
    for &(h, w, c, seed, t, spec) in &[
        (28usize, 28usize, 1usize, 42u64, 1u32, ""),
        (28, 28, 1, 42, 1, "shift=2,rotate=10,scale=0.1"),
        (7, 5, 3, 7 + (1 << 40), 9, "shift=1.5,rotate=30,scale=0.2"),
    ] {
        let (n, max_batch, batch) = (20usize, 8usize, 6usize);
        let len = h * w * c;
        let images: Vec<u8> = (0..n * len).map(|i| (i * 73 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let perm: Vec<u32> = (0..n as u32).rev().collect();
        let (lo, hi) = StepParams::seed_words(seed);
        let step = StepParams {
            batch: batch as u32,
            t,
            seed: lo,
            seed_hi: hi,
            offset: 4,
            ..Default::default()
        };
        let (gi, gl, gp, gs) = (
            ctx.tensor(&gather::pack_bytes(&images), "images")?,
            ctx.tensor(&labels32, "labels_all")?,
            ctx.tensor(&perm, "perm")?,
            ctx.tensor(bytemuck::bytes_of(&step), "step")?,
        );
        let gx = nan_tensor(ctx, len * max_batch, "x")?;
        let gy = ctx.alloc(max_batch, "labels")?;
        let bufs = gather::GatherBuffers {
            images: &gi,
            labels_all: &gl,
            perm: &gp,
            step: &gs,
            x: &gx,
            labels: &gy,
        };
        let (d, (wx, wl), what) = if spec.is_empty() {
            (
                gather::gather(ctx, len, max_batch, &bufs)?,
                gather::gather_cpu(&images, &labels, len, &perm, 4, batch, max_batch),
                "gather::gather".to_string(),
            )
        } else {
            let a: Augment = spec.parse()?;
            (
                gather::gather_augment(ctx, [h, w, c], max_batch, &a, &bufs)?,
                gather_augment_cpu(
                    &images,
                    &labels,
                    [h, w, c],
                    &perm,
                    4,
                    batch,
                    max_batch,
                    seed,
                    t,
                    &a,
                ),
                format!("gather::gather_augment {spec}"),
            )
        };
        let ms = timed(ctx, &[&d])?;
        let mut got = ctx.read_f32(&gx)?;
        got.extend(ctx.read_u32(&gy)?.iter().map(|&l| l as f32));
        let mut want = wx;
        want.extend(wl.iter().map(|&l| l as f32));
        out(compare(
            &what,
            "-",
            &format!("{batch} of {max_batch} rows of {h}x{w}x{c}"),
            &got,
            &want,
            ATOL,
            RTOL,
            ms,
        ));
    }
    // ReLU forward and backward; a column sum (the bias gradient of a dense layer).
    for &n in &[1usize, 1000, 70_001] {
        let x = rand_vec(n as u64, n);
        let dy = rand_vec(n as u64 + 1, n);
        let (gx, gdy) = (ctx.tensor(&x, "x")?, ctx.tensor(&dy, "dy")?);
        let gy = nan_tensor(ctx, n, "y")?;
        let gdx = nan_tensor(ctx, n, "dx")?;
        let gfill = nan_tensor(ctx, n, "filled")?;
        let d = elementwise::fill(ctx, &gfill, 0.25)?;
        let ms = timed(ctx, &[&d])?;
        out(compare(
            "elementwise::fill",
            "-",
            &format!("{n} values"),
            &ctx.read_f32(&gfill)?,
            &vec![0.25; n],
            ATOL,
            RTOL,
            ms,
        ));
        let f = elementwise::relu_forward(ctx, &gx, &gy)?;
        let b = elementwise::relu_backward(ctx, &gy, &gdy, &gdx)?;
        let ms = timed(ctx, &[&f, &b])?;
        let y = elementwise::relu_forward_ref(&x);
        let mut got = ctx.read_f32(&gy)?;
        got.extend(ctx.read_f32(&gdx)?);
        let mut want = y.clone();
        want.extend(elementwise::relu_backward_ref(&y, &dy));
        out(compare(
            "elementwise::relu_forward + relu_backward",
            "-",
            &format!("{n} values"),
            &got,
            &want,
            ATOL,
            RTOL,
            ms,
        ));
    }
    for &(rows, cols) in &[(1usize, 1usize), (130, 10), (1000, 33)] {
        let x = rand_vec(rows as u64, rows * cols);
        let gx = ctx.tensor(&x, "x")?;
        let go = nan_tensor(ctx, cols, "out")?;
        let d = reduce::col_sum(ctx, rows, cols, &gx, &go)?;
        let ms = timed(ctx, &[&d])?;
        out(compare(
            "reduce::col_sum",
            "-",
            &format!("{rows} x {cols}"),
            &ctx.read_f32(&go)?,
            &reduce::col_sum_cpu(rows, cols, &x),
            ATOL,
            RTOL,
            ms,
        ));
    }
    Ok(())
}

/// Every layer kind, on 12x12x1 inputs, 5 classes (with [`every_other_layer`], the models the
/// whole-step checks and tests/graph_step.rs train).
pub fn every_layer() -> Vec<Layer> {
    vec![
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [3, 3],
            strides: [1, 1],
            padding: Padding::Same,
            activation: Activation::Relu,
        }),
        Layer::BatchNorm(BatchNorm {
            momentum: 0.99,
            epsilon: 1e-3,
        }),
        Layer::MaxPool2D(MaxPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        }),
        Layer::Conv2D(Conv2D {
            filters: 6,
            kernel: [3, 3],
            strides: [2, 2],
            padding: Padding::Valid,
            activation: Activation::Linear,
        }),
        Layer::Activation(Activation::Relu),
        Layer::Dropout(Dropout { rate: 0.25 }),
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 16,
            activation: Activation::Relu,
        }),
        Layer::BatchNorm(BatchNorm {
            momentum: 0.9,
            epsilon: 1e-3,
        }),
        Layer::Dropout(Dropout { rate: 0.5 }),
        Layer::Dense(Dense {
            units: 5,
            activation: Activation::Softmax,
        }),
    ]
}

/// The kinds `every_layer` leaves out, with every activation, on 12x12x1 inputs, 5 classes: same
/// padded max and average pooling, and one of the global poolings.
pub fn every_other_layer(global_max: bool) -> Vec<Layer> {
    let conv = |filters, kernel, padding, activation| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: [kernel, kernel],
            strides: [1, 1],
            padding,
            activation,
        })
    };
    vec![
        conv(4, 3, Padding::Same, Activation::Tanh),
        Layer::MaxPool2D(MaxPool2D {
            pool: [3, 3],
            strides: [2, 2],
            padding: Padding::Same,
        }),
        conv(6, 3, Padding::Valid, Activation::Elu(1.0)),
        Layer::AvgPool2D(AvgPool2D {
            pool: [2, 2],
            strides: [1, 1],
            padding: Padding::Same,
        }),
        Layer::Activation(Activation::Sigmoid),
        conv(6, 1, Padding::Valid, Activation::LeakyRelu(0.1)),
        Layer::AvgPool2D(AvgPool2D {
            pool: [2, 2],
            strides: [2, 2],
            padding: Padding::Valid,
        }),
        if global_max {
            Layer::GlobalMaxPool2D(GlobalMaxPool2D)
        } else {
            Layer::GlobalAvgPool2D(GlobalAvgPool2D)
        },
        Layer::flatten(),
        Layer::Dense(Dense {
            units: 16,
            activation: Activation::Sigmoid,
        }),
        Layer::Activation(Activation::LeakyRelu(0.3)),
        Layer::Dense(Dense {
            units: 12,
            activation: Activation::Tanh,
        }),
        Layer::Activation(Activation::Elu(0.5)),
        Layer::Activation(Activation::Tanh),
        Layer::Dense(Dense {
            units: 5,
            activation: Activation::Softmax,
        }),
    ]
}

/// Two training steps of the test suite's models (every layer kind between them, 12x12x1 inputs),
/// GPU graph against CPU graph (same plan, init and dropout masks), for each optimizer: the
/// loss, parameters and batch-norm statistics.
fn check_steps(ctx: &mut GpuContext, v: Variant, out: &mut dyn FnMut(Row)) -> Result<()> {
    let saved = ctx.family;
    ctx.family = match v {
        Variant::Tiled => KernelFamily::Tiled,
        Variant::Cpu => KernelFamily::CpuAdapter,
    };
    let r = steps(ctx, v, out);
    ctx.family = saved;
    r
}

fn steps(ctx: &GpuContext, v: Variant, out: &mut dyn FnMut(Row)) -> Result<()> {
    let mut rng = Rng::new(11);
    let (n, len) = (40, 144);
    let images: Vec<u8> = (0..n * len).map(|_| rng.below(256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.below(5) as u8).collect();
    let host = || HostData {
        images: &images,
        labels: &labels,
        sample_len: len,
    };
    // Two steps, so that momentum and the moments are carried from one step to the next.
    let order: Vec<u32> = vec![3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 2, 0, 11, 22, 33];
    let models = [
        ("every layer kind", every_layer()),
        ("other kinds, global max pool", every_other_layer(true)),
        (
            "the other layer kinds, global average",
            every_other_layer(false),
        ),
    ];
    for (model, layers) in &models {
        for (name, opt) in [
            ("sgd", Optimizer::sgd(0.05)),
            (
                "sgd, momentum 0.9",
                Optimizer::Sgd {
                    lr: 0.05,
                    momentum: 0.9,
                    weight_decay: 0.0,
                },
            ),
            ("adam", Optimizer::adam(0.001)),
            ("rmsprop", Optimizer::rmsprop(0.001)),
        ] {
            let plan = Plan::new([12, 12, 1], layers, 8)?;
            let mut g = GpuGraph::new(ctx, plan.clone(), opt, 3)?;
            let mut c = CpuGraph::new(plan, opt, 3)?;
            g.load(0, host())?;
            c.load(0, host())?;
            let t0 = Instant::now();
            let rg = g.train_at(0, &order, opt.lr())?;
            let (gp, gs) = g.params()?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let rc = c.train_at(0, &order, opt.lr())?;
            let (cp, cs) = c.params()?;
            let got: Vec<f32> = std::iter::once(rg.loss)
                .chain(gp.into_iter().flatten())
                .chain(gs.into_iter().flatten())
                .collect();
            let want: Vec<f32> = std::iter::once(rc.loss)
                .chain(cp.into_iter().flatten())
                .chain(cs.into_iter().flatten())
                .collect();
            out(compare(
                &format!("training step, {name}"),
                family_name(v),
                &format!("{model}, 2 steps of 8"),
                &got,
                &want,
                STEP_ATOL,
                STEP_RTOL,
                ms,
            ));
        }
    }
    Ok(())
}

/// Every `shader::entry` compiled into the binary.
pub fn entry_points() -> Vec<String> {
    let mut v = Vec::new();
    for name in SHADERS {
        if let Ok(p) = parse_shader(name) {
            v.extend(
                p.module
                    .entry_points
                    .iter()
                    .map(|e| format!("{name}::{}", e.name)),
            );
        }
    }
    v
}

/// Runs every case on `ctx`, calling `out` with each row as it is done (so a slow adapter shows
/// progress). An error (a kernel that could not be built or run) stops the check.
pub fn run(ctx: &mut GpuContext, opts: &Options, out: &mut dyn FnMut(&Row)) -> Result<Report> {
    let mut rows = Vec::new();
    let mut emit = |r: Row| {
        out(&r);
        rows.push(r);
    };
    let batch = opts.quick.then_some(2);
    let (pconvs, ppools, pdense) = preset_shapes(batch)?;
    for &v in &opts.families {
        for (i, c) in odd_convs(opts.quick).into_iter().enumerate() {
            check_conv(ctx, v, c, "", 100 + i as u64, &mut emit)?;
        }
        for (i, (name, c)) in pconvs.iter().enumerate() {
            check_conv(ctx, v, *c, &format!(" ({name})"), 200 + i as u64, &mut emit)?;
        }
        for (i, s) in odd_gemms(opts.quick).iter().enumerate() {
            check_gemm(ctx, v, s, "", 300 + i as u64, &mut emit)?;
        }
        for (i, (name, s)) in pdense.iter().enumerate() {
            check_gemm(ctx, v, s, &format!(" ({name})"), 400 + i as u64, &mut emit)?;
        }
    }
    check_pool(ctx, [2, 7, 9, 3, 22, 22], "", 500, &mut emit)?;
    check_pool(ctx, [1, 9, 9, 2, 33, 22], "", 501, &mut emit)?;
    for (i, (name, c)) in ppools.iter().enumerate() {
        check_pool(ctx, *c, &format!(" ({name})"), 510 + i as u64, &mut emit)?;
    }
    check_small_ops(ctx, &mut emit)?;
    for &v in &opts.families {
        check_steps(ctx, v, &mut emit)?;
    }
    ctx.check()?;
    let all = entry_points();
    let used: BTreeSet<String> = ctx
        .kernels
        .lock()
        .map_err(|_| Error::Gpu("kernel cache lock poisoned".into()))?
        .keys()
        .map(|(s, e, _)| format!("{s}::{e}"))
        .collect();
    let not_exercised = all.iter().filter(|e| !used.contains(*e)).cloned().collect();
    Ok(Report {
        rows,
        entry_points: all.len(),
        not_exercised,
    })
}
