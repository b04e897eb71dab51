//! Dense matrix product C = op(A)·op(B) (+ bias) (then ReLU), row-major. Kernels:
//! `shaders/gemm.wgsl`; tests: `crates/engine/tests/ops_gemm.rs`.
//!
//! A dense layer uses it three ways: forward y = x·W + b (x [N,in], W [in,out]); input gradient
//! dx = dy·Wᵀ (`trans_b`); weight gradient dW = xᵀ·dy (`trans_a`, k = batch).

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::elementwise::Act;
use super::reduce;
use crate::bail;
use crate::error::Result;
use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

pub use super::{Threads, Variant};

const SHADER: &str = "gemm";

/// C is [m,n]. A is [m,k] row-major, or [k,m] if `trans_a`; B is [k,n], or [n,k] if `trans_b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// The three products of a dense layer y = x·W, x [batch, inputs], W [inputs, units].
pub struct DenseGemms {
    /// y = x·W
    pub forward: GemmShape,
    /// dW = xᵀ·dy
    pub weights: GemmShape,
    /// dx = dy·Wᵀ
    pub input: GemmShape,
}

impl GemmShape {
    pub fn dense(batch: usize, inputs: usize, units: usize) -> DenseGemms {
        let g = |m, n, k, trans_a, trans_b| GemmShape {
            m,
            n,
            k,
            trans_a,
            trans_b,
        };
        DenseGemms {
            forward: g(batch, units, inputs, false, false),
            weights: g(inputs, units, batch, true, false),
            input: g(batch, inputs, units, false, true),
        }
    }

    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Result<Self> {
        let s = Self {
            m,
            n,
            k,
            trans_a,
            trans_b,
        };
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 {
            bail!("gemm: zero size in m={} n={} k={}", self.m, self.n, self.k);
        }
        for (what, a, b) in [
            ("m*k", self.m, self.k),
            ("k*n", self.k, self.n),
            ("m*n", self.m, self.n),
        ] {
            let v = a as u128 * b as u128;
            if v > u32::MAX as u128 {
                bail!("gemm: {what} = {a}x{b} = {v} elements does not fit 32-bit indexing (at most {})", u32::MAX);
            }
        }
        Ok(())
    }

    pub fn a_len(&self) -> usize {
        self.m * self.k
    }
    pub fn b_len(&self) -> usize {
        self.k * self.n
    }
    pub fn c_len(&self) -> usize {
        self.m * self.n
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,
    trans_b: u32,
    act: u32,
    /// CPU variant: whether op(A) / op(B) are read as vec4s (see `vec_ok`).
    a_vec: u32,
    b_vec: u32,
    alpha: f32,
    /// The thin GEMM's splits of k, the steps of 4 along k each takes, and whether the bias is
    /// added.
    splits: u32,
    kq_split: u32,
    has_bias: u32,
    /// The thin GEMM: 1 adds a row of ones to op(A), whose products go to `db`.
    ones_row: u32,
    _pad: [u32; 3],
}

/// `src` is [rows, cols] row-major; returns [cols, rows].
fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    const B: usize = 32;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
    out
}

/// Panics unless `a`, `b` and `bias` have the lengths the shape wants.
fn assert_operands(s: &GemmShape, a: &[f32], b: &[f32], bias: Option<&[f32]>) {
    let (m, n, k) = (s.m, s.n, s.k);
    let check = |what: &str, len: usize, want: usize| {
        assert_eq!(
            len, want,
            "matmul_ref: {what} has {len} elements, shape wants {want}"
        );
    };
    check("A", a.len(), m * k);
    check("B", b.len(), k * n);
    if let Some(bias) = bias {
        check("bias", bias.len(), n);
    }
}

/// Rows of C from row-major A [m,k] and B [k,n], starting at row `r0`: a KB×NB block of B stays
/// in cache while every row of the task runs over it, and the inner loop is a contiguous axpy.
fn blocked_rows(a: &[f32], b: &[f32], (n, k): (usize, usize), r0: usize, c: &mut [f32]) {
    const KB: usize = 128; // k per block
    const NB: usize = 256; // columns per block
    let rows = c.len() / n;
    for k0 in (0..k).step_by(KB) {
        let k1 = (k0 + KB).min(k);
        for n0 in (0..n).step_by(NB) {
            let n1 = (n0 + NB).min(n);
            for i in 0..rows {
                let arow = &a[(r0 + i) * k..(r0 + i + 1) * k];
                let crow = &mut c[i * n + n0..i * n + n1];
                for kk in k0..k1 {
                    let av = arow[kk];
                    let brow = &b[kk * n + n0..kk * n + n1];
                    for (cv, &bv) in crow.iter_mut().zip(brow) {
                        *cv += av * bv;
                    }
                }
            }
        }
    }
}

/// CPU reference (and CPU backend): cache-blocked, parallel over blocks of output rows.
/// Panics if the slices do not match the shape (the GPU entry point returns an error instead).
pub fn matmul_ref(
    s: &GemmShape,
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    assert_operands(s, a, b, bias);
    let (m, n, k) = (s.m, s.n, s.k);
    let mut c = vec![0f32; m * n];
    if m == 0 || n == 0 {
        return c;
    }
    // Bring both operands to plain row-major A [m,k], B [k,n].
    let at;
    let a_rm: &[f32] = if s.trans_a {
        at = transpose(a, k, m);
        &at
    } else {
        a
    };
    let bt;
    let b_rm: &[f32] = if s.trans_b {
        bt = transpose(b, n, k);
        &bt
    } else {
        b
    };
    const RB: usize = 16; // rows of C per task
    c.par_chunks_mut(RB * n)
        .enumerate()
        .for_each(|(blk, cblk)| {
            if let Some(bias) = bias {
                for crow in cblk.chunks_mut(n) {
                    crow.copy_from_slice(bias);
                }
            }
            blocked_rows(a_rm, b_rm, (n, k), blk * RB, cblk);
            if relu {
                for v in cblk.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        });
    c
}

/// C = act(op(A)·op(B) (+ bias[n])) (`true` is ReLU). Tensor lengths must equal the shape's:
/// a = m*k, b = k*n, c = m*n, bias = n. `c` must not alias `a`, `b` or `bias`.
pub fn matmul(
    ctx: &GpuContext,
    s: &GemmShape,
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    c: &GpuTensor,
    act: impl Into<Act>,
) -> Result<Vec<Dispatch>> {
    matmul_with(ctx, Variant::for_ctx(ctx), s, a, b, bias, c, act)
}

/// Whether the CPU variant reads op(A) and op(B) as vec4s: k in steps of 4, each operand along its
/// contiguous axis (A: k, or m when `trans_a`; B: n unless `trans_b`). Otherwise one scalar at a
/// time.
fn vec_ok(s: &GemmShape) -> (bool, bool) {
    let k4 = s.k.is_multiple_of(4);
    (
        k4 && (!s.trans_a || s.m.is_multiple_of(4)),
        k4 && (s.trans_b || s.n.is_multiple_of(4)),
    )
}

/// Rows of C per invocation of the CPU variant (8 columns each).
const VEC_ROWS: usize = 8;

/// [`matmul`] with the kernel family chosen by the caller.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    ctx: &GpuContext,
    variant: Variant,
    s: &GemmShape,
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    c: &GpuTensor,
    act: impl Into<Act>,
) -> Result<Vec<Dispatch>> {
    let threads = Threads::for_ctx(ctx);
    matmul_by(ctx, (variant, threads), s, [a, b], bias, c, act.into())
}

/// [`matmul`] with the kernel family and the spread of its work chosen by the caller (`wgnn
/// check` runs both spreads on every adapter): with [`Threads::Many`] a blocked GEMM of few
/// blocks runs thin.
pub fn matmul_by(
    ctx: &GpuContext,
    (variant, threads): (Variant, Threads),
    s: &GemmShape,
    [a, b]: [&GpuTensor; 2],
    bias: Option<&GpuTensor>,
    c: &GpuTensor,
    act: Act,
) -> Result<Vec<Dispatch>> {
    check_operands(s, [a, b, c], bias)?;
    let p = params(s, act, bias.is_some());
    if runs_thin((variant, threads), s) {
        return thin(ctx, s, &p, [a, b, c], (bias, None));
    }
    kernels(variant, s).matmul(ctx, s, &p, [a, b, c], bias)
}

/// The parameter block of `s` with activation `act`, whole (one split) and without the row of
/// ones.
fn params(s: &GemmShape, act: Act, has_bias: bool) -> Params {
    Params {
        m: s.m as u32,
        n: s.n as u32,
        k: s.k as u32,
        trans_a: s.trans_a as u32,
        trans_b: s.trans_b as u32,
        act: act.code(),
        a_vec: vec_ok(s).0 as u32,
        b_vec: vec_ok(s).1 as u32,
        alpha: act.alpha(),
        splits: 1,
        kq_split: 0,
        has_bias: u32::from(has_bias),
        ones_row: 0,
        _pad: [0; 3],
    }
}

/// Errors unless the tensors hold what shape `s` needs.
fn check_operands(
    s: &GemmShape,
    [a, b, c]: [&GpuTensor; 3],
    bias: Option<&GpuTensor>,
) -> Result<()> {
    s.validate()?;
    for (what, t, want) in [
        ("A", a, s.a_len()),
        ("B", b, s.b_len()),
        ("C", c, s.c_len()),
    ] {
        if t.len != want {
            bail!(
                "gemm {}x{}x{}: {what} has {} elements, the shape needs {want}",
                s.m,
                s.n,
                s.k,
                t.len
            );
        }
    }
    if let Some(bias) = bias {
        if bias.len != s.n {
            bail!(
                "gemm: bias has {} elements, the shape needs n = {}",
                bias.len,
                s.n
            );
        }
    }
    Ok(())
}

/// Whether `s` runs as a thin GEMM: with many threads, in the blocked family, with too few
/// blocks to fill a GPU.
fn runs_thin((variant, threads): (Variant, Threads), s: &GemmShape) -> bool {
    threads == Threads::Many && kernels(variant, s).blocked() && blocks(s) < THIN_BELOW_BLOCKS
}

/// A dense layer's parameter gradients: `dw = op(A)·op(B)` for its weights product `s` (`xᵀ·g`)
/// and `db`, the column sums of `g` (op(B), `s.k` rows of `s.n`). Where `s` runs thin (see
/// [`matmul_by`]), one thin GEMM whose op(A) has an extra row of ones gives both; otherwise the
/// GEMM and then `reduce::col_sum`.
pub fn weight_grads_by(
    ctx: &GpuContext,
    spread: (Variant, Threads),
    s: &GemmShape,
    [x, g]: [&GpuTensor; 2],
    [dw, db]: [&GpuTensor; 2],
) -> Result<Vec<Dispatch>> {
    if !runs_thin(spread, s) {
        let mut d = matmul_by(ctx, spread, s, [x, g], None, dw, Act::Linear)?;
        d.push(reduce::col_sum(ctx, s.k, s.n, g, db)?);
        return Ok(d);
    }
    check_operands(s, [x, g, dw], None)?;
    if db.len != s.n {
        bail!(
            "gemm: the bias gradient has {} elements, the shape needs n = {}",
            db.len,
            s.n
        );
    }
    // op(A) read one scalar at a time, with the row of ones after its rows.
    let p = Params {
        ones_row: 1,
        ..params(s, Act::Linear, false)
    };
    thin(ctx, s, &p, [x, g, dw], (None, Some(db)))
}

/// [`weight_grads_by`] with the adapter's family and spread.
pub fn weight_grads(
    ctx: &GpuContext,
    s: &GemmShape,
    [x, g]: [&GpuTensor; 2],
    [dw, db]: [&GpuTensor; 2],
) -> Result<Vec<Dispatch>> {
    let spread = (Variant::for_ctx(ctx), Threads::for_ctx(ctx));
    weight_grads_by(ctx, spread, s, [x, g], [dw, db])
}

/// One kernel family's GEMM: the dispatch for a checked shape and its parameters. [`kernels`]
/// picks the family for a shape.
trait GemmKernels {
    /// Whether this is the blocked family (whose shader also holds the thin GEMM).
    fn blocked(&self) -> bool;

    /// `c` from `[a, b, c]` and the bias, if any.
    fn matmul(
        &self,
        ctx: &GpuContext,
        s: &GemmShape,
        p: &Params,
        t: [&GpuTensor; 3],
        bias: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>>;
}

/// [`Variant::Tiled`]'s `matmul` / `matmul_bias`, and every shape the CPU adapter's cannot take.
struct TiledKernels;
/// [`Variant::Blocked`]'s `*_vec` / `*_mixed` entry points: register-blocked, vec4 loads where the
/// sizes allow.
struct BlockedKernels;

/// The family that runs `s` for `variant`: the CPU adapter's kernels when asked for and each
/// operand holds at least one vec4 (their vec4 bindings need one), else the tiled ones.
fn kernels(variant: Variant, s: &GemmShape) -> &'static dyn GemmKernels {
    if variant == Variant::Blocked && s.a_len() >= 4 && s.b_len() >= 4 {
        &BlockedKernels
    } else {
        &TiledKernels
    }
}

/// With [`Threads::Many`], a GEMM of fewer 8 x 8 blocks than this runs thin (one output per
/// invocation): its blocks alone would leave a GPU idle.
const THIN_BELOW_BLOCKS: usize = 4096;
/// Steps of 4 along k each split of a thin GEMM takes (a GEMM of no more steps runs whole).
const SPLIT_STEPS: usize = 16;
/// At most this many splits (the scratch buffer holds one m x n slab each, and the reduce adds
/// them in one loop).
const MAX_SPLITS: usize = 64;

/// The blocked family's 8 x 8 blocks of C.
fn blocks(s: &GemmShape) -> usize {
    s.m.div_ceil(VEC_ROWS) * s.n.div_ceil(8)
}

/// How many splits of k a thin GEMM runs in (1: none).
fn thin_splits(s: &GemmShape) -> usize {
    s.k.div_ceil(4).div_ceil(SPLIT_STEPS).clamp(1, MAX_SPLITS)
}

/// The loads one step of the blocked kernels issues for 8 rows and 8 columns: 8 vec4 loads of an
/// operand that allows them, else 32 scalar ones.
fn blocked_loads(s: &GemmShape) -> u64 {
    let (a_vec, b_vec) = vec_ok(s);
    let loads = |v: bool| if v { 8 } else { 32 };
    loads(a_vec) + loads(b_vec)
}

impl GemmKernels for BlockedKernels {
    fn blocked(&self) -> bool {
        true
    }

    fn matmul(
        &self,
        ctx: &GpuContext,
        s: &GemmShape,
        p: &Params,
        [a, b, c]: [&GpuTensor; 3],
        bias: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        // All-vec4 shapes get kernels without the scalar load path (it costs ~20% when present).
        let mixed = vec_ok(s) != (true, true);
        let flops = 2 * (s.m * s.n * s.k) as u64;
        let entry = match (bias.is_some(), mixed) {
            (false, false) => "matmul_vec",
            (true, false) => "matmul_bias_vec",
            (false, true) => "matmul_mixed",
            (true, true) => "matmul_bias_mixed",
        };
        let mut bind = vec![("a4", a), ("b4", b), ("c", c)];
        if mixed {
            bind.extend([("a", a), ("b", b)]);
        }
        if let Some(bias) = bias {
            bind.push(("bias", bias));
        }
        let d = ctx.dispatch_1d(SHADER, entry, bytemuck::bytes_of(p), &bind, blocks(s))?;
        let work = Work {
            serial: s.k.div_ceil(4) as u64,
            loads: blocked_loads(s),
            flops,
            ..Work::default()
        };
        Ok(vec![d.with_work(work)])
    }
}

/// `c` by the thin GEMM (`matmul_thin`, one output per invocation): whole when k is short,
/// else each split of k into its slab of a scratch buffer and then the slabs summed in order with
/// the bias and activation. The scratch buffer is owned by the dispatches' bind groups, so it
/// lives exactly as long as they do.
fn thin(
    ctx: &GpuContext,
    s: &GemmShape,
    p: &Params,
    [a, b, c]: [&GpuTensor; 3],
    (bias, db): (Option<&GpuTensor>, Option<&GpuTensor>),
) -> Result<Vec<Dispatch>> {
    let splits = thin_splits(s);
    let kq_split = s.k.div_ceil(4).div_ceil(splits);
    let p = Params {
        splits: splits as u32,
        kq_split: kq_split as u32,
        ..*p
    };
    let parts_work = Work {
        serial: kq_split as u64,
        loads: 8,
        flops: 2 * (s.m * s.n * s.k) as u64,
        ..Work::default()
    };
    // Without a bias or a ones row nothing reads those bindings; an operand and a one-element
    // buffer stand in for them.
    let bias_or = bias.unwrap_or(a);
    let no_db;
    let db = match db {
        Some(db) => db,
        None => {
            no_db = ctx.alloc(1, "no bias gradient")?;
            &no_db
        }
    };
    let outputs = (s.m + p.ones_row as usize) * s.n;
    let params = bytemuck::bytes_of(&p);
    if splits == 1 {
        let bind = [("a", a), ("b", b), ("bias", bias_or), ("c", c), ("db", db)];
        let d = ctx.dispatch_1d(SHADER, "matmul_thin", params, &bind, outputs)?;
        return Ok(vec![d.with_work(parts_work)]);
    }
    let slabs = ctx.alloc(splits * outputs, "gemm split-k slabs")?;
    let bind = [
        ("a", a),
        ("b", b),
        ("bias", bias_or),
        ("c", &slabs),
        ("db", db),
    ];
    let parts = ctx.dispatch_1d(SHADER, "matmul_thin", params, &bind, splits * outputs)?;
    let bind = [
        ("a", &slabs),
        ("bias", bias.unwrap_or(&slabs)),
        ("c", c),
        ("db", db),
    ];
    let reduce = ctx.dispatch_1d(SHADER, "matmul_split_reduce", params, &bind, outputs)?;
    let reduce_work = Work {
        serial: splits as u64,
        loads: 1,
        flops: (splits * outputs) as u64,
        ..Work::default()
    };
    Ok(vec![
        parts.with_work(parts_work),
        reduce.with_work(reduce_work),
    ])
}

impl GemmKernels for TiledKernels {
    fn blocked(&self) -> bool {
        false
    }

    fn matmul(
        &self,
        ctx: &GpuContext,
        s: &GemmShape,
        p: &Params,
        [a, b, c]: [&GpuTensor; 3],
        bias: Option<&GpuTensor>,
    ) -> Result<Vec<Dispatch>> {
        // One workgroup per output tile, of the size this kernel is compiled with on this adapter.
        let entry = if bias.is_some() {
            "matmul_bias"
        } else {
            "matmul"
        };
        let tile = ctx.tile(SHADER, entry)?;
        let groups = [s.n.div_ceil(tile) as u32, s.m.div_ceil(tile) as u32, 1];
        let d = match bias {
            Some(bias) => ctx.dispatch(
                SHADER,
                "matmul_bias",
                bytemuck::bytes_of(p),
                &[("a", a), ("b", b), ("bias", bias), ("c", c)],
                groups,
            ),
            None => ctx.dispatch(
                SHADER,
                "matmul",
                bytemuck::bytes_of(p),
                &[("a", a), ("b", b), ("c", c)],
                groups,
            ),
        }?;
        let work = Work {
            flops: 2 * (s.m * s.n * s.k) as u64,
            ..super::conv2d::loop_work(&d, s.k, (4, 0))
        };
        Ok(vec![d.with_work(work)])
    }
}

/// The odd GEMMs of the checks: sizes around the tiles and vec4 widths, each transpose.
pub fn odd_cases(quick: bool) -> Vec<GemmShape> {
    let g = |m, n, k, trans_a, trans_b| GemmShape {
        m,
        n,
        k,
        trans_a,
        trans_b,
    };
    let mut v = vec![
        g(1, 1, 1, false, false),
        g(3, 5, 7, false, false),
        g(8, 12, 16, false, false),
        g(13, 10, 20, true, false),
        g(9, 17, 4, false, true),
        // k long enough to split (Threads::Many): all vec4, and one with scalar loads.
        g(16, 12, 100, false, false),
        g(9, 10, 70, false, false),
        // A weights product (xᵀ·dy) long enough to split, with its bias gradient.
        g(10, 12, 100, true, false),
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

/// The checks of `wgnn check` and the tests: the odd shapes, then the models' dense layers' three
/// products, for each kernel family.
pub const CHECK: OpCheck = OpCheck {
    op: "gemm",
    runs: Runs::PerFamily(checks),
    models: ModelLayers::Dense,
};

fn checks(env: &Env, v: Variant, out: Sink) -> Result<()> {
    // The adapter's own spread of the work on every shape; the odd shapes also the other, so
    // every adapter checks both (thin, whole or in splits of k, and blocked).
    let own = Threads::for_ctx(env.ctx);
    for (i, s) in odd_cases(env.quick).iter().enumerate() {
        for threads in [own, own.other()] {
            check_one(env.ctx, (v, threads), s, "", 300 + i as u64, out)?;
        }
    }
    for (i, (name, s)) in env.models.gemms.iter().enumerate() {
        let origin = format!(" ({name})");
        check_one(env.ctx, (v, own), s, &origin, 400 + i as u64, out)?;
    }
    Ok(())
}

fn case_label(s: &GemmShape) -> String {
    format!(
        "{}x{}x{}{}{}",
        s.m,
        s.n,
        s.k,
        if s.trans_a { " Aᵀ" } else { "" },
        if s.trans_b { " Bᵀ" } else { "" }
    )
}

/// The plain product, then with bias and ReLU, of one shape on family `v`, against the
/// reference, from inputs drawn from `seed`; `origin` ends the shape's label.
pub fn check_one(
    ctx: &GpuContext,
    vt: (Variant, Threads),
    s: &GemmShape,
    origin: &str,
    seed: u64,
    out: Sink,
) -> Result<()> {
    let shape = format!("{}{origin}", case_label(s));
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
        let act = if relu { Act::Relu } else { Act::Linear };
        let d = matmul_by(
            ctx,
            vt,
            s,
            [&ga, &gb],
            with_bias.then_some(&gbias),
            &gc,
            act,
        )?;
        let ms = timed(ctx, &d.iter().collect::<Vec<_>>())?;
        let name = d
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        out(Output {
            kernel: if with_bias {
                format!("{name} (+ ReLU)")
            } else {
                name
            },
            shape: shape.clone(),
            got: ctx.read_f32(&gc)?,
            want: matmul_ref(s, &a, &b, with_bias.then_some(&bias[..]), relu),
            ms,
        });
    }
    if s.trans_a && !s.trans_b {
        check_weight_grads(ctx, vt, s, (&shape, [&ga, &gb], [&a, &b]), out)?;
    }
    Ok(())
}

/// A weights product (`op(A) = xᵀ`) as a dense layer's parameter gradients: the product and the
/// column sums of op(B) (the bias gradient), against the references.
fn check_weight_grads(
    ctx: &GpuContext,
    vt: (Variant, Threads),
    s: &GemmShape,
    (shape, [ga, gb], [a, b]): (&str, [&GpuTensor; 2], [&[f32]; 2]),
    out: Sink,
) -> Result<()> {
    let gdw = nan_tensor(ctx, s.c_len(), "dw")?;
    let gdb = nan_tensor(ctx, s.n, "db")?;
    let d = weight_grads_by(ctx, vt, s, [ga, gb], [&gdw, &gdb])?;
    let ms = timed(ctx, &d.iter().collect::<Vec<_>>())?;
    let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
    let mut got = ctx.read_f32(&gdw)?;
    got.extend(ctx.read_f32(&gdb)?);
    let mut want = matmul_ref(s, a, b, None, false);
    want.extend(reduce::col_sum_cpu(s.k, s.n, b));
    out(Output {
        kernel: format!("{} (weights and bias gradients)", names.join(" + ")),
        shape: shape.to_string(),
        got,
        want,
        ms,
    });
    Ok(())
}
