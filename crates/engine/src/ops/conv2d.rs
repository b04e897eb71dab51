//! 2-D convolution, NHWC like Keras, as implicit GEMM. Kernels: `shaders/conv2d_tiled.wgsl`
//! ([`Variant::Tiled`]) and `shaders/conv2d_blocked.wgsl` ([`Variant::Blocked`]), sharing
//! `shaders/prelude/conv2d.wgsl`; tests: `crates/engine/tests/ops_conv2d.rs`.
//!
//! Layouts (row-major, last index fastest):
//! - `x`  `[n, h, w, cin]`
//! - weights `[kh, kw, cin, cout]` (Keras' `Conv2D` kernel layout)
//! - bias `[cout]`
//! - `y`, `dy` `[n, oh, ow, cout]`; `dx` `[n, h, w, cin]`; `dw` like the weights; `db` like the bias.
//!
//! `dy` is the gradient with respect to the convolution's output *after* the activation's backward
//! (the graph runs ReLU backward separately); the forward may fuse bias and ReLU.

use bytemuck::{bytes_of, Pod, Zeroable};

use super::check_case::{
    exact, nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::elementwise::Act;
use super::pool::PoolShape;
use super::window;
use super::Threads;
use crate::bail;
use crate::error::Result;

use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

/// The kernel module of each family; both hold `weights_reduce` (from the shared prelude).
const TILED: &str = "conv2d_tiled";
const CPU_ADAPTER: &str = "conv2d_blocked";
/// backward_weights' rows per split are a multiple of this: of every reduction step `BK` the
/// tiled kernels are tuned with (8, 16, 32), so the splits, and so the sums, do not depend on it.
const CHUNK_ALIGN: usize = 32;
/// backward_weights splits the reduction over `n*oh*ow` into chunks of at least this many rows
/// (few long splits, for [`Threads::Few`]; many short ones for [`Threads::Many`])...
const MIN_CHUNK: usize = 512;
const MIN_CHUNK_TREE: usize = 32;
/// ...with at most this many partial-sum floats in the scratch buffer (16 MiB).
const MAX_PARTIAL: usize = 1 << 22;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

/// [`window::axis`], with the error a valid-padded kernel larger than its input gets.
fn axis(what: &str, size: usize, k: usize, s: usize, same: bool) -> Result<(usize, usize)> {
    match window::axis(size, k, s, same) {
        Some(a) => Ok(a),
        None => bail!(
            "conv2d: kernel {what} {k} is larger than the input {what} {size} with valid padding"
        ),
    }
}

impl Conv2dShape {
    /// Keras semantics. valid: `oh = (h - kh)/sh + 1` (error if `kh > h`). same: `oh = ceil(h/sh)`,
    /// `pad_total = max((oh-1)*sh + kh - h, 0)`, `pad_top = pad_total/2` (the extra pixel goes
    /// bottom/right). Errors on zero sizes and on sizes whose buffers do not fit 32-bit indices.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n: usize,
        h: usize,
        w: usize,
        cin: usize,
        cout: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        same: bool,
    ) -> Result<Self> {
        let [kh, kw] = kernel;
        let [sh, sw] = strides;
        for (name, v) in [
            ("batch", n),
            ("height", h),
            ("width", w),
            ("input channels", cin),
            ("filters", cout),
            ("kernel height", kh),
            ("kernel width", kw),
            ("stride height", sh),
            ("stride width", sw),
        ] {
            if v == 0 {
                bail!("conv2d: {name} is 0");
            }
        }
        let (oh, pad_top) = axis("height", h, kh, sh, same)?;
        let (ow, pad_left) = axis("width", w, kw, sw, same)?;
        let s = Self {
            n,
            h,
            w,
            cin,
            cout,
            kh,
            kw,
            sh,
            sw,
            pad_top,
            pad_left,
            oh,
            ow,
        };
        // Every buffer is indexed with u32 in the kernels; saturating u128 products cannot wrap.
        let p = |d: &[usize]| d.iter().fold(1u128, |a, &v| a.saturating_mul(v as u128));
        for (what, dims) in [
            ("input", vec![n, h, w, cin]),
            ("output", vec![n, oh, ow, cout]),
            (
                "kernel (with its bias row)",
                vec![kh, kw, cin.saturating_add(1), cout],
            ),
            ("patch matrix", vec![n, oh, ow, kh, kw]),
        ] {
            let elems = p(&dims);
            if elems > u32::MAX as u128 {
                bail!(
                    "conv2d: the {what} of {} = {elems} elements is too large for 32-bit indexing (at most {})",
                    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
                    u32::MAX
                );
            }
        }
        if pad_top.max(pad_left) > i32::MAX as usize {
            bail!(
                "conv2d: padding {pad_top}x{pad_left} is too large for 32-bit indexing (kernel {kh}x{kw})"
            );
        }
        Ok(s)
    }

    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.cin
    }

    pub fn y_len(&self) -> usize {
        self.n * self.oh * self.ow * self.cout
    }

    /// `kh*kw*cin*cout`.
    pub fn w_len(&self) -> usize {
        self.kh * self.kw * self.cin * self.cout
    }

    /// Output positions: the GEMM rows of the forward, the reduction of backward_weights.
    fn m(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// `kh*kw*cin`: the forward's reduction length.
    fn k(&self) -> usize {
        self.kh * self.kw * self.cin
    }

    /// Input row of output row `oy` through kernel tap `ki`, or None in the padding.
    fn in_y(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.sh + ki)
            .checked_sub(self.pad_top)
            .filter(|&v| v < self.h)
    }

    fn in_x(&self, ox: usize, kj: usize) -> Option<usize> {
        (ox * self.sw + kj)
            .checked_sub(self.pad_left)
            .filter(|&v| v < self.w)
    }

    /// Calls `f(x_index, w_index_base, y_index_base)` for every (output pixel, tap) pair that reads
    /// a real input pixel: `x[x_index + c]`, `w[w_index_base + c*cout + co]`, `y[y_index_base + co]`.
    fn taps(&self, mut f: impl FnMut(usize, usize, usize)) {
        for b in 0..self.n {
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let yi = ((b * self.oh + oy) * self.ow + ox) * self.cout;
                    for ki in 0..self.kh {
                        let Some(iy) = self.in_y(oy, ki) else {
                            continue;
                        };
                        for kj in 0..self.kw {
                            let Some(ix) = self.in_x(ox, kj) else {
                                continue;
                            };
                            let xi = ((b * self.h + iy) * self.w + ix) * self.cin;
                            let wi = (ki * self.kw + kj) * self.cin * self.cout;
                            f(xi, wi, yi);
                        }
                    }
                }
            }
        }
    }
}

/// `y = x (*) w + b`, optionally ReLU'd. Accumulates in f64.
pub fn forward_ref(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    let mut acc = vec![0f64; s.y_len()];
    s.taps(|xi, wi, yi| {
        for c in 0..s.cin {
            let xv = x[xi + c] as f64;
            let wr = &w[wi + c * s.cout..wi + (c + 1) * s.cout];
            for (a, &wv) in acc[yi..yi + s.cout].iter_mut().zip(wr) {
                *a += xv * wv as f64;
            }
        }
    });
    acc.iter()
        .enumerate()
        .map(|(i, &v)| {
            let v = (v + b[i % s.cout] as f64) as f32;
            if relu {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

/// `dx [n,h,w,cin]` from `dy [n,oh,ow,cout]`.
pub fn backward_input_ref(s: &Conv2dShape, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f64; s.x_len()];
    s.taps(|xi, wi, yi| {
        let g = &dy[yi..yi + s.cout];
        for c in 0..s.cin {
            let wr = &w[wi + c * s.cout..wi + (c + 1) * s.cout];
            dx[xi + c] += wr
                .iter()
                .zip(g)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>();
        }
    });
    dx.iter().map(|&v| v as f32).collect()
}

/// `(dw [kh,kw,cin,cout], db [cout])` from `x` and `dy`.
pub fn backward_weights_ref(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0f64; s.w_len()];
    s.taps(|xi, wi, yi| {
        let g = &dy[yi..yi + s.cout];
        for c in 0..s.cin {
            let xv = x[xi + c] as f64;
            for (d, &gv) in dw[wi + c * s.cout..wi + (c + 1) * s.cout].iter_mut().zip(g) {
                *d += xv * gv as f64;
            }
        }
    });
    let mut db = vec![0f64; s.cout];
    for row in dy.chunks(s.cout) {
        for (d, &g) in db.iter_mut().zip(row) {
            *d += g as f64;
        }
    }
    (
        dw.iter().map(|&v| v as f32).collect(),
        db.iter().map(|&v| v as f32).collect(),
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    cin: u32,
    cout: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_top: u32,
    pad_left: u32,
    oh: u32,
    ow: u32,
    act: u32,
    chunk: u32,
    splits: u32,
    alpha: f32,
    /// backward_input in splits of the taps (blocked family; 0: one pass).
    tap_splits: u32,
    taps_per_split: u32,
    _pad: u32,
}

fn params(s: &Conv2dShape, act: Act, chunk: usize, splits: usize) -> Params {
    Params {
        n: s.n as u32,
        h: s.h as u32,
        w: s.w as u32,
        cin: s.cin as u32,
        cout: s.cout as u32,
        kh: s.kh as u32,
        kw: s.kw as u32,
        sh: s.sh as u32,
        sw: s.sw as u32,
        pad_top: s.pad_top as u32,
        pad_left: s.pad_left as u32,
        oh: s.oh as u32,
        ow: s.ow as u32,
        act: act.code(),
        chunk: chunk as u32,
        splits: splits as u32,
        alpha: act.alpha(),
        tap_splits: 0,
        taps_per_split: 0,
        _pad: 0,
    }
}

fn check_len(what: &str, t: &GpuTensor, want: usize) -> Result<()> {
    if t.len != want {
        bail!(
            "conv2d: {what} has {} elements, the shape needs {want}",
            t.len
        );
    }
    Ok(())
}

/// Workgroups for tiled kernel `entry` with `rows x cols` outputs and `z` splits: one per output
/// tile, of the size the kernel is compiled with on this adapter.
fn gemm_grid(
    ctx: &GpuContext,
    entry: &str,
    rows: usize,
    cols: usize,
    z: usize,
) -> Result<[u32; 3]> {
    let tile = ctx.tile(TILED, entry)?;
    let g = [rows.div_ceil(tile), cols.div_ceil(tile), z];
    if g.iter().any(|&v| v > 65_535) {
        bail!(
            "conv2d: a grid of {}x{}x{} workgroups exceeds 65,535 per dimension",
            g[0],
            g[1],
            g[2]
        );
    }
    Ok([g[0] as u32, g[1] as u32, g[2] as u32])
}

pub use super::Variant;

/// One kernel family's convolution: how each pass dispatches, given a checked shape and its
/// parameters. [`kernels`] picks the family for a shape, once per dispatch function.
trait ConvKernels {
    /// The module of the family's kernels (each holds `weights_reduce`).
    fn shader(&self) -> &'static str;
    /// `y` from `[x, weights, bias, y]`.
    fn forward(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        t: [&GpuTensor; 4],
    ) -> Result<Dispatch>;
    /// `dx` from `[weights, dy, dx]`.
    fn backward_input(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        t: [&GpuTensor; 3],
    ) -> Result<Dispatch>;
    /// backward_weights' `splits` partial products (dw and db) from `[x, dy, partial]`.
    fn weight_partials(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        splits: usize,
        t: [&GpuTensor; 3],
    ) -> Result<Dispatch>;
}

/// [`Variant::Tiled`]'s kernels, and every shape the CPU adapter's cannot take.
struct TiledKernels;
/// [`Variant::Blocked`]'s register-blocked kernels: they read weights and dy as vec4s over cout.
struct BlockedKernels;

/// The family that runs `s` for `variant`: the CPU adapter's kernels when asked for and
/// cout % 4 == 0, else the tiled ones.
fn kernels(variant: Variant, s: &Conv2dShape) -> &'static dyn ConvKernels {
    if variant == Variant::Blocked && s.cout.is_multiple_of(4) {
        &BlockedKernels
    } else {
        &TiledKernels
    }
}

impl ConvKernels for TiledKernels {
    fn shader(&self) -> &'static str {
        TILED
    }

    fn forward(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        [x, w, b, y]: [&GpuTensor; 4],
    ) -> Result<Dispatch> {
        ctx.dispatch(
            TILED,
            "forward",
            bytemuck::bytes_of(p),
            &[("x", x), ("weights", w), ("bias", b), ("y", y)],
            gemm_grid(ctx, "forward", s.m(), s.cout, 1)?,
        )
    }

    fn backward_input(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        [w, dy, dx]: [&GpuTensor; 3],
    ) -> Result<Dispatch> {
        ctx.dispatch(
            TILED,
            "backward_input",
            bytemuck::bytes_of(p),
            &[("weights", w), ("dy", dy), ("dx", dx)],
            gemm_grid(ctx, "backward_input", s.n * s.h * s.w, s.cin, 1)?,
        )
    }

    fn weight_partials(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        splits: usize,
        [x, dy, partial]: [&GpuTensor; 3],
    ) -> Result<Dispatch> {
        ctx.dispatch(
            TILED,
            "backward_weights",
            bytemuck::bytes_of(p),
            &[("x", x), ("dy", dy), ("partial", partial)],
            gemm_grid(ctx, "backward_weights", s.k() + 1, s.cout, splits)?,
        )
    }
}

impl ConvKernels for BlockedKernels {
    fn shader(&self) -> &'static str {
        CPU_ADAPTER
    }

    fn forward(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        [x, w, b, y]: [&GpuTensor; 4],
    ) -> Result<Dispatch> {
        // x as vec4s when the channels allow, else one scalar per pixel and channel (cin = 1).
        // Output pixels per invocation (x 8 channels).
        let (entry, xname, pix) = if s.cin.is_multiple_of(4) {
            ("forward_vec", "x4", 8)
        } else {
            ("forward_vec_sx", "x", 4)
        };
        ctx.dispatch_1d(
            CPU_ADAPTER,
            entry,
            bytemuck::bytes_of(p),
            &[(xname, x), ("w4", w), ("bias", b), ("y", y)],
            s.m().div_ceil(pix) * s.cout.div_ceil(8),
        )
    }

    fn backward_input(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        [w, dy, dx]: [&GpuTensor; 3],
    ) -> Result<Dispatch> {
        ctx.dispatch_1d(
            CPU_ADAPTER,
            "backward_input_vec",
            bytemuck::bytes_of(p),
            &[("w4", w), ("dy4", dy), ("dx", dx)],
            (s.n * s.h * s.w).div_ceil(8) * s.cin.div_ceil(8),
        )
    }

    fn weight_partials(
        &self,
        ctx: &GpuContext,
        s: &Conv2dShape,
        p: &Params,
        splits: usize,
        [x, dy, partial]: [&GpuTensor; 3],
    ) -> Result<Dispatch> {
        // Invocations per split: row groups (one tap x 8 channels, plus one for db; or 9 rows of
        // the partial product when cin % 4 != 0) x groups of 8 output channels.
        let col_groups = s.cout.div_ceil(8);
        let (entry, xname, row_groups) = if s.cin.is_multiple_of(4) {
            (
                "backward_weights_vec",
                "x4",
                s.kh * s.kw * s.cin.div_ceil(8) + 1,
            )
        } else {
            ("backward_weights_k9", "x", s.k().div_ceil(9))
        };
        ctx.dispatch_1d(
            CPU_ADAPTER,
            entry,
            bytemuck::bytes_of(p),
            &[(xname, x), ("dy4", dy), ("partial4", partial)],
            splits * row_groups * col_groups,
        )
    }
}

/// `y = act(x (*) w + b)`, bias and activation fused in the GEMM's epilogue (`true` is ReLU).
pub fn forward(
    ctx: &GpuContext,
    s: &Conv2dShape,
    x: &GpuTensor,
    w: &GpuTensor,
    b: &GpuTensor,
    y: &GpuTensor,
    act: impl Into<Act>,
) -> Result<Vec<Dispatch>> {
    forward_with(ctx, Variant::for_ctx(ctx), s, x, w, b, y, act)
}

/// [`forward`] with the kernel family chosen by the caller.
#[allow(clippy::too_many_arguments)]
pub fn forward_with(
    ctx: &GpuContext,
    variant: Variant,
    s: &Conv2dShape,
    x: &GpuTensor,
    w: &GpuTensor,
    b: &GpuTensor,
    y: &GpuTensor,
    act: impl Into<Act>,
) -> Result<Vec<Dispatch>> {
    let threads = Threads::for_ctx(ctx);
    forward_by(ctx, (variant, threads), s, [x, w, b], y, act.into())
}

/// [`forward`] with the kernel family and the spread of its work chosen by the caller (`wgnn
/// check` runs both spreads on every adapter).
pub fn forward_by(
    ctx: &GpuContext,
    (variant, threads): (Variant, Threads),
    s: &Conv2dShape,
    [x, w, b]: [&GpuTensor; 3],
    y: &GpuTensor,
    act: Act,
) -> Result<Vec<Dispatch>> {
    check_len("x", x, s.x_len())?;
    check_len("weights", w, s.w_len())?;
    check_len("bias", b, s.cout)?;
    check_len("y", y, s.y_len())?;
    if let Some((t, split)) = forward_split(variant, threads, s, [x, w, b]) {
        return tap_split(ctx, s, params(s, act, 0, 0), t, split, y);
    }
    let p = params(s, act, 0, 0);
    let family = kernels(variant, s);
    let d = family.forward(ctx, s, &p, [x, w, b, y])?;
    let vec = s.cin.is_multiple_of(4);
    // The blocked kernel takes four input channels a step when it reads x as vec4s (8 pixels
    // and 8 weight rows a step), else one (4 pixels, 2 weight vectors).
    let (step, loads) = if vec { (4, 16) } else { (1, 6) };
    let work = loop_work(&d, s.k(), (step, loads));
    let flops = 2 * (s.m() * s.cout * s.k()) as u64;
    Ok(vec![d.with_work(Work { flops, ..work })])
}

/// The forward pass and the 2x2, stride 2, valid max pooling `pool` after it in one dispatch
/// (`forward_pool_sx`, one pooling window x 8 channels per invocation): the pooled `y` and its
/// `argmax` (flat indices into the convolution's output, as `pool::forward` gives), the bits of
/// the two ops unfused, and the convolution's output never written. None where it does not
/// apply: it is the blocked family's forward for cin % 4 != 0 (the first layer), and only that
/// pooling.
#[allow(clippy::too_many_arguments)]
pub fn forward_pool_by(
    ctx: &GpuContext,
    variant: Variant,
    s: &Conv2dShape,
    [x, w, b]: [&GpuTensor; 3],
    pool: &PoolShape,
    act: Act,
    [y, argmax]: [&GpuTensor; 2],
) -> Result<Option<Dispatch>> {
    let blocked = kernels(variant, s).shader() == CPU_ADAPTER;
    let window = (
        pool.ph,
        pool.pw,
        pool.sh,
        pool.sw,
        pool.pad_top,
        pool.pad_left,
    );
    let fits = (pool.n, pool.h, pool.w, pool.c) == (s.n, s.oh, s.ow, s.cout);
    if !blocked || s.cin.is_multiple_of(4) || window != (2, 2, 2, 2, 0, 0) || !fits {
        return Ok(None);
    }
    check_len("x", x, s.x_len())?;
    check_len("weights", w, s.w_len())?;
    check_len("bias", b, s.cout)?;
    check_len("y", y, pool.y_len())?;
    check_len("argmax", argmax, pool.y_len())?;
    let p = params(s, act, 0, 0);
    let bind = [
        ("x", x),
        ("w4", w),
        ("bias", b),
        ("y", y),
        ("argmax", argmax),
    ];
    let windows = pool.n * pool.oh * pool.ow;
    let d = ctx.dispatch_1d(
        CPU_ADAPTER,
        "forward_pool_sx",
        bytes_of(&p),
        &bind,
        windows * s.cout.div_ceil(8),
    )?;
    let flops = 2 * (4 * windows * s.cout * s.k()) as u64;
    let work = loop_work(&d, s.k(), (1, 6));
    Ok(Some(d.with_work(Work { flops, ..work })))
}

/// How the forward pass splits its taps, when it does: with [`Threads::Many`], the blocked
/// family, x read as vec4s and more steps than [`MAX_CONV_STEPS`].
fn forward_split<'a>(
    variant: Variant,
    threads: Threads,
    s: &Conv2dShape,
    [x, w, b]: [&'a GpuTensor; 3],
) -> Option<(TapSplit<'a>, (usize, usize))> {
    let (taps, per_tap) = (s.kh * s.kw, s.cin.div_ceil(4));
    let blocked = kernels(variant, s).shader() == CPU_ADAPTER;
    let vec = s.cin.is_multiple_of(4);
    if threads != Threads::Many || !blocked || !vec || taps < 2 || taps * per_tap <= MAX_CONV_STEPS
    {
        return None;
    }
    let taps_per = (MAX_CONV_STEPS / per_tap).max(1);
    let t = TapSplit {
        entry: "forward_vec",
        reduce: "forward_reduce",
        inputs: vec![("x4", x), ("w4", w), ("bias", b)],
        out: "y",
        out_len: s.y_len(),
        blocks: s.m().div_ceil(8) * s.cout.div_ceil(8),
        per_tap,
    };
    Some((t, (taps.div_ceil(taps_per), taps_per)))
}

/// A convolution's forward pass without its output, for a max pooling to take its slabs: the
/// dispatch that writes them, the slabs (`splits` of `s.y_len()` elements, owned by the
/// dispatch's bind group and the caller) and `splits`; None when the forward does not split (see
/// [`forward_split`]), so the caller runs [`forward_by`] instead.
pub fn forward_parts_by(
    ctx: &GpuContext,
    (variant, threads): (Variant, Threads),
    s: &Conv2dShape,
    [x, w, b]: [&GpuTensor; 3],
) -> Result<Option<(Dispatch, GpuTensor, usize)>> {
    check_len("x", x, s.x_len())?;
    check_len("weights", w, s.w_len())?;
    check_len("bias", b, s.cout)?;
    let Some((t, split)) = forward_split(variant, threads, s, [x, w, b]) else {
        return Ok(None);
    };
    let (parts, slabs) = tap_parts(ctx, s, params(s, Act::Linear, 0, 0), &t, split)?;
    Ok(Some((parts, slabs, split.0)))
}

/// One blocked pass split over the taps: `entry` runs `blocks` blocks for each split, writing
/// its slab of a scratch buffer (owned by the dispatches' bind groups) through the binding named
/// `out`, slabs of `out_len` elements; then `reduce` sums the slabs in order into the output
/// (with the bias and activation, where it has them). Names an entry point does not use are
/// ignored, so both get every tensor.
struct TapSplit<'a> {
    entry: &'static str,
    reduce: &'static str,
    inputs: Vec<(&'static str, &'a GpuTensor)>,
    out: &'static str,
    out_len: usize,
    blocks: usize,
    /// Steps one tap takes (four channels each).
    per_tap: usize,
}

fn tap_split(
    ctx: &GpuContext,
    s: &Conv2dShape,
    p: Params,
    t: TapSplit,
    split: (usize, usize),
    out: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    let (parts, slabs) = tap_parts(ctx, s, p, &t, split)?;
    Ok(vec![parts, tap_reduce(ctx, p, t, &slabs, split, out)?])
}

/// The split pass of `t`: its dispatch and its slabs.
fn tap_parts(
    ctx: &GpuContext,
    s: &Conv2dShape,
    p: Params,
    t: &TapSplit,
    (splits, taps_per): (usize, usize),
) -> Result<(Dispatch, GpuTensor)> {
    let p = split_params(p, (splits, taps_per));
    let slabs = ctx.alloc(splits * t.out_len, "conv2d split slabs")?;
    let mut bind = t.inputs.clone();
    bind.push((t.out, &slabs));
    let parts = ctx.dispatch_1d(CPU_ADAPTER, t.entry, bytes_of(&p), &bind, t.blocks * splits)?;
    let parts = parts.with_work(Work {
        serial: (taps_per * t.per_tap) as u64,
        loads: 16,
        flops: 2 * (s.m() * s.cout * s.k()) as u64,
        ..Work::default()
    });
    Ok((parts, slabs))
}

/// The reduce of `t`: its slabs summed in order into its output.
fn tap_reduce(
    ctx: &GpuContext,
    p: Params,
    t: TapSplit,
    slabs: &GpuTensor,
    split: (usize, usize),
    out: &GpuTensor,
) -> Result<Dispatch> {
    let p = split_params(p, split);
    let mut bind = t.inputs;
    bind.extend([("partial", slabs), (t.out, out)]);
    let sums = ctx.dispatch_1d(CPU_ADAPTER, t.reduce, bytes_of(&p), &bind, out.len)?;
    Ok(sums.with_work(Work {
        serial: split.0 as u64,
        loads: 1,
        flops: (split.0 * out.len) as u64,
        ..Work::default()
    }))
}

fn split_params(p: Params, (splits, taps_per): (usize, usize)) -> Params {
    Params {
        tap_splits: splits as u32,
        taps_per_split: taps_per as u32,
        ..p
    }
}

/// The reduction loop of `d` over `len` terms: a tiled kernel (it declares BK and TILE) steps
/// BK terms at a time, loading its share of two TILE x BK tiles into workgroup memory and
/// synchronising; a blocked one takes `blocked.0` terms a step with `blocked.1` loads.
pub(crate) fn loop_work(d: &Dispatch, len: usize, blocked: (usize, u64)) -> Work {
    match (d.constant("BK"), d.constant("TILE")) {
        (Some(bk), Some(tile)) => Work {
            serial: len.div_ceil(bk as usize) as u64,
            // 2 tiles of TILE x BK over TILE^2/16 invocations.
            loads: (32.0 * bk / tile).ceil() as u64,
            synchronised: true,
            ..Work::default()
        },
        _ => Work {
            serial: len.div_ceil(blocked.0.max(1)) as u64,
            loads: blocked.1,
            ..Work::default()
        },
    }
}

/// `dx = dy (*)^T w`: the transposed convolution in gather form. Writes every element of `dx`.
pub fn backward_input(
    ctx: &GpuContext,
    s: &Conv2dShape,
    w: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    backward_input_with(ctx, Variant::for_ctx(ctx), s, w, dy, dx)
}

/// [`backward_input`] with the kernel family chosen by the caller.
pub fn backward_input_with(
    ctx: &GpuContext,
    variant: Variant,
    s: &Conv2dShape,
    w: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    backward_input_by(ctx, (variant, Threads::for_ctx(ctx)), s, [w, dy], dx)
}

/// The blocked forward and backward_input run at most this many steps (of a tap and four
/// channels) per invocation with [`Threads::Many`]; longer ones split their taps.
const MAX_CONV_STEPS: usize = 16;

/// [`backward_input`] with the kernel family and the spread of its work chosen by the caller
/// (`wgnn check` runs both spreads on every adapter).
pub fn backward_input_by(
    ctx: &GpuContext,
    (variant, threads): (Variant, Threads),
    s: &Conv2dShape,
    [w, dy]: [&GpuTensor; 2],
    dx: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    check_len("weights", w, s.w_len())?;
    check_len("dy", dy, s.y_len())?;
    check_len("dx", dx, s.x_len())?;
    let p = params(s, Act::Linear, 0, 0);
    let family = kernels(variant, s);
    let per_tap = s.cout.div_ceil(4);
    let (taps, flops) = (s.kh * s.kw, 2 * (s.m() * s.cout * s.k()) as u64);
    let blocked = family.shader() == CPU_ADAPTER;
    if threads == Threads::Many && blocked && taps > 1 && taps * per_tap > MAX_CONV_STEPS {
        let taps_per = (MAX_CONV_STEPS / per_tap).max(1);
        let t = TapSplit {
            entry: "backward_input_vec",
            reduce: "input_grad_reduce",
            inputs: vec![("w4", w), ("dy4", dy)],
            out: "dx",
            out_len: s.x_len(),
            blocks: (s.n * s.h * s.w).div_ceil(8) * s.cin.div_ceil(8),
            per_tap,
        };
        return tap_split(ctx, s, p, t, (taps.div_ceil(taps_per), taps_per), dx);
    }
    let d = family.backward_input(ctx, s, &p, [w, dy, dx])?;
    // Blocked: 8 pixels of dy and 8 weight vectors a step of four output channels.
    let work = loop_work(&d, taps * s.cout, (4, 16));
    Ok(vec![d.with_work(Work { flops, ..work })])
}

/// How backward_weights splits its reduction over `n*oh*ow`: `(rows per split, splits)`.
/// Depends on the shape and `reduce` only, so results are bit-identical run to run.
pub fn weight_grad_splits(s: &Conv2dShape, reduce: Threads) -> Result<(usize, usize)> {
    let m = s.m();
    let per = (s.k() + 1) * s.cout;
    let max_splits = (MAX_PARTIAL / per).clamp(1, 65_535);
    let min_chunk = match reduce {
        Threads::Few => MIN_CHUNK,
        Threads::Many => MIN_CHUNK_TREE,
    };
    let splits = m.div_ceil(min_chunk).clamp(1, max_splits);
    let chunk = m.div_ceil(splits).next_multiple_of(CHUNK_ALIGN);
    Ok((chunk, m.div_ceil(chunk)))
}

/// `dw = im2col(x)^T dy` and `db = column sums of dy`; overwrites `dw` and `db`.
///
/// Two dispatches: a split-K GEMM writing `splits` partial `[kh*kw*cin + 1, cout]` products
/// (the extra row, an all-ones im2col row, is db) into a scratch buffer, then a fixed-order sum
/// of the partials into `dw` and `db` (see [`weight_grad_splits`]). The CPU variant (cout % 4 == 0)
/// fills the same partials with register-blocked kernels: one tap x 8 input channels x 8 output
/// channels per invocation when cin % 4 == 0 (`backward_weights_vec`), else 9 partial rows x 8
/// output channels (`backward_weights_k9`; with cin = 1, the 3x3 taps). The scratch buffer is
/// allocated here and owned by the returned dispatches' bind groups (wgpu keeps a buffer alive as
/// long as a bind group refers to it), so it lives exactly as long as the dispatches.
pub fn backward_weights(
    ctx: &GpuContext,
    s: &Conv2dShape,
    x: &GpuTensor,
    dy: &GpuTensor,
    dw: &GpuTensor,
    db: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    backward_weights_with(ctx, Variant::for_ctx(ctx), s, x, dy, dw, db)
}

/// [`backward_weights`] with the kernel family chosen by the caller.
pub fn backward_weights_with(
    ctx: &GpuContext,
    variant: Variant,
    s: &Conv2dShape,
    x: &GpuTensor,
    dy: &GpuTensor,
    dw: &GpuTensor,
    db: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    let reduce = Threads::for_ctx(ctx);
    backward_weights_by(ctx, (variant, reduce), s, [x, dy], [dw, db])
}

/// [`backward_weights`] with the kernel family and the way its splits are summed chosen by the
/// caller (`wgnn check` runs both sums on every adapter).
pub fn backward_weights_by(
    ctx: &GpuContext,
    (variant, reduce): (Variant, Threads),
    s: &Conv2dShape,
    [x, dy]: [&GpuTensor; 2],
    [dw, db]: [&GpuTensor; 2],
) -> Result<Vec<Dispatch>> {
    check_len("x", x, s.x_len())?;
    check_len("dy", dy, s.y_len())?;
    check_len("dw", dw, s.w_len())?;
    check_len("db", db, s.cout)?;
    let (chunk, splits) = weight_grad_splits(s, reduce)?;
    let per = (s.k() + 1) * s.cout;
    let partial = ctx.alloc(splits * per, "conv2d weight-gradient partial sums")?;
    let p = params(s, Act::Linear, chunk, splits);
    let family = kernels(variant, s);
    let gemm = family.weight_partials(ctx, s, &p, splits, [x, dy, &partial])?;
    // Blocked, per row of the chunk: two x and two dy vectors (vec), or nine x values and two
    // dy vectors (k9).
    let loads = if s.cin.is_multiple_of(4) { 4 } else { 11 };
    let gemm_work = Work {
        flops: 2 * (s.m() * per) as u64,
        ..loop_work(&gemm, chunk, (1, loads))
    };
    let bind = [("partial", &partial), ("dw", dw), ("db", db)];
    let sums = match reduce {
        Threads::Few => {
            let d = ctx.dispatch_1d(family.shader(), "weights_reduce", bytes_of(&p), &bind, per)?;
            d.with_work(Work {
                serial: splits as u64,
                loads: 1,
                flops: (splits * per) as u64,
                ..Work::default()
            })
        }
        Threads::Many => {
            let entry = "weights_reduce_tree";
            let wg = ctx.kernel(family.shader(), entry)?.workgroup_size()[0] as usize;
            // One workgroup per weight (a grid past 65,535 folds into y).
            let d = ctx.dispatch_1d(family.shader(), entry, bytes_of(&p), &bind, per * wg)?;
            d.with_work(Work {
                serial: (splits.div_ceil(wg) + wg.ilog2() as usize) as u64,
                loads: 1,
                flops: (splits * per) as u64,
                ..Work::default()
            })
        }
    };
    Ok(vec![gemm.with_work(gemm_work), sums])
}

/// The forward pass with a 2x2 max pooling in one dispatch, where family `v` has one for the
/// shape: the pooled output against the references (`want_y`: the convolution's with ReLU), and
/// its argmax, which must match exactly (a row of 1s where it does).
fn check_pooled(
    ctx: &GpuContext,
    v: Variant,
    s: &Conv2dShape,
    inputs: [&GpuTensor; 3],
    (shape, want_y): (&str, &[f32]),
    out: Sink,
) -> Result<()> {
    if s.oh < 2 || s.ow < 2 {
        return Ok(());
    }
    let pool = PoolShape::new(s.n, s.oh, s.ow, s.cout, [2, 2], [2, 2])?;
    let gy = nan_tensor(ctx, pool.y_len(), "y")?;
    let garg = ctx.alloc(pool.y_len(), "argmax")?;
    let Some(d) = forward_pool_by(ctx, v, s, inputs, &pool, Act::Relu, [&gy, &garg])? else {
        return Ok(());
    };
    let ms = timed(ctx, &[&d])?;
    let (want, arg) = super::pool::forward_ref(&pool, want_y);
    let kernel = format!("{} + ReLU + maxpool 2x2", d.name);
    let shape = shape.to_string();
    let got = ctx.read_f32(&gy)?;
    out(Output {
        kernel: kernel.clone(),
        shape: shape.clone(),
        got,
        want,
        ms,
    });
    let got = ctx.read_u32(&garg)?;
    out(exact(
        format!("{kernel} (argmax equal)"),
        shape,
        &got,
        &arg,
        ms,
    ));
    Ok(())
}

/// A convolution check case: (n, h, w, cin, cout, kernel, strides, same padding).
pub type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    bool,
);

/// The odd shapes: one input channel, channels not a multiple of 4 or of the 64-wide tile, vec4
/// tails, strides, same padding, 1x1 and non-square kernels, an input gradient long enough to
/// split.
pub fn odd_cases(quick: bool) -> Vec<ConvCase> {
    let mut v = vec![
        (1, 7, 9, 1, 1, [3, 3], [1, 1], false),
        (1, 8, 8, 3, 5, [3, 3], [1, 1], false),
        // One pass with a 2x2 pooling, on odd sizes (the last row and column unpooled).
        (2, 9, 7, 3, 8, [3, 3], [1, 1], false),
        (2, 7, 6, 8, 12, [3, 3], [1, 1], true),
        (2, 9, 8, 4, 8, [3, 3], [2, 2], true),
        (1, 5, 5, 4, 4, [1, 1], [1, 1], false),
        (2, 6, 7, 16, 4, [5, 5], [1, 2], true),
        // 9 taps x 8 vec4s of cout: long enough that Threads::Many splits the input gradient.
        (2, 7, 7, 8, 32, [3, 3], [1, 1], false),
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

/// The checks of `wgnn check` and the tests: the odd shapes, then the models' convolutions, for
/// each kernel family.
pub const CHECK: OpCheck = OpCheck {
    op: "conv2d",
    runs: Runs::PerFamily(checks),
    models: ModelLayers::Conv2D,
};

fn checks(env: &Env, v: Variant, out: Sink) -> Result<()> {
    for (i, c) in odd_cases(env.quick).into_iter().enumerate() {
        check_one(env.ctx, v, c, "", 100 + i as u64, out)?;
    }
    for (i, (name, c)) in env.models.convs.iter().enumerate() {
        check_one(env.ctx, v, *c, &format!(" ({name})"), 200 + i as u64, out)?;
    }
    Ok(())
}

/// A case's label in check rows and test messages: `n2 28x28x1 -> 32 k3x3 s1x1 valid`.
pub fn case_label(s: &Conv2dShape, same: bool) -> String {
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

/// Forward (+ ReLU), input gradient and weight gradient of one case on family `v`, against the
/// references, from inputs drawn from `seed`; `origin` ends the shape's label.
pub fn check_one(
    ctx: &GpuContext,
    v: Variant,
    c: ConvCase,
    origin: &str,
    seed: u64,
    out: Sink,
) -> Result<()> {
    let s = Conv2dShape::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7)?;
    let shape = format!("{}{origin}", case_label(&s, c.7));
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
    // The adapter's own spread of the work; the odd cases run the other too, so every adapter
    // checks both.
    let own = Threads::for_ctx(ctx);
    let spreads = if origin.is_empty() {
        vec![own, own.other()]
    } else {
        vec![own]
    };
    let want_y = forward_ref(&s, &x, &w, &b, true);
    for &threads in &spreads {
        let gy = nan_tensor(ctx, s.y_len(), "y")?;
        let f = forward_by(ctx, (v, threads), &s, [&gx, &gw, &gb], &gy, Act::Relu)?;
        let ms = timed(ctx, &f.iter().collect::<Vec<_>>())?;
        let names: Vec<&str> = f.iter().map(|d| d.name.as_str()).collect();
        out(Output {
            kernel: format!("{} + ReLU", names.join(" + ")),
            shape: shape.clone(),
            got: ctx.read_f32(&gy)?,
            want: want_y.clone(),
            ms,
        });
    }
    check_pooled(ctx, v, &s, [&gx, &gw, &gb], (&shape, &want_y), out)?;
    let want_dx = backward_input_ref(&s, &w, &dy);
    for &threads in &spreads {
        let gdx = nan_tensor(ctx, s.x_len(), "dx")?;
        let bi = backward_input_by(ctx, (v, threads), &s, [&gw, &gdy], &gdx)?;
        let ms = timed(ctx, &bi.iter().collect::<Vec<_>>())?;
        let names: Vec<&str> = bi.iter().map(|d| d.name.as_str()).collect();
        out(Output {
            kernel: names.join(" + "),
            shape: shape.clone(),
            got: ctx.read_f32(&gdx)?,
            want: want_dx.clone(),
            ms,
        });
    }
    let (dw, db) = backward_weights_ref(&s, &x, &dy);
    let want: Vec<f32> = dw.into_iter().chain(db).collect();
    for &reduce in &spreads {
        let gdw = nan_tensor(ctx, s.w_len(), "dw")?;
        let gdb = nan_tensor(ctx, s.cout, "db")?;
        let bw = backward_weights_by(ctx, (v, reduce), &s, [&gx, &gdy], [&gdw, &gdb])?;
        let ms = timed(ctx, &bw.iter().collect::<Vec<_>>())?;
        let mut got = ctx.read_f32(&gdw)?;
        got.extend(ctx.read_f32(&gdb)?);
        let names: Vec<&str> = bw.iter().map(|d| d.name.as_str()).collect();
        out(Output {
            kernel: names.join(" + "),
            shape: shape.clone(),
            got,
            want: want.clone(),
            ms,
        });
    }
    Ok(())
}
