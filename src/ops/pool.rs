//! Max pooling, NHWC, Keras `MaxPooling2D` with valid padding. Kernels: `shaders/pool.wgsl`;
//! tests: `tests/ops_pool.rs`.
//!
//! Layouts: `x`, `dx` `[n, h, w, c]`; `y`, `dy`, `argmax` `[n, oh, ow, c]`. `argmax` holds u32: the
//! flat index into `x` of each window's maximum (the first in row-major window order wins ties).

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use crate::bail;
use crate::error::Result;
use crate::runtime::{grid_1d, Dispatch, GpuContext, GpuTensor};
use crate::util::simd::has_avx2_fma;

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
                bail!("max pooling: {name} is 0");
            }
        }
        if ph > h || pw > w {
            bail!("max pooling: pool {ph}x{pw} is larger than the input {h}x{w}");
        }
        let s = Self {
            n,
            h,
            w,
            c,
            ph,
            pw,
            sh,
            sw,
            oh: (h - ph) / sh + 1,
            ow: (w - pw) / sw + 1,
        };
        // Saturating u128: a product of four usizes cannot wrap.
        let elems = [n, h, w, c]
            .iter()
            .fold(1u128, |a, &v| a.saturating_mul(v as u128));
        if elems > u32::MAX as u128 {
            bail!(
                "max pooling: the input of {n}x{h}x{w}x{c} = {elems} elements is too large for 32-bit indexing (at most {})",
                u32::MAX
            );
        }
        Ok(s)
    }

    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    pub fn y_len(&self) -> usize {
        self.n * self.oh * self.ow * self.c
    }
}

/// `(y, argmax)`; argmax is the flat index into `x` of the first maximum of each window.
pub fn forward_ref(s: &PoolShape, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let mut y = vec![0f32; s.y_len()];
    let mut arg = vec![0u32; s.y_len()];
    forward_into(s, x, &mut y, &mut arg);
    (y, arg)
}

/// `forward_ref` into `y` and `arg`, whose contents are ignored: every element is written.
pub fn forward_into(s: &PoolShape, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
    assert_eq!(
        (y.len(), arg.len()),
        (s.y_len(), s.y_len()),
        "maxpool: output length"
    );
    let per = s.oh * s.ow * s.c;
    // One image per task: the same values as a plain loop, in parallel.
    let avx2 = has_avx2_fma();
    y.par_chunks_mut(per.max(1))
        .zip(arg.par_chunks_mut(per.max(1)))
        .enumerate()
        .for_each(|(b, (y, arg))| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: `has_avx2_fma` found the features the copy is compiled for.
                return unsafe { forward_image_avx2(s, x, b, y, arg) };
            }
            forward_image(s, x, b, y, arg)
        });
}

/// `dx [n,h,w,c]`: each `dy` goes to its window's argmax (summed where windows overlap).
pub fn backward_ref(s: &PoolShape, dy: &[f32], argmax: &[u32]) -> Vec<f32> {
    let mut dx = vec![0f32; s.x_len()];
    backward_into(s, dy, argmax, &mut dx);
    dx
}

/// `backward_ref` into `dx`, whose contents are ignored (each task clears its image, in cache).
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
        for ox in 0..s.ow {
            let o = (oy * s.ow + ox) * s.c;
            let (y, arg) = (&mut y[o..o + s.c], &mut arg[o..o + s.c]);
            let first = ((b * s.h + oy * s.sh) * s.w + ox * s.sw) * s.c;
            y.copy_from_slice(&x[first..first + s.c]);
            for (a, idx) in arg.iter_mut().zip(first as u32..) {
                *a = idx;
            }
            for ki in 0..s.ph {
                for kj in 0..s.pw {
                    let j = first + (ki * s.w + kj) * s.c;
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
    total: u32,
    _pad: u32,
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
        total: total as u32,
        _pad: 0,
    }
}

fn check_len(what: &str, t: &GpuTensor, want: usize) -> Result<()> {
    if t.len != want {
        bail!(
            "max pooling: {what} has {} elements, the shape needs {want}",
            t.len
        );
    }
    Ok(())
}

/// `y` and `argmax` (u32) from `x`.
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
    let p = params(s, s.y_len());
    ctx.dispatch(
        SHADER,
        "max_forward",
        bytemuck::bytes_of(&p),
        &[("x", x), ("y", y), ("argmax", argmax)],
        grid_1d(s.y_len(), 256),
    )
}

/// `dx` from `dy` and the forward's `argmax`, in gather form; writes every element of `dx`.
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
    let p = params(s, s.x_len());
    ctx.dispatch(
        SHADER,
        "max_backward",
        bytemuck::bytes_of(&p),
        &[("dy", dy), ("argmax_in", argmax), ("dx", dx)],
        grid_1d(s.x_len(), 256),
    )
}
