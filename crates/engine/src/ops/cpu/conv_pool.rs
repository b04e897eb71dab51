//! A convolution and its activation followed by a max pooling whose windows tile the rows
//! (stride = pool size, no padding), fused on the CPU backend: the convolution's output rows
//! under one row of pooling windows are computed into a strip that stays in cache and pooled
//! from there, so the full-size activation is never written nor read back. The results are the
//! bits of the unfused passes (`conv::forward_into`, the activation, `pool::forward_into`):
//! the same tiles, the same activation function, the same window order and tie rule. Backward
//! needs only the pooled output and the argmax (the activation's gradient is read at the argmax,
//! where the activation's value is the pooled one). Tests: crates/engine/tests/ops_cpu_conv.rs.

use super::conv::Forward;
use super::conv_direct::{self, Direct};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::elementwise::Act;
use crate::ops::pool::PoolShape;
use crate::util::simd::Isa;
use rayon::prelude::*;

/// Whether pooling `p` can follow convolution `s` fused: its input is the convolution's output
/// and its windows tile the rows without padding or overlap.
pub fn fusable(s: &Conv2dShape, p: &PoolShape) -> bool {
    (p.n, p.h, p.w, p.c) == (s.n, s.oh, s.ow, s.cout)
        && (p.sh, p.sw) == (p.ph, p.pw)
        && p.pad_top == 0
        && p.pad_left == 0
        && p.oh * p.ph <= p.h
        && p.ow * p.pw <= p.w
}

/// `y = maxpool(act(x (*) w + b))` into `y` and `arg` (flat indices into the unfused convolution
/// output, as `pool::forward_into` gives them); every element of both is written. Panics if
/// `!fusable(s, p)` or a length does not match.
#[allow(clippy::too_many_arguments)]
pub fn forward_into(
    isa: Isa,
    (s, p): (&Conv2dShape, &PoolShape),
    x: &[f32],
    w: &[f32],
    b: &[f32],
    act: Act,
    y: &mut [f32],
    arg: &mut [u32],
) {
    assert!(
        fusable(s, p),
        "conv + pool: the pooling does not tile the rows"
    );
    assert_eq!(
        (y.len(), arg.len()),
        (p.y_len(), p.y_len()),
        "conv + pool: output length"
    );
    let conv = Conv::new(isa, s, x, w);
    let per = p.oh * p.ow * p.c;
    #[cfg(target_arch = "x86_64")]
    let avx2 = isa.avx2();
    // One image per task; one strip (ph rows of the convolution's output) at a time.
    y.par_chunks_mut(per.max(1))
        .zip(arg.par_chunks_mut(per.max(1)))
        .enumerate()
        .for_each(|(img, (y, arg))| {
            let row = s.ow * s.cout;
            let mut strip = vec![0f32; p.ph * row];
            for py in 0..p.oh {
                let first = (img * s.oh + py * p.ph) * s.ow;
                conv.rows(first, b, act == Act::Relu, &mut strip);
                if !matches!(act, Act::Relu | Act::Linear) {
                    strip.iter_mut().for_each(|v| *v = act.apply(*v));
                }
                let o = py * p.ow * p.c;
                let (y, arg) = (&mut y[o..o + p.ow * p.c], &mut arg[o..o + p.ow * p.c]);
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: `Isa::avx2` found the features the copy is compiled for.
                    unsafe { pool_strip_avx2(p, &strip, first * s.cout, y, arg) };
                    continue;
                }
                pool_strip(p, &strip, first * s.cout, y, arg);
            }
        });
}

/// The convolution's forward pass as the strips read it: the direct kernel for few input
/// channels (the same bits, in a fraction of the time), else the implicit-GEMM tile.
enum Conv<'a> {
    Direct(Direct<'a>),
    Tile(Forward<'a>),
}

impl<'a> Conv<'a> {
    fn new(isa: Isa, s: &Conv2dShape, x: &'a [f32], w: &[f32]) -> Self {
        if conv_direct::applies(isa, s) {
            Self::Direct(Direct::new(isa, s, x, w))
        } else {
            Self::Tile(Forward::new(isa, s, x, w))
        }
    }

    fn rows(&self, r0: usize, b: &[f32], relu: bool, out: &mut [f32]) {
        match self {
            Self::Direct(d) => d.rows(r0, b, relu, out),
            Self::Tile(f) => f.rows(r0, b, relu, out),
        }
    }
}

/// `pool_strip` compiled for AVX2, where the selects become blends (baseline x86-64 turns them
/// into branches).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_strip_avx2(
    p: &PoolShape,
    strip: &[f32],
    base: usize,
    y: &mut [f32],
    arg: &mut [u32],
) {
    pool_strip(p, strip, base, y, arg)
}

/// One row of pooling windows over `strip` (`ph` rows of `[w, c]`), whose first element is
/// element `base` of the convolution's output. Windows in row-major order, the first strictly
/// greatest value winning, as `pool::forward_into`.
#[inline(always)]
fn pool_strip(p: &PoolShape, strip: &[f32], base: usize, y: &mut [f32], arg: &mut [u32]) {
    let c = p.c;
    for ox in 0..p.ow {
        let first = ox * p.pw * c;
        let o = ox * c;
        // Groups of 16 channels, then 8 (tiny's 8 and 16 filters), then one at a time.
        let mut c0 = 0;
        while c0 + LANES <= c {
            c0 = window_group::<LANES>(p, strip, (base, first, o), c0, y, arg);
        }
        while c0 + LANES / 2 <= c {
            c0 = window_group::<{ LANES / 2 }>(p, strip, (base, first, o), c0, y, arg);
        }
        while c0 < c {
            c0 = window_group::<1>(p, strip, (base, first, o), c0, y, arg);
        }
    }
}

/// Channels `c0..c0 + L` of one window (`window_lanes`) into `y` and `arg` at `o`; returns the
/// next group's first channel.
#[inline(always)]
fn window_group<const L: usize>(
    p: &PoolShape,
    strip: &[f32],
    (base, first, o): (usize, usize, usize),
    c0: usize,
    y: &mut [f32],
    arg: &mut [u32],
) -> usize {
    let (best, at) = window_lanes::<L>(p, strip, base, first, c0);
    y[o + c0..][..L].copy_from_slice(&best);
    arg[o + c0..][..L].copy_from_slice(&at);
    c0 + L
}

/// Channels per vector group of `pool_strip`.
const LANES: usize = 16;

/// The maximum and argmax of channels `c0..c0 + L` over the window whose first element is
/// `strip[first]`. Fixed-size arrays (no copies of run-time length, which become `memcpy`
/// calls), which the compiler turns into vector compares and blends.
#[inline(always)]
fn window_lanes<const L: usize>(
    p: &PoolShape,
    strip: &[f32],
    base: usize,
    first: usize,
    c0: usize,
) -> ([f32; L], [u32; L]) {
    let c = p.c;
    let mut best: [f32; L] = strip[first + c0..][..L].try_into().expect("L values");
    let mut at = [0u32; L];
    for (l, a) in at.iter_mut().enumerate() {
        *a = (base + first + c0 + l) as u32;
    }
    for iy in 0..p.ph {
        for ix in 0..p.pw {
            let j = first + (iy * p.w + ix) * c + c0;
            let v: &[f32; L] = strip[j..j + L].try_into().expect("L values");
            let idx = (base + j) as u32;
            for l in 0..L {
                let gt = v[l] > best[l];
                best[l] = if gt { v[l] } else { best[l] };
                at[l] = if gt { idx + l as u32 } else { at[l] };
            }
        }
    }
    (best, at)
}
