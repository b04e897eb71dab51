//! The CPU backend's convolution as implicit GEMM over `cpu::tile`'s register tile, without the
//! patch matrices of `ops::im2col` (which stays as a tested alternative):
//! - forward: each tile is six output pixels (any six: each row has its own offset into x) times
//!   a panel of the packed weights, summed window row by window row: within one window row the
//!   kw*cin inputs of a pixel are contiguous in x, so a window row is one segment;
//! - input gradient: each tile of dy·Wᵀ for one tap is added straight into dx (in cache, one
//!   image per task), instead of writing the patch gradient and scattering it back (col2im);
//! - weight gradient: each tile is six (tap, input channel) rows times a panel of dy read in
//!   place, summed over the output rows of a block of images (one segment per output row).
//!
//! Same padding reads a zero-padded copy of x (one pass over x instead of the nine of a 3x3 patch
//! matrix). Results do not depend on the thread count: every output element is summed by one
//! task in a fixed order, and the weight gradient's fixed image splits are added in a fixed order.
//! The plain loops of `conv2d::*_ref` are the oracle (crates/engine/tests/ops_cpu_conv.rs).

use std::borrow::Cow;

use super::tile::{accumulate, Body, Operands, Seg, MR};
use crate::ops::conv2d::Conv2dShape;
use crate::util::simd::Isa;
use rayon::prelude::*;

/// Output pixels per forward task (a multiple of MR): enough work to amortise scheduling.
const TASK_ROWS: usize = 16 * MR;
/// Fixed image splits of the weight gradient (fewer when the batch is smaller).
const WEIGHT_SPLITS: usize = 8;
/// Floats of x and dy a weight-gradient block aims to keep in L2 while every tile passes over it.
const BLOCK_FLOATS: usize = 1 << 16;

/// x as the tiles read it: the input itself, or a zero-padded copy when a window leaves the
/// image; `h` and `w` are its dimensions, and every window lies inside them.
pub(super) struct Input<'a> {
    pub(super) x: Cow<'a, [f32]>,
    pub(super) h: usize,
    pub(super) w: usize,
}

/// The dimensions `(h, w)` of the zero-padded copy of x that shape `s` reads, or None when every
/// window lies inside the input.
fn padded_dims(s: &Conv2dShape) -> Option<(usize, usize)> {
    let hp = (s.oh - 1) * s.sh + s.kh;
    let wp = (s.ow - 1) * s.sw + s.kw;
    if s.pad_top == 0 && s.pad_left == 0 && hp <= s.h && wp <= s.w {
        return None;
    }
    Some((hp.max(s.h + s.pad_top), wp.max(s.w + s.pad_left)))
}

/// Floats of the zero-padded input copy the passes make (0 when they read x in place).
pub fn padded_input_len(s: &Conv2dShape) -> usize {
    padded_dims(s).map_or(0, |(h, w)| s.n * h * w * s.cin)
}

/// The input of shape `s`, padded with zeros when some window reaches outside it.
pub(super) fn input<'a>(s: &Conv2dShape, x: &'a [f32]) -> Input<'a> {
    let Some((hp, wp)) = padded_dims(s) else {
        return Input {
            x: Cow::Borrowed(x),
            h: s.h,
            w: s.w,
        };
    };
    let mut xp = vec![0f32; s.n * hp * wp * s.cin];
    let row = s.w * s.cin;
    xp.par_chunks_mut(hp * wp * s.cin)
        .zip(x.par_chunks(s.h * row))
        .for_each(|(dst, src)| {
            for (y, src_row) in src.chunks(row).enumerate() {
                let at = ((y + s.pad_top) * wp + s.pad_left) * s.cin;
                dst[at..at + row].copy_from_slice(src_row);
            }
        });
    Input {
        x: Cow::Owned(xp),
        h: hp,
        w: wp,
    }
}

/// `[k, n]` (element `get(kk, j)`) as panels of `nr` columns: `[n / nr][k][nr]`, zero-padded.
fn pack(nr: usize, k: usize, n: usize, get: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let panels = n.div_ceil(nr);
    let mut out = vec![0f32; panels * k * nr];
    for (p, panel) in out.chunks_mut(k * nr).enumerate() {
        for (kk, row) in panel.chunks_mut(nr).enumerate() {
            for (jj, v) in row.iter_mut().enumerate().take(n - p * nr) {
                *v = get(kk, p * nr + jj);
            }
        }
    }
    out
}

/// The offsets of rows `r0..r0 + MR` (those past `end` repeat the last real row, whose results
/// are not stored) and how many are real.
fn row_offsets(r0: usize, end: usize, offset: impl Fn(usize) -> usize) -> ([usize; MR], usize) {
    let live = MR.min(end - r0);
    let mut rows = [0usize; MR];
    for (i, r) in rows.iter_mut().enumerate() {
        *r = offset(r0 + i.min(live - 1));
    }
    (rows, live)
}

/// The forward pass prepared for one input and kernel: the packed weights and the segments of
/// a window, so that any run of output pixels can be computed (`rows`).
pub struct Forward<'a> {
    s: Conv2dShape,
    xin: Input<'a>,
    body: Body,
    /// The bias and ReLU run 8 lanes wide.
    avx2: bool,
    panels: Vec<f32>,
    /// Per panel of output channels, one segment per window row.
    segs: Vec<Vec<Seg>>,
}

impl<'a> Forward<'a> {
    /// Panics if `x` or `w` does not match the shape.
    pub fn new(isa: Isa, s: &Conv2dShape, x: &'a [f32], w: &[f32]) -> Self {
        assert_eq!(x.len(), s.x_len(), "conv forward: x length");
        assert_eq!(w.len(), s.w_len(), "conv forward: weights length");
        let xin = input(s, x);
        let (body, k, n) = (Body::for_width(s.cout, isa), s.kh * s.kw * s.cin, s.cout);
        let nr = body.nr();
        let panels = pack(nr, k, n, |kk, j| w[kk * n + j]);
        // A window row is kw*cin contiguous inputs, and the matching rows of the panel.
        let segs = (0..n.div_ceil(nr))
            .map(|p| {
                (0..s.kh)
                    .map(|ky| Seg {
                        a: ky * xin.w * s.cin,
                        b: p * k * nr + ky * s.kw * s.cin * nr,
                        len: s.kw * s.cin,
                    })
                    .collect()
            })
            .collect();
        Self {
            s: *s,
            xin,
            body,
            avx2: isa.avx2(),
            panels,
            segs,
        }
    }

    /// Output pixels `r0..r0 + out.len() / cout` (flat over images and rows) into `out`, plus the
    /// bias, then ReLU when `relu`; every element of `out` is written.
    pub fn rows(&self, r0: usize, b: &[f32], relu: bool, out: &mut [f32]) {
        let (n, nr) = (self.s.cout, self.body.nr());
        assert_eq!(b.len(), n, "conv forward: bias length");
        let r_end = r0 + out.len() / n;
        let mut next = pixel_cursor(&self.s, &self.xin, r0);
        let mut acc = vec![0f32; MR * nr];
        for g0 in (r0..r_end).step_by(MR) {
            let tile: [usize; MR] = std::array::from_fn(|_| next());
            let (rows, live) = row_offsets(g0, r_end, |r| tile[r - g0]);
            let op = Operands {
                a: &self.xin.x,
                rows,
                a_step: 1,
                b: &self.panels,
                b_step: nr,
            };
            for (p, segs) in self.segs.iter().enumerate() {
                acc.fill(0.0);
                accumulate(self.body, &op, segs, &mut acc);
                let (j0, wc) = (p * nr, nr.min(n - p * nr));
                let tile = Tile {
                    acc: &acc,
                    nr,
                    live,
                    bias: &b[j0..j0 + wc],
                };
                let out = &mut out[(g0 - r0) * n + j0..];
                #[cfg(target_arch = "x86_64")]
                if self.avx2 {
                    // SAFETY: `Isa::avx2` found the features the copy is compiled for.
                    unsafe { store_avx2(&tile, relu, out, n) };
                    continue;
                }
                store(&tile, relu, out, n);
            }
        }
    }
}

/// Where in the (padded) input `xin` the windows of output pixels `r0`, `r0 + 1`, ... (flat over
/// images and rows) start, one per call, counted along the rows rather than divided out per pixel
/// (three divisions a pixel, against nine multiply-adds a channel when the input has one
/// channel). Calls past the last pixel return offsets that are never read.
pub(super) fn pixel_cursor<'s>(
    s: &'s Conv2dShape,
    xin: &'s Input,
    r0: usize,
) -> impl FnMut() -> usize + 's {
    let per = s.oh * s.ow;
    let (mut img, rest) = (r0 / per, r0 % per);
    let (mut oy, mut ox) = (rest / s.ow, rest % s.ow);
    let (h, w) = (xin.h, xin.w);
    move || {
        let at = ((img * h + oy * s.sh) * w + ox * s.sw) * s.cin;
        ox += 1;
        if ox == s.ow {
            (ox, oy) = (0, oy + 1);
            if oy == s.oh {
                (oy, img) = (0, img + 1);
            }
        }
        at
    }
}

/// One panel's finished tile: `live` rows of `acc` (rows `nr` apart), `bias.len()` columns.
struct Tile<'a> {
    acc: &'a [f32],
    nr: usize,
    live: usize,
    bias: &'a [f32],
}

/// `store` compiled for AVX2, where the bias and ReLU run 8 lanes wide (baseline x86-64: 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_avx2(t: &Tile, relu: bool, out: &mut [f32], ld: usize) {
    store(t, relu, out, ld)
}

/// The tile plus the bias, then ReLU when `relu`, into rows `ld` apart of `out`.
#[inline(always)]
fn store(t: &Tile, relu: bool, out: &mut [f32], ld: usize) {
    let wc = t.bias.len();
    for i in 0..t.live {
        let (o, a) = (&mut out[i * ld..][..wc], &t.acc[i * t.nr..][..wc]);
        if relu {
            for ((o, &v), &bv) in o.iter_mut().zip(a).zip(t.bias) {
                *o = (v + bv).max(0.0);
            }
        } else {
            for ((o, &v), &bv) in o.iter_mut().zip(a).zip(t.bias) {
                *o = v + bv;
            }
        }
    }
}

/// `y = x (*) w + b`, then ReLU when `relu`; every element of `y` is written. Same result as
/// `conv2d::forward_ref` to rounding.
pub fn forward_into(
    isa: Isa,
    s: &Conv2dShape,
    (x, w, b): (&[f32], &[f32], &[f32]),
    relu: bool,
    y: &mut [f32],
) {
    assert_eq!(y.len(), s.y_len(), "conv forward: y length");
    let f = Forward::new(isa, s, x, w);
    y.par_chunks_mut(TASK_ROWS * s.cout)
        .enumerate()
        .for_each(|(t, yc)| f.rows(t * TASK_ROWS, b, relu, yc));
}

/// `dx` (`[n, h, w, cin]`) from `w` and `dy`; every element is written. Same result as
/// `conv2d::backward_input_ref` to rounding. One image per task: each tile of dy·Wᵀ for one tap
/// is added into the input pixels it came from, so dx is summed tap by tap in a fixed order.
/// (The forward pass of the transposed convolution, over dy padded by k - 1, would also multiply
/// that padding's zeros: 40% more work at convnet's 13x13, and slower here, 4.3-4.5 against
/// 3.8-3.9 ms.)
pub fn backward_input_into(isa: Isa, s: &Conv2dShape, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(w.len(), s.w_len(), "conv input gradient: weights length");
    assert_eq!(dy.len(), s.y_len(), "conv input gradient: dy length");
    assert_eq!(dx.len(), s.x_len(), "conv input gradient: dx length");
    let (cin, cout) = (s.cin, s.cout);
    let (body, taps) = (Body::for_width(cin, isa), s.kh * s.kw);
    let nr = body.nr();
    let np = cin.div_ceil(nr);
    // Per tap, Wᵀ ([cout, cin]) as panels over cin.
    let wt: Vec<f32> = (0..taps)
        .flat_map(|t| pack(nr, cout, cin, |co, c| w[(t * cin + c) * cout + co]))
        .collect();
    let opix = s.oh * s.ow;
    dx.par_chunks_mut(s.h * s.w * cin)
        .zip(dy.par_chunks(opix * cout))
        .for_each(|(img, dyi)| {
            img.fill(0.0);
            let mut acc = vec![0f32; MR * nr];
            for r0 in (0..opix).step_by(MR) {
                let (rows, live) = row_offsets(r0, opix, |r| r * cout);
                // The rows' output positions, divided out once per tile rather than per tap.
                let at: [(usize, usize); MR] =
                    std::array::from_fn(|i| (((r0 + i) / s.ow) * s.sh, ((r0 + i) % s.ow) * s.sw));
                let op = Operands {
                    a: dyi,
                    rows,
                    a_step: 1,
                    b: &wt,
                    b_step: nr,
                };
                for t in 0..taps {
                    let dest = tap_destinations(s, (t / s.kw, t % s.kw), &at, live);
                    for p in 0..np {
                        let seg = Seg {
                            a: 0,
                            b: (t * np + p) * cout * nr,
                            len: cout,
                        };
                        acc.fill(0.0);
                        accumulate(body, &op, &[seg], &mut acc);
                        let cols = (p * nr, nr.min(cin - p * nr));
                        scatter(isa, img, &dest, (&acc, nr), cols);
                    }
                }
            }
        });
}

/// Where each of a tile's rows (output positions `at`, the first `live` of them) sends its
/// gradient through tap `(ky, kx)`: the offset of that input pixel's first channel in the
/// image, or None where the tap reads padding.
fn tap_destinations(
    s: &Conv2dShape,
    (ky, kx): (usize, usize),
    at: &[(usize, usize); MR],
    live: usize,
) -> [Option<usize>; MR] {
    std::array::from_fn(|i| {
        let (y0, x0) = at[i];
        let iy = (y0 + ky).checked_sub(s.pad_top)?;
        let ix = (x0 + kx).checked_sub(s.pad_left)?;
        (i < live && iy < s.h && ix < s.w).then_some((iy * s.w + ix) * s.cin)
    })
}

/// Adds the tile's rows (`acc`, rows `nr` apart) into their input pixels (`dest`), columns
/// `j0..j0 + wc` of each pixel's channels; one call per tile and panel, so that the AVX2 copy's
/// adds inline.
fn scatter(
    isa: Isa,
    img: &mut [f32],
    dest: &[Option<usize>; MR],
    (acc, nr): (&[f32], usize),
    (j0, wc): (usize, usize),
) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        // SAFETY: `Isa::avx2` found the features the copy is compiled for.
        return unsafe { scatter_avx2(img, dest, (acc, nr), (j0, wc)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    scatter_rows(img, dest, (acc, nr), (j0, wc))
}

/// `scatter_rows` compiled for AVX2 (8 lanes; baseline x86-64: 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scatter_avx2(
    img: &mut [f32],
    dest: &[Option<usize>; MR],
    (acc, nr): (&[f32], usize),
    (j0, wc): (usize, usize),
) {
    scatter_rows(img, dest, (acc, nr), (j0, wc))
}

#[inline(always)]
fn scatter_rows(
    img: &mut [f32],
    dest: &[Option<usize>; MR],
    (acc, nr): (&[f32], usize),
    (j0, wc): (usize, usize),
) {
    for (i, d) in dest.iter().enumerate() {
        if let Some(px) = d {
            add(&mut img[px + j0..][..wc], &acc[i * nr..][..wc]);
        }
    }
}

/// `d += v`, element by element.
#[inline(always)]
fn add(d: &mut [f32], v: &[f32]) {
    for (d, &v) in d.iter_mut().zip(v) {
        *d += v;
    }
}

/// `(dw [kh,kw,cin,cout], db [cout])` from `x` and `dy`. Same result as
/// `conv2d::backward_weights_ref` to rounding, and the same for every thread count: the batch is
/// cut into at most `WEIGHT_SPLITS` fixed runs of images, each summed by one task, then added in
/// order.
pub fn backward_weights(isa: Isa, s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), s.x_len(), "conv weight gradient: x length");
    assert_eq!(dy.len(), s.y_len(), "conv weight gradient: dy length");
    let xin = input(s, x);
    let (body, cout) = (Body::for_width(s.cout, isa), s.cout);
    let nr = body.nr();
    // dy is B, read in place; when its rows are not whole panels, from a copy padded with zeros.
    let ld = cout.next_multiple_of(nr);
    let dyb: Cow<[f32]> = if ld == cout {
        Cow::Borrowed(dy)
    } else {
        let mut d = vec![0f32; s.n * s.oh * s.ow * ld];
        for (dst, src) in d.chunks_mut(ld).zip(dy.chunks(cout)) {
            dst[..cout].copy_from_slice(src);
        }
        Cow::Owned(d)
    };
    let per = s.n.div_ceil(WEIGHT_SPLITS.min(s.n));
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|q| weight_split(s, &xin, &dyb, ld, body, q * per..s.n.min((q + 1) * per)))
        .collect();
    let m = s.kh * s.kw * s.cin;
    let (np, groups) = (ld / nr, m.div_ceil(MR));
    let mut dw = vec![0f32; m * cout];
    let mut db = vec![0f32; cout];
    for (tiles, dbp) in &parts {
        // Tile (g, p) holds rows g*MR.. and columns p*nr.. of the sum.
        for (t, tile) in tiles.chunks(MR * nr).enumerate() {
            let (g, p) = (t / np, t % np);
            for i in 0..MR.min(m - g * MR) {
                let (j0, wc) = (p * nr, nr.min(cout - p * nr));
                let row = &mut dw[(g * MR + i) * cout + j0..][..wc];
                for (d, &v) in row.iter_mut().zip(&tile[i * nr..]) {
                    *d += v;
                }
            }
        }
        debug_assert_eq!(tiles.len(), groups * np * MR * nr);
        for (d, &v) in db.iter_mut().zip(dbp) {
            *d += v;
        }
    }
    (dw, db)
}

/// One split's partial weight gradient over `images`, as tiles `[groups][panels][MR][nr]`, and its
/// partial bias gradient. Images go in blocks that fit L2, and every tile passes over a block.
fn weight_split(
    s: &Conv2dShape,
    xin: &Input,
    dy: &[f32],
    ld: usize,
    body: Body,
    images: std::ops::Range<usize>,
) -> (Vec<f32>, Vec<f32>) {
    let nr = body.nr();
    let (m, np) = (s.kh * s.kw * s.cin, ld / nr);
    let groups = m.div_ceil(MR);
    let mut tiles = vec![0f32; groups * np * MR * nr];
    let mut db = vec![0f32; s.cout];
    // Row (ky, kx, c) of A reads x at this offset from a window's top-left input.
    let tap = |r: usize| {
        let (t, c) = (r / s.cin, r % s.cin);
        ((t / s.kw) * xin.w + t % s.kw) * s.cin + c
    };
    let per_image = xin.h * xin.w * s.cin + s.oh * s.ow * ld;
    let block = (BLOCK_FLOATS / per_image).max(1);
    for b0 in images.clone().step_by(block) {
        let b1 = (b0 + block).min(images.end);
        // One segment per output row: ow steps of sw*cin in x and of one dy row.
        let segs: Vec<Vec<Seg>> = (0..np)
            .map(|p| {
                (b0 * s.oh..b1 * s.oh)
                    .map(|r| Seg {
                        a: ((r / s.oh * xin.h + r % s.oh * s.sh) * xin.w) * s.cin,
                        b: r * s.ow * ld + p * nr,
                        len: s.ow,
                    })
                    .collect()
            })
            .collect();
        for g in 0..groups {
            let (rows, _) = row_offsets(g * MR, m, tap);
            let op = Operands {
                a: &xin.x,
                rows,
                a_step: s.sw * s.cin,
                b: dy,
                b_step: ld,
            };
            for (p, segs) in segs.iter().enumerate() {
                let tile = &mut tiles[(g * np + p) * MR * nr..][..MR * nr];
                accumulate(body, &op, segs, tile);
            }
        }
        for row in dy[b0 * s.oh * s.ow * ld..b1 * s.oh * s.ow * ld].chunks(ld) {
            for (d, &v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
    }
    (tiles, db)
}
