//! The pooling family, NHWC, Keras semantics: `MaxPooling2D` and `AveragePooling2D` with valid or
//! same padding (the global poolings are one window over the whole image). Kernels:
//! `shaders/pool.wgsl` (one entry point per strategy and pass); tests: `crates/engine/tests/ops_pool.rs`,
//! `crates/engine/tests/layers_pool.rs`.
//!
//! Layouts: `x`, `dx` `[n, h, w, c]`; `y`, `dy`, `argmax` `[n, oh, ow, c]`. Windows are clipped to
//! the image: padding is never a value, so a max is over real pixels and an average counts only
//! them (as TensorFlow's `SAME` pooling does). `argmax` holds u32: the flat index into `x` of each
//! window's maximum (the first in row-major window order wins ties).

use crate::util::simd::Isa;
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::check_case::{
    exact, nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::elementwise::{self, Act};
use super::window;
use crate::bail;
use crate::error::Result;
use crate::runtime::{Dispatch, GpuContext, GpuTensor, Work};

const SHADER: &str = "pool";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub ph: usize,
    pub pw: usize,
    pub sh: usize,
    pub sw: usize,
    /// Rows and columns of padding before the first window (0 with valid padding).
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolShape {
    /// Keras valid padding: `oh = (h - ph)/sh + 1` (rows and columns past the last window are
    /// dropped). Errors on zero sizes, on a pool larger than the input, and on sizes whose
    /// buffers do not fit 32-bit indices.
    pub fn new(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        pool: [usize; 2],
        strides: [usize; 2],
    ) -> Result<Self> {
        Self::padded(n, h, w, c, pool, strides, false)
    }

    /// [`PoolShape::new`], or with `same` padding: `oh = ceil(h / sh)`, windows clipped to the
    /// image (a pool larger than the input is then allowed).
    #[allow(clippy::too_many_arguments)]
    pub fn padded(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        pool: [usize; 2],
        strides: [usize; 2],
        same: bool,
    ) -> Result<Self> {
        let [ph, pw] = pool;
        let [sh, sw] = strides;
        for (name, v) in [
            ("batch", n),
            ("height", h),
            ("width", w),
            ("channels", c),
            ("pool height", ph),
            ("pool width", pw),
            ("stride height", sh),
            ("stride width", sw),
        ] {
            if v == 0 {
                bail!("pooling: {name} is 0");
            }
        }
        // Saturating u128: a product of four usizes cannot wrap.
        let elems = [n, h, w, c]
            .iter()
            .fold(1u128, |a, &v| a.saturating_mul(v as u128));
        let limit = u32::MAX as u128;
        if elems > limit || ph.max(pw).max(sh).max(sw) as u128 > limit {
            bail!(
                "pooling: the input of {n}x{h}x{w}x{c} = {elems} elements with pool {ph}x{pw} is too large for 32-bit indexing (at most {})",
                u32::MAX
            );
        }
        let (Some((oh, pad_top)), Some((ow, pad_left))) =
            (window::axis(h, ph, sh, same), window::axis(w, pw, sw, same))
        else {
            bail!("pooling: pool {ph}x{pw} is larger than the input {h}x{w}");
        };
        Ok(Self {
            n,
            h,
            w,
            c,
            ph,
            pw,
            sh,
            sw,
            pad_top,
            pad_left,
            oh,
            ow,
        })
    }

    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    pub fn y_len(&self) -> usize {
        self.n * self.oh * self.ow * self.c
    }

    /// The input rows `[lo, hi)` under output row `oy`, clipped to the image.
    pub fn rows(&self, oy: usize) -> (usize, usize) {
        span(oy, self.sh, self.ph, self.pad_top, self.h)
    }

    /// The input columns `[lo, hi)` under output column `ox`, clipped to the image.
    pub fn cols(&self, ox: usize) -> (usize, usize) {
        span(ox, self.sw, self.pw, self.pad_left, self.w)
    }

    /// Real pixels in the window of output `(oy, ox)`.
    pub fn count(&self, oy: usize, ox: usize) -> usize {
        let ((r0, r1), (c0, c1)) = (self.rows(oy), self.cols(ox));
        (r1 - r0) * (c1 - c0)
    }
}

fn span(o: usize, s: usize, k: usize, pad: usize, size: usize) -> (usize, usize) {
    let start = o * s;
    (
        start.saturating_sub(pad),
        (start + k).saturating_sub(pad).min(size),
    )
}

/// `(y, argmax)` by the definition, one output at a time: the oracle for the kernels and for
/// [`forward_into`].
pub fn forward_ref(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let mut y = Vec::with_capacity(s.y_len());
    let mut arg = Vec::with_capacity(s.y_len());
    for b in 0..s.n {
        for oy in 0..s.oh {
            for ox in 0..s.ow {
                for ch in 0..s.c {
                    let (best, at) = window(s, b, oy, ox, ch)
                        .map(|j| (x[j], j))
                        .reduce(|a, v| if v.0 > a.0 { v } else { a })
                        .expect("every window holds a pixel");
                    y.push(best);
                    arg.push(at as u32);
                }
            }
        }
    }
    (y, arg)
}

/// The flat indices into `x` of the window of output `(b, oy, ox, ch)`, in row-major order.
fn window(s: &PoolShape, b: usize, oy: usize, ox: usize, ch: usize) -> impl Iterator<Item = usize> {
    let ((r0, r1), (c0, c1)) = (s.rows(oy), s.cols(ox));
    let (h, w, c) = (s.h, s.w, s.c);
    (r0..r1).flat_map(move |iy| (c0..c1).map(move |ix| ((b * h + iy) * w + ix) * c + ch))
}

/// The CPU backend's max pooling into `y` and `arg`, whose contents are ignored: every element is
/// written.
pub fn forward_into(isa: Isa, s: &PoolShape, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
    assert_eq!(
        (y.len(), arg.len()),
        (s.y_len(), s.y_len()),
        "maxpool: output length"
    );
    let per = s.oh * s.ow * s.c;
    // One image per task: the same values as a plain loop, in parallel.
    #[cfg(target_arch = "x86_64")]
    let avx2 = isa.avx2();
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    y.par_chunks_mut(per.max(1))
        .zip(arg.par_chunks_mut(per.max(1)))
        .enumerate()
        .for_each(|(b, (y, arg))| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: `Isa::avx2` found the features the copy is compiled for.
                return unsafe { forward_image_avx2(s, x, b, y, arg) };
            }
            forward_image(s, x, b, y, arg)
        });
}

/// `dx [n,h,w,c]` by the definition: each `dy` goes to its window's argmax.
pub fn backward_ref(s: &PoolShape, dy: &[f32], argmax: &[u32]) -> Vec<f32> {
    let mut dx = vec![0f32; s.x_len()];
    for (&g, &a) in dy.iter().zip(argmax) {
        dx[a as usize] += g;
    }
    dx
}

/// The CPU backend's max-pooling gradient into `dx`, whose contents are ignored (each task clears
/// its image, in cache). Sums in output order, as [`backward_ref`] does.
pub fn backward_into(s: &PoolShape, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    assert_eq!(dx.len(), s.x_len(), "maxpool: gradient length");
    let (per_x, per_y) = (s.h * s.w * s.c, s.oh * s.ow * s.c);
    // Windows never leave their image, so each image's scatter is independent.
    dx.par_chunks_mut(per_x.max(1))
        .enumerate()
        .for_each(|(b, dx)| {
            dx.fill(0.0);
            let range = b * per_y..((b + 1) * per_y).min(dy.len());
            for (&g, &a) in dy[range.clone()].iter().zip(&argmax[range]) {
                dx[a as usize - b * per_x] += g;
            }
        });
}

/// Image `b`'s windows into its `y` and `arg` rows. Channels innermost: each window position is
/// a contiguous sweep over channels, written as selects so that it vectorises.
#[inline(always)]
fn forward_image(s: &PoolShape, x: &[f32], b: usize, y: &mut [f32], arg: &mut [u32]) {
    for oy in 0..s.oh {
        let (r0, r1) = s.rows(oy);
        for ox in 0..s.ow {
            let (c0, c1) = s.cols(ox);
            let o = (oy * s.ow + ox) * s.c;
            let (y, arg) = (&mut y[o..o + s.c], &mut arg[o..o + s.c]);
            let first = ((b * s.h + r0) * s.w + c0) * s.c;
            y.copy_from_slice(&x[first..first + s.c]);
            for (a, idx) in arg.iter_mut().zip(first as u32..) {
                *a = idx;
            }
            for iy in r0..r1 {
                for ix in c0..c1 {
                    let j = ((b * s.h + iy) * s.w + ix) * s.c;
                    let xs = &x[j..j + s.c];
                    for (ch, ((best, a), &v)) in
                        y.iter_mut().zip(arg.iter_mut()).zip(xs).enumerate()
                    {
                        let gt = v > *best;
                        *best = if gt { v } else { *best };
                        *a = if gt { (j + ch) as u32 } else { *a };
                    }
                }
            }
        }
    }
}

/// `forward_image` compiled for AVX2, where the selects become blends (baseline x86-64 turns
/// them into branches).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_image_avx2(s: &PoolShape, x: &[f32], b: usize, y: &mut [f32], arg: &mut [u32]) {
    forward_image(s, x, b, y, arg)
}

/// Average pooling by the definition: the mean of each window's real pixels, summed in
/// row-major window order.
pub fn avg_forward_ref(s: &PoolShape, x: &[f32]) -> Vec<f32> {
    let mut y = Vec::with_capacity(s.y_len());
    for b in 0..s.n {
        for oy in 0..s.oh {
            for ox in 0..s.ow {
                for ch in 0..s.c {
                    let sum = window(s, b, oy, ox, ch).fold(0f32, |a, j| a + x[j]);
                    y.push(sum / s.count(oy, ox) as f32);
                }
            }
        }
    }
    y
}

/// Its gradient by the definition: each `dy / count` goes to every pixel of its window, in output
/// order.
pub fn avg_backward_ref(s: &PoolShape, dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f32; s.x_len()];
    let mut o = 0;
    for b in 0..s.n {
        for oy in 0..s.oh {
            for ox in 0..s.ow {
                for ch in 0..s.c {
                    let g = dy[o] / s.count(oy, ox) as f32;
                    for j in window(s, b, oy, ox, ch) {
                        dx[j] += g;
                    }
                    o += 1;
                }
            }
        }
    }
    dx
}

/// The CPU backend's average pooling into `y` (contents ignored): the same sums in the same
/// order as [`avg_forward_ref`], one image per task, channels innermost.
pub fn avg_forward_into(s: &PoolShape, x: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), s.y_len(), "avgpool: output length");
    let per = s.oh * s.ow * s.c;
    y.par_chunks_mut(per.max(1)).enumerate().for_each(|(b, y)| {
        for oy in 0..s.oh {
            let (r0, r1) = s.rows(oy);
            for ox in 0..s.ow {
                let (c0, c1) = s.cols(ox);
                let o = (oy * s.ow + ox) * s.c;
                let y = &mut y[o..o + s.c];
                y.fill(0.0);
                for iy in r0..r1 {
                    for ix in c0..c1 {
                        let j = ((b * s.h + iy) * s.w + ix) * s.c;
                        for (acc, &v) in y.iter_mut().zip(&x[j..j + s.c]) {
                            *acc += v;
                        }
                    }
                }
                let count = s.count(oy, ox) as f32;
                for v in y.iter_mut() {
                    *v /= count;
                }
            }
        }
    });
}

/// The CPU backend's average-pooling gradient into `dx` (contents ignored), in output order as
/// [`avg_backward_ref`].
pub fn avg_backward_into(s: &PoolShape, dy: &[f32], dx: &mut [f32]) {
    assert_eq!(dx.len(), s.x_len(), "avgpool: gradient length");
    let (per_x, per_y) = (s.h * s.w * s.c, s.oh * s.ow * s.c);
    dx.par_chunks_mut(per_x.max(1))
        .enumerate()
        .for_each(|(b, dx)| {
            dx.fill(0.0);
            let dy = &dy[b * per_y..(b + 1) * per_y];
            for oy in 0..s.oh {
                let (r0, r1) = s.rows(oy);
                for ox in 0..s.ow {
                    let (c0, c1) = s.cols(ox);
                    let count = s.count(oy, ox) as f32;
                    let g = &dy[(oy * s.ow + ox) * s.c..][..s.c];
                    for iy in r0..r1 {
                        for ix in c0..c1 {
                            let j = (iy * s.w + ix) * s.c;
                            for (d, &g) in dx[j..j + s.c].iter_mut().zip(g) {
                                *d += g / count;
                            }
                        }
                    }
                }
            }
        });
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    ph: u32,
    pw: u32,
    sh: u32,
    sw: u32,
    oh: u32,
    ow: u32,
    pad_top: u32,
    pad_left: u32,
    // Elements of y (forward) or of dx (backward).
    total: u32,
    // The fused entry points: the convolution's slabs, its activation and alpha.
    splits: u32,
    act: u32,
    alpha: f32,
}

fn params(s: &PoolShape, total: usize) -> Params {
    Params {
        n: s.n as u32,
        h: s.h as u32,
        w: s.w as u32,
        c: s.c as u32,
        ph: s.ph as u32,
        pw: s.pw as u32,
        sh: s.sh as u32,
        sw: s.sw as u32,
        oh: s.oh as u32,
        ow: s.ow as u32,
        pad_top: s.pad_top as u32,
        pad_left: s.pad_left as u32,
        total: total as u32,
        splits: 0,
        act: 0,
        alpha: 0.0,
    }
}

/// [`params`] with the convolution's activation and slabs, for the fused entry points.
fn conv_params(s: &PoolShape, total: usize, act: Act, splits: usize) -> Params {
    Params {
        splits: splits as u32,
        act: act.code(),
        alpha: act.alpha(),
        ..params(s, total)
    }
}

fn check_len(what: &str, t: &GpuTensor, want: usize) -> Result<()> {
    if t.len != want {
        bail!(
            "pooling: {what} has {} elements, the shape needs {want}",
            t.len
        );
    }
    Ok(())
}

/// Entry point `entry` over `total` elements (of `y` forward, of `dx` backward).
fn dispatch(
    ctx: &GpuContext,
    s: &PoolShape,
    entry: &str,
    total: usize,
    bind: &[(&str, &GpuTensor)],
) -> Result<Dispatch> {
    let p = params(s, total);
    ctx.dispatch_1d(SHADER, entry, bytemuck::bytes_of(&p), bind, total)
}

/// Max pooling: `y` and `argmax` (u32) from `x`.
pub fn forward(
    ctx: &GpuContext,
    s: &PoolShape,
    x: &GpuTensor,
    y: &GpuTensor,
    argmax: &GpuTensor,
) -> Result<Dispatch> {
    check_len("x", x, s.x_len())?;
    check_len("y", y, s.y_len())?;
    check_len("argmax", argmax, s.y_len())?;
    let bind = [("x", x), ("y", y), ("argmax", argmax)];
    dispatch(ctx, s, "max_forward", s.y_len(), &bind)
}

/// Max pooling's `dx` from `dy` and the forward's `argmax`, in gather form; writes every element
/// of `dx`.
pub fn backward(
    ctx: &GpuContext,
    s: &PoolShape,
    dy: &GpuTensor,
    argmax: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    check_len("dy", dy, s.y_len())?;
    check_len("argmax", argmax, s.y_len())?;
    check_len("dx", dx, s.x_len())?;
    let bind = [("dy", dy), ("argmax_in", argmax), ("dx", dx)];
    dispatch(ctx, s, "max_backward", s.x_len(), &bind)
}

/// The split slabs of a convolution's output (`splits` slabs of `s.x_len()` elements) and the
/// bias and activation its reduce would apply: what [`forward_slabs`] pools.
pub struct ConvSlabs<'a> {
    pub slabs: &'a GpuTensor,
    pub splits: usize,
    pub bias: &'a GpuTensor,
    pub act: Act,
}

/// Max pooling of a convolution's output that is never written: each element is summed from the
/// convolution's slabs, biased and activated as conv2d's `forward_reduce` does, so `y` and
/// `argmax` are the bits of the two ops unfused.
pub fn forward_slabs(
    ctx: &GpuContext,
    s: &PoolShape,
    conv: ConvSlabs,
    y: &GpuTensor,
    argmax: &GpuTensor,
) -> Result<Dispatch> {
    check_len(
        "the convolution's slabs",
        conv.slabs,
        conv.splits * s.x_len(),
    )?;
    check_len("bias", conv.bias, s.c)?;
    check_len("y", y, s.y_len())?;
    check_len("argmax", argmax, s.y_len())?;
    let p = conv_params(s, s.y_len(), conv.act, conv.splits);
    let bind = [
        ("partial", conv.slabs),
        ("bias", conv.bias),
        ("y", y),
        ("argmax", argmax),
    ];
    let d = ctx.dispatch_1d(
        SHADER,
        "max_forward_slabs",
        bytemuck::bytes_of(&p),
        &bind,
        s.y_len(),
    )?;
    // The window (its first element twice) times the slabs, one load each.
    let serial = ((s.ph * s.pw + 1) * conv.splits) as u64;
    Ok(d.with_work(Work {
        serial,
        loads: 1,
        flops: serial * s.y_len() as u64,
        ..Work::default()
    }))
}

/// Max pooling's backward pass and then the gradient before the activation `act` of the
/// convolution that fed it, in one gather: at each window's argmax the activation's output is
/// the pooled `y`. The bits of `backward` followed by `elementwise::act_backward`.
pub fn backward_act(
    ctx: &GpuContext,
    s: &PoolShape,
    [dy, argmax, y]: [&GpuTensor; 3],
    act: Act,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    check_len("dy", dy, s.y_len())?;
    check_len("argmax", argmax, s.y_len())?;
    check_len("y", y, s.y_len())?;
    check_len("dx", dx, s.x_len())?;
    let p = conv_params(s, s.x_len(), act, 0);
    let bind = [("dy", dy), ("argmax_in", argmax), ("y", y), ("dx", dx)];
    ctx.dispatch_1d(
        SHADER,
        "max_backward_act",
        bytemuck::bytes_of(&p),
        &bind,
        s.x_len(),
    )
}

/// `dx` of [`backward_act`] on the CPU: the pooling's scatter, then the activation's gradient
/// from the activation's output `act_y` (the pooling's input).
pub fn backward_act_ref(
    s: &PoolShape,
    dy: &[f32],
    argmax: &[u32],
    act: Act,
    act_y: &[f32],
) -> Vec<f32> {
    let g = backward_ref(s, dy, argmax);
    elementwise::act_backward_ref(act, act_y, &g)
}

/// The convolution's output [`forward_slabs`] pools, on the CPU: the slabs summed in order, the
/// bias and the activation.
pub fn slab_values_ref(s: &PoolShape, slabs: &[f32], bias: &[f32], act: Act) -> Vec<f32> {
    let len = s.x_len();
    (0..len)
        .map(|j| {
            let sum = (0..slabs.len() / len).fold(0.0f32, |a, k| a + slabs[k * len + j]);
            act.apply(sum + bias[j % s.c])
        })
        .collect()
}

/// Average pooling: `y` from `x`.
pub fn avg_forward(
    ctx: &GpuContext,
    s: &PoolShape,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<Dispatch> {
    check_len("x", x, s.x_len())?;
    check_len("y", y, s.y_len())?;
    dispatch(ctx, s, "avg_forward", s.y_len(), &[("x", x), ("y", y)])
}

/// Average pooling's `dx` from `dy`, in gather form; writes every element of `dx`.
pub fn avg_backward(
    ctx: &GpuContext,
    s: &PoolShape,
    dy: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    check_len("dy", dy, s.y_len())?;
    check_len("dx", dx, s.x_len())?;
    dispatch(ctx, s, "avg_backward", s.x_len(), &[("dy", dy), ("dx", dx)])
}

/// A max-pooling check case (valid padding): `[n, h, w, c, pool, strides]`, the window and the
/// strides as two digits each (`22` is 2x2).
pub type PoolCase = [usize; 6];

/// The odd cases of the checks: windows that overlap and leave a tail.
pub const ODD_CASES: [PoolCase; 2] = [[2, 7, 9, 3, 22, 22], [1, 9, 9, 2, 33, 22]];

/// The checks of `wgnn check` and the tests: the odd cases, then the models' max poolings (one
/// kernel for both families).
pub const CHECK: OpCheck = OpCheck {
    op: "pool",
    runs: Runs::Once(checks),
    models: ModelLayers::MaxPool2D,
};

fn checks(env: &Env, out: Sink) -> Result<()> {
    for (i, c) in ODD_CASES.into_iter().enumerate() {
        check_one(env.ctx, c, "", 500 + i as u64, out)?;
    }
    for (i, (name, c)) in env.models.pools.iter().enumerate() {
        check_one(env.ctx, *c, &format!(" ({name})"), 510 + i as u64, out)?;
    }
    Ok(())
}

/// Max and average pooling, forward and backward, of one case against the references, from
/// inputs drawn from `seed`; `origin` ends the shape's label.
pub fn check_one(
    ctx: &GpuContext,
    case: PoolCase,
    origin: &str,
    seed: u64,
    out: Sink,
) -> Result<()> {
    let [n, h, w, c, p, st] = case;
    let s = PoolShape::new(n, h, w, c, [p / 10, p % 10], [st / 10, st % 10])?;
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
    let f = forward(ctx, &s, &gx, &gy, &garg)?;
    let ms = timed(ctx, &[&f])?;
    let (want, arg) = forward_ref(&s, &x);
    out(Output {
        kernel: f.name.clone(),
        shape: shape.clone(),
        got: ctx.read_f32(&gy)?,
        want,
        ms,
    });
    let b = backward(ctx, &s, &gdy, &garg, &gdx)?;
    let ms = timed(ctx, &[&b])?;
    out(Output {
        kernel: b.name.clone(),
        shape: shape.clone(),
        got: ctx.read_f32(&gdx)?,
        want: backward_ref(&s, &dy, &arg),
        ms,
    });
    check_avg(ctx, &s, &shape, (&gx, &x), (&gdy, &dy), out)?;
    // Activations whose arithmetic is exact on both sides, so the argmax must match.
    let acts = [(Act::Relu, "ReLU"), (Act::LeakyRelu(0.1), "LeakyReLU 0.1")];
    for (k, act) in acts.into_iter().enumerate() {
        check_fused(ctx, &s, &shape, act, seed + 10 * (k as u64 + 1), out)?;
    }
    Ok(())
}

/// The entry points fused with a convolution (three slabs, then `act`), forward and backward,
/// against the references; the forward's argmax must match exactly (one row of 1s where it does).
fn check_fused(
    ctx: &GpuContext,
    s: &PoolShape,
    shape: &str,
    (act, act_name): (Act, &str),
    seed: u64,
    out: Sink,
) -> Result<()> {
    let splits = 3;
    let (slabs, bias) = (rand_vec(seed, splits * s.x_len()), rand_vec(seed + 1, s.c));
    let dy = rand_vec(seed + 2, s.y_len());
    let (gslabs, gbias) = (ctx.tensor(&slabs, "slabs")?, ctx.tensor(&bias, "bias")?);
    let gy = nan_tensor(ctx, s.y_len(), "y")?;
    let garg = ctx.alloc(s.y_len(), "argmax")?;
    let conv = ConvSlabs {
        slabs: &gslabs,
        splits,
        bias: &gbias,
        act,
    };
    let f = forward_slabs(ctx, s, conv, &gy, &garg)?;
    let ms = timed(ctx, &[&f])?;
    let act_y = slab_values_ref(s, &slabs, &bias, act);
    let (want, arg) = forward_ref(s, &act_y);
    let kernel = format!("{} + {act_name}", f.name);
    out(Output {
        kernel: kernel.clone(),
        shape: shape.to_string(),
        got: ctx.read_f32(&gy)?,
        want,
        ms,
    });
    let got = ctx.read_u32(&garg)?;
    out(exact(
        format!("{kernel} (argmax equal)"),
        shape.to_string(),
        &got,
        &arg,
        ms,
    ));
    let gdy = ctx.tensor(&dy, "dy")?;
    let gdx = nan_tensor(ctx, s.x_len(), "dx")?;
    let b = backward_act(ctx, s, [&gdy, &garg, &gy], act, &gdx)?;
    let ms = timed(ctx, &[&b])?;
    out(Output {
        kernel: format!("{} + {act_name}", b.name),
        shape: shape.to_string(),
        got: ctx.read_f32(&gdx)?,
        want: backward_act_ref(s, &dy, &arg, act, &act_y),
        ms,
    });
    Ok(())
}

/// Average pooling forward and backward of the same case against the references, from the
/// inputs already on the GPU (`gx`, `gdy`) and their host copies.
fn check_avg(
    ctx: &GpuContext,
    s: &PoolShape,
    shape: &str,
    (gx, x): (&GpuTensor, &[f32]),
    (gdy, dy): (&GpuTensor, &[f32]),
    out: Sink,
) -> Result<()> {
    let gy = nan_tensor(ctx, s.y_len(), "y")?;
    let gdx = nan_tensor(ctx, s.x_len(), "dx")?;
    let f = avg_forward(ctx, s, gx, &gy)?;
    let ms = timed(ctx, &[&f])?;
    out(Output {
        kernel: f.name.clone(),
        shape: shape.to_string(),
        got: ctx.read_f32(&gy)?,
        want: avg_forward_ref(s, x),
        ms,
    });
    let b = avg_backward(ctx, s, gdy, &gdx)?;
    let ms = timed(ctx, &[&b])?;
    out(Output {
        kernel: b.name.clone(),
        shape: shape.to_string(),
        got: ctx.read_f32(&gdx)?,
        want: avg_backward_ref(s, dy),
        ms,
    });
    Ok(())
}
