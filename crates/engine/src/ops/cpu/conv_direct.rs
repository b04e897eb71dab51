//! Convolutions with few input channels (the first layer of every preset: a 3x3 or 5x5 kernel over
//! one or three channels), computed directly on the CPU backend when the processor has AVX-512.
//! With K = 9 the implicit-GEMM tile of `cpu::conv` spends most of its time around a reduction of
//! three segments of three steps; here every tap's weights are one row, the taps' offsets into the
//! input are counted once per layer, and 32 vector registers hold a tile with no spills. A tile's
//! channels are two registers (32 channels) when the outputs come in whole groups of 32, else one
//! (16, the lanes past the last channel computed on zero weights and never stored).
//! - Forward ([`Direct::rows`]): six output pixels times 32 channels (or 12 times 16) per tile, the bits of
//!   `conv::Forward::rows` (the same sums in the same order: tap by tap from zero, then the
//!   bias, then ReLU), so fusing it with pooling keeps the unfused passes' bits.
//! - Weight gradient straight from a max pooling's gradient and argmax ([`weight_grad_pooled`]):
//!   the convolution's output gradient is zero except at each window's argmax, so each pixel's
//!   gradient is the window's, masked where the argmax is another pixel, made in registers; the
//!   full-size gradient is never written (11 MB for convnet's first layer at batch 128). A tile is
//!   nine taps times 32 (or 16) channels.
//!
//! Processors without AVX-512 (and other shapes) keep `cpu::conv`'s tile: an AVX2 copy of these
//! kernels, with half the registers, ran no faster than it (measured in docs/performance.md).
//! Tests: crates/engine/tests/ops_cpu_conv.rs, against the `conv2d::*_ref` oracle and the unfused passes.

// Off x86-64 `applies` is false and the kernels do not exist, so the preparation is never used.
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(dead_code, unused_imports, unused_variables)
)]

use super::conv::{input, pixel_cursor, Input};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::pool::PoolShape;
use crate::util::simd::Isa;
use rayon::prelude::*;

/// Accumulator registers of a forward tile: pixels times registers per pixel.
const TILE_REGS: usize = 12;
/// Taps per weight-gradient tile.
const TAPS: usize = 9;
/// Channels per register.
const LANES: usize = 16;
/// The most taps (kh * kw * cin) a convolution may have to run here: 5x5 over three channels.
const MAX_TAPS: usize = 75;
/// Fixed image splits of the weight gradient (fewer when the batch is smaller).
const WEIGHT_SPLITS: usize = 8;

/// Whether convolution `s` runs directly with instruction set `isa`: few taps and AVX-512.
pub fn applies(isa: Isa, s: &Conv2dShape) -> bool {
    s.kh * s.kw * s.cin <= MAX_TAPS && isa.avx512()
}

/// The input as the tiles read it, and where each tap reads from a window's first input.
struct Taps<'a> {
    s: Conv2dShape,
    xin: Input<'a>,
    /// Per tap (ky, kx, ci) in the weights' order, its offset from a window's first input.
    at: Vec<usize>,
}

impl<'a> Taps<'a> {
    /// Panics if `x` does not match the shape or `!applies(s)`.
    fn new(isa: Isa, s: &Conv2dShape, x: &'a [f32]) -> Self {
        assert!(
            applies(isa, s),
            "direct convolution: not for this shape or processor"
        );
        assert_eq!(x.len(), s.x_len(), "direct convolution: x length");
        let xin = input(s, x);
        let at = (0..s.kh * s.kw * s.cin)
            .map(|t| {
                let (k, c) = (t / s.cin, t % s.cin);
                ((k / s.kw) * xin.w + k % s.kw) * s.cin + c
            })
            .collect();
        Self { s: *s, xin, at }
    }

    /// The offset of the farthest input any window reads from its first.
    fn reach(&self) -> usize {
        self.at.last().copied().unwrap_or(0)
    }

    /// Registers per tile row: two when the channels come in whole groups of 32.
    fn regs(&self) -> usize {
        if self.s.cout.is_multiple_of(2 * LANES) {
            2
        } else {
            1
        }
    }

    /// Where output pixel (oy, ox) of image `img` reads its window's first input.
    fn window(&self, img: usize, oy: usize, ox: usize) -> usize {
        let s = &self.s;
        ((img * self.xin.h + oy * s.sh) * self.xin.w + ox * s.sw) * s.cin
    }
}

/// The forward pass prepared for one input and kernel.
pub struct Direct<'a> {
    taps: Taps<'a>,
    /// The weights `[taps][cpad]`, the channels padded with zeros to whole registers.
    w: Vec<f32>,
    cpad: usize,
}

impl<'a> Direct<'a> {
    /// Panics if `x` or `w` does not match the shape, or `!applies(s)`.
    pub fn new(isa: Isa, s: &Conv2dShape, x: &'a [f32], w: &[f32]) -> Self {
        assert_eq!(w.len(), s.w_len(), "direct convolution: weights length");
        let cpad = s.cout.next_multiple_of(LANES);
        let mut wp = vec![0f32; s.kh * s.kw * s.cin * cpad];
        for (dst, src) in wp.chunks_mut(cpad).zip(w.chunks(s.cout)) {
            dst[..s.cout].copy_from_slice(src);
        }
        Self {
            taps: Taps::new(isa, s, x),
            w: wp,
            cpad,
        }
    }

    /// Output pixels `r0..r0 + out.len() / cout` (flat over images and rows) into `out`, plus
    /// the bias, then ReLU when `relu`; every element of `out` is written.
    pub fn rows(&self, r0: usize, b: &[f32], relu: bool, out: &mut [f32]) {
        let s = &self.taps.s;
        assert_eq!(b.len(), s.cout, "direct convolution: bias length");
        let count = out.len() / s.cout;
        assert!(
            r0 + count <= s.n * s.oh * s.ow,
            "direct convolution: pixels past the batch"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Taps::new` checked `applies`: the processor has AVX-512F.
        unsafe {
            match self.taps.regs() {
                2 => rows_avx512::<2, { TILE_REGS / 2 }>(self, r0, count, b, relu, out),
                _ => rows_avx512::<1, TILE_REGS>(self, r0, count, b, relu, out),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("direct convolution: `applies` is false off x86-64");
    }
}

/// [`Direct::rows`]: tiles of `P` pixels (the last repeats its last real pixel, whose results
/// are not stored) times `V` registers of channels, summed tap by tap in registers.
///
/// # Safety
/// The processor has AVX-512F, `V * 16` divides `cpad`, and pixels `r0..r0 + count` are in the
/// batch.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_avx512<const V: usize, const P: usize>(
    d: &Direct,
    r0: usize,
    count: usize,
    b: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (t, n, cpad) = (&d.taps, d.taps.s.cout, d.cpad);
    let x: &[f32] = &t.xin.x;
    let mut next = pixel_cursor(&t.s, &t.xin, r0);
    for g0 in (0..count).step_by(P) {
        let live = P.min(count - g0);
        let mut at = [0usize; P];
        for i in 0..P {
            at[i] = if i < live { next() } else { at[live - 1] };
        }
        // Every window lies inside the (padded) input, as `input` makes it; pixels ascend.
        assert!(
            at[live - 1] + t.reach() < x.len(),
            "direct convolution: x bounds"
        );
        for c0 in (0..cpad).step_by(V * LANES) {
            let mut acc = [[_mm512_setzero_ps(); V]; P];
            for (k, &off) in t.at.iter().enumerate() {
                let wk = &d.w[k * cpad + c0..][..V * LANES];
                // SAFETY: `wk` holds V * 16 floats; the x loads are bounded by the assert above.
                unsafe {
                    let wv: [__m512; V] =
                        std::array::from_fn(|v| _mm512_loadu_ps(wk.as_ptr().add(v * LANES)));
                    for (row, &a0) in acc.iter_mut().zip(&at) {
                        let a = _mm512_set1_ps(*x.get_unchecked(a0 + off));
                        for (r, &w) in row.iter_mut().zip(&wv) {
                            *r = _mm512_fmadd_ps(a, w, *r);
                        }
                    }
                }
            }
            let wc = (V * LANES).min(n - c0);
            for (i, row) in acc.iter().enumerate().take(live) {
                let v = spill(row);
                let o = &mut out[(g0 + i) * n + c0..][..wc];
                // The expression of `cpu::conv`'s store, for its bits.
                for ((o, &v), &bv) in o.iter_mut().zip(&v).zip(&b[c0..c0 + wc]) {
                    *o = if relu { (v + bv).max(0.0) } else { v + bv };
                }
            }
        }
    }
}

/// A tile row's registers as floats (32 of them; the first `V * 16` are the row's).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn spill<const V: usize>(row: &[std::arch::x86_64::__m512; V]) -> [f32; 2 * LANES] {
    use std::arch::x86_64::*;
    let mut v = [0f32; 2 * LANES];
    for (k, r) in row.iter().enumerate().take(2) {
        // SAFETY: `v` holds 32 floats and k < 2.
        unsafe { _mm512_storeu_ps(v.as_mut_ptr().add(k * LANES), *r) };
    }
    v
}

/// `(dw [kh,kw,cin,cout], db [cout])` of convolution `s` from the gradient `dy` of the max
/// pooling `p` after it (the activation's gradient already applied) and that pooling's argmax
/// (flat indices into the convolution's output, as `pool::forward_into` gives them). Same result
/// as scattering `dy` and running `conv2d::backward_weights_ref`, to rounding; the same bits for
/// every thread count (fixed image splits added in order). Panics if `!applies(s)`, the pooling
/// does not read the convolution's output, or a length does not match.
pub fn weight_grad_pooled(
    isa: Isa,
    s: &Conv2dShape,
    p: &PoolShape,
    x: &[f32],
    dy: &[f32],
    arg: &[u32],
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(
        (p.n, p.h, p.w, p.c),
        (s.n, s.oh, s.ow, s.cout),
        "direct convolution: the pooling does not read this convolution's output"
    );
    assert_eq!(
        (dy.len(), arg.len()),
        (p.y_len(), p.y_len()),
        "direct convolution: pooled gradient length"
    );
    let t = Taps::new(isa, s, x);
    let per = s.n.div_ceil(WEIGHT_SPLITS.min(s.n));
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|q| {
            let images = q * per..s.n.min((q + 1) * per);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Taps::new` checked `applies`: AVX-512F.
            unsafe {
                match t.regs() {
                    2 => weight_split::<2>(&t, p, dy, arg, images),
                    _ => weight_split::<1>(&t, p, dy, arg, images),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            unreachable!("direct convolution: `applies` is false off x86-64")
        })
        .collect();
    let mut dw = vec![0f32; s.w_len()];
    let mut db = vec![0f32; s.cout];
    for (pw, pb) in &parts {
        dw.iter_mut().zip(pw).for_each(|(d, &v)| *d += v);
        db.iter_mut().zip(pb).for_each(|(d, &v)| *d += v);
    }
    (dw, db)
}

/// One split's partial `(dw, db)`: for every tile of nine taps times `V` registers of channels,
/// the sum over the split's pooling windows, in order, of each window pixel's inputs times its
/// masked gradient.
///
/// # Safety
/// The processor has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn weight_split<const V: usize>(
    t: &Taps,
    p: &PoolShape,
    dy: &[f32],
    arg: &[u32],
    images: std::ops::Range<usize>,
) -> (Vec<f32>, Vec<f32>) {
    use std::arch::x86_64::*;
    let s = &t.s;
    let (taps, n) = (t.at.len(), s.cout);
    let mut dw = vec![0f32; taps * n];
    let mut db = vec![0f32; n];
    let per_pooled = p.oh * p.ow * n;
    // The split's farthest window (its last image's last pixel) lies inside the padded input.
    let far = t.window(images.end - 1, s.oh - 1, s.ow - 1);
    assert!(
        far + t.reach() < t.xin.x.len(),
        "direct convolution: x bounds"
    );
    for g0 in (0..taps).step_by(TAPS) {
        let live = TAPS.min(taps - g0);
        let offs: [usize; TAPS] = std::array::from_fn(|i| t.at[g0 + i.min(live - 1)]);
        for c0 in (0..n).step_by(V * LANES) {
            let wc = (V * LANES).min(n - c0);
            let mut acc = [[_mm512_setzero_ps(); V]; TAPS];
            for img in images.clone() {
                let o = img * per_pooled;
                let g = Gradient {
                    dy: &dy[o..o + per_pooled],
                    arg: &arg[o..o + per_pooled],
                    c0,
                    wc,
                };
                // SAFETY: AVX-512F by the contract; the windows are inside (assert above).
                unsafe { image_tile(t, p, img, &g, &offs, &mut acc) };
            }
            for (i, row) in acc.iter().enumerate().take(live) {
                let v = spill(row);
                let d = &mut dw[(g0 + i) * n + c0..][..wc];
                d.iter_mut().zip(&v).for_each(|(d, &v)| *d += v);
            }
        }
    }
    for img in images {
        let o = img * per_pooled;
        for row in dy[o..o + per_pooled].chunks(n) {
            db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
        }
    }
    (dw, db)
}

/// One image's pooled gradient and argmax, and the channels `c0..c0 + wc` a tile takes.
struct Gradient<'a> {
    dy: &'a [f32],
    arg: &'a [u32],
    c0: usize,
    wc: usize,
}

/// Adds image `img`'s share to a weight-gradient tile: every pooling window in order, every
/// pixel of the window in order, the pixel's inputs at the tile's taps times the window's
/// gradient where the argmax is this pixel (zero elsewhere, and in lanes past `wc`).
///
/// # Safety
/// The processor has AVX-512F, and `img`'s windows at `offs` lie inside the (padded) input.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn image_tile<const V: usize>(
    t: &Taps,
    p: &PoolShape,
    img: usize,
    g: &Gradient,
    offs: &[usize; TAPS],
    acc: &mut [[std::arch::x86_64::__m512; V]; TAPS],
) {
    use std::arch::x86_64::*;
    let (s, x) = (&t.s, &t.xin.x[..]);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Per register, the lanes that hold channels (all but in a last, part-filled register).
    let live: [__mmask16; V] = std::array::from_fn(|v| {
        let k = g.wc.saturating_sub(v * LANES).min(LANES);
        ((1u32 << k) - 1) as __mmask16
    });
    for py in 0..p.oh {
        for px in 0..p.ow {
            let o = (py * p.ow + px) * s.cout + g.c0;
            let (gy, ga) = (&g.dy[o..o + g.wc], &g.arg[o..o + g.wc]);
            // SAFETY: masked loads read only the `wc` values of `gy` and `ga`; x is inside by the
            // caller's contract.
            unsafe {
                let gy: [__m512; V] = std::array::from_fn(|v| {
                    _mm512_maskz_loadu_ps(live[v], gy.as_ptr().wrapping_add(v * LANES))
                });
                let ga: [__m512i; V] = std::array::from_fn(|v| {
                    _mm512_maskz_loadu_epi32(live[v], ga.as_ptr().wrapping_add(v * LANES).cast())
                });
                for wy in 0..p.ph {
                    for wx in 0..p.pw {
                        let (oy, ox) = (py * p.ph + wy, px * p.pw + wx);
                        let flat = ((img * s.oh + oy) * s.ow + ox) * s.cout + g.c0;
                        let gp: [__m512; V] = std::array::from_fn(|v| {
                            let i = _mm512_set1_epi32((flat + v * LANES) as i32);
                            let here = _mm512_cmpeq_epi32_mask(ga[v], _mm512_add_epi32(i, lane));
                            _mm512_maskz_mov_ps(here, gy[v])
                        });
                        let a0 = t.window(img, oy, ox);
                        for (row, &off) in acc.iter_mut().zip(offs) {
                            let a = _mm512_set1_ps(*x.get_unchecked(a0 + off));
                            for (r, &gv) in row.iter_mut().zip(&gp) {
                                *r = _mm512_fmadd_ps(a, gv, *r);
                            }
                        }
                    }
                }
            }
        }
    }
}
