//! Inverted dropout, Keras semantics: keep with probability 1 - rate, scale kept values by
//! 1 / (1 - rate). Kernels: `shaders/dropout.wgsl`; tests: `crates/engine/tests/ops_dropout.rs`.
//!
//! The mask is a counter-based hash of (64-bit seed, t, layer, element index) in u32 arithmetic, written
//! identically here and in WGSL: element i is kept iff `hash >= threshold(rate)`, so the same seed
//! gives the same mask on every device and on the CPU, with no random state to carry.

use crate::util::simd::Isa;
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::check_case::{
    nan_tensor, rand_vec, timed, Env, ModelLayers, OpCheck, Output, Runs, Sink,
};
use super::step::StepParams;
use crate::bail;
use crate::error::Result;
use crate::runtime::{Dispatch, GpuContext, GpuTensor};
use crate::util::hash::lowbias32;

const SHADER: &str = "dropout";

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    threshold: u32,
    scale: f32,
    layer: u32,
}

/// The high seed word enters through `lowbias32(hi)`, which is 0 for seeds below 2^32.
fn stream_key(seed: u64, t: u32, layer: u32) -> u32 {
    let (lo, hi) = crate::ops::step::StepParams::seed_words(seed);
    let k = lowbias32(lo ^ 0x9e37_79b9) ^ lowbias32(hi);
    let k2 = lowbias32(k ^ t);
    lowbias32(k2 ^ layer.wrapping_mul(0x85eb_ca6b))
}

#[inline(always)]
fn element_hash(key: u32, i: u32) -> u32 {
    lowbias32(lowbias32(i ^ key).wrapping_add(lowbias32(key.wrapping_add(0x68e3_1da4))))
}

/// The integer threshold for `rate` in [0, 1]: element kept iff hash >= threshold(rate), i.e.
/// with probability 1 - threshold / 2^32 (saturates at u32::MAX for rate 1).
pub fn threshold(rate: f32) -> u32 {
    let t = (rate.clamp(0.0, 1.0) as f64 * 4_294_967_296.0).floor();
    t.min(u32::MAX as f64) as u32
}

fn check_rate(rate: f32) -> Result<()> {
    if !(0.0..1.0).contains(&rate) {
        bail!("dropout: rate {rate} must be in [0, 1)");
    }
    Ok(())
}

fn scale(rate: f32) -> f32 {
    1.0 / (1.0 - rate)
}

/// The mask for `n` elements: 0 (dropped) or 1/(1-rate) (kept).
pub fn mask_ref(n: usize, rate: f32, seed: u64, t: u32, layer: u32) -> Vec<f32> {
    let mut mask = vec![0f32; n];
    mask_into(Isa::Portable, rate, (seed, t, layer), &mut mask);
    mask
}

/// `mask_ref` for `mask.len()` elements into `mask` (contents ignored).
pub fn mask_into(isa: Isa, rate: f32, (seed, t, layer): (u64, u32, u32), mask: &mut [f32]) {
    let thr = threshold(rate);
    let s = scale(rate);
    let key = stream_key(seed, t, layer);
    #[cfg(target_arch = "x86_64")]
    let avx2 = isa.avx2();
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    mask.par_chunks_mut(CHUNK).enumerate().for_each(|(c, m)| {
        let first = (c * CHUNK) as u32;
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `Isa::avx2` found the features the copy is compiled for.
            return unsafe { mask_chunk_avx2(key, thr, s, first, m) };
        }
        mask_chunk(key, thr, s, first, m)
    });
}

/// Mask elements `first..` into `m`: a plain loop, so the u32 hash vectorises.
#[inline(always)]
fn mask_chunk(key: u32, thr: u32, scale: f32, first: u32, m: &mut [f32]) {
    for (v, i) in m.iter_mut().zip(first..) {
        *v = if element_hash(key, i) >= thr {
            scale
        } else {
            0.0
        };
    }
}

/// `mask_chunk` compiled for AVX2, which multiplies eight u32 at once (baseline x86-64 has no
/// packed 32-bit multiply, so the hash stays scalar there).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn mask_chunk_avx2(key: u32, thr: u32, scale: f32, first: u32, m: &mut [f32]) {
    mask_chunk(key, thr, scale, first, m)
}

pub fn forward_ref(x: &[f32], mask: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    forward_into(x, mask, &mut y);
    y
}

/// y = x * mask into `y` (contents ignored).
pub fn forward_into(x: &[f32], mask: &[f32], y: &mut [f32]) {
    assert_eq!(
        (x.len(), mask.len()),
        (y.len(), y.len()),
        "dropout: lengths"
    );
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(mask.par_chunks(CHUNK)))
        .for_each(|(y, (x, m))| {
            for (y, (&x, &m)) in y.iter_mut().zip(x.iter().zip(m)) {
                *y = x * m;
            }
        });
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// dx = dy * mask (the same product as the forward).
pub fn backward_ref(dy: &[f32], mask: &[f32]) -> Vec<f32> {
    forward_ref(dy, mask)
}

/// `backward_ref` overwriting `dy` with the result.
pub fn backward_in_place(dy: &mut [f32], mask: &[f32]) {
    assert_eq!(dy.len(), mask.len(), "dropout: lengths");
    dy.par_chunks_mut(CHUNK)
        .zip(mask.par_chunks(CHUNK))
        .for_each(|(g, m)| {
            for (g, &m) in g.iter_mut().zip(m) {
                *g *= m;
            }
        });
}

fn check_len(what: &str, t: &GpuTensor, n: usize) -> Result<()> {
    if n == 0 {
        bail!("dropout: zero elements");
    }
    if n > u32::MAX as usize {
        bail!("dropout: {n} elements do not fit 32-bit indexing");
    }
    if t.len != n {
        bail!("dropout: {what} has {} elements, expected {n}", t.len);
    }
    Ok(())
}

/// y = x * mask and writes the mask (all [n]); seed and t come from the `step` record, `layer`
/// separates the streams of different dropout layers. rate in [0, 1).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    ctx: &GpuContext,
    n: usize,
    rate: f32,
    layer: u32,
    x: &GpuTensor,
    step: &GpuTensor,
    y: &GpuTensor,
    mask: &GpuTensor,
) -> Result<Dispatch> {
    check_rate(rate)?;
    check_len("x", x, n)?;
    check_len("y", y, n)?;
    check_len("mask", mask, n)?;
    if step.len < crate::ops::step::STEP_WORDS {
        bail!(
            "dropout: step record has {} words, expected {}",
            step.len,
            crate::ops::step::STEP_WORDS
        );
    }
    let p = Params {
        n: n as u32,
        threshold: threshold(rate),
        scale: scale(rate),
        layer,
    };
    ctx.dispatch_1d(
        SHADER,
        "dropout_forward",
        bytemuck::bytes_of(&p),
        &[("step", step), ("x", x), ("y", y), ("mask", mask)],
        n,
    )
}

/// dx = dy * mask, all [n].
pub fn backward(
    ctx: &GpuContext,
    n: usize,
    dy: &GpuTensor,
    mask: &GpuTensor,
    dx: &GpuTensor,
) -> Result<Dispatch> {
    check_len("dy", dy, n)?;
    check_len("mask", mask, n)?;
    check_len("dx", dx, n)?;
    let p = Params {
        n: n as u32,
        threshold: 0,
        scale: 1.0,
        layer: 0,
    };
    ctx.dispatch_1d(
        SHADER,
        "dropout_backward",
        bytemuck::bytes_of(&p),
        &[("dy", dy), ("mask_in", mask), ("y", dx)],
        n,
    )
}

pub const CHECK: OpCheck = OpCheck {
    op: "dropout",
    runs: Runs::Once(checks),
    models: ModelLayers::None,
};

/// (elements, rate, seed, step, layer): one element, odd lengths past a workgroup, and a seed past
/// 32 bits (its high word must reach the GPU hash too).
const CHECK_CASES: [(usize, f32, u64, u32, u32); 4] = [
    (1, 0.5, 0, 1, 0),
    (4097, 0.1, 7, 100, 1),
    (30_001, 0.75, 123_456_789, 9, 2),
    (5000, 0.3, u64::MAX, 3, 1),
];

fn checks(env: &Env, out: Sink) -> Result<()> {
    let ctx = env.ctx;
    for (n, rate, seed, t, layer) in CHECK_CASES {
        let shape = format!("{n} values, rate {rate}, seed {seed}, step {t}, layer {layer}");
        let x = rand_vec(n as u64 ^ seed, n);
        let dy = rand_vec(n as u64 + 99, n);
        let (lo, hi) = StepParams::seed_words(seed);
        let step = StepParams {
            batch: 1,
            t,
            seed: lo,
            seed_hi: hi,
            ..Default::default()
        };
        let gstep = ctx.tensor(&[step], "step")?;
        let (gx, gdy) = (ctx.tensor(&x, "x")?, ctx.tensor(&dy, "dy")?);
        let (gy, gm) = (nan_tensor(ctx, n, "y")?, nan_tensor(ctx, n, "mask")?);
        let gdx = nan_tensor(ctx, n, "dx")?;
        let f = forward(ctx, n, rate, layer, &gx, &gstep, &gy, &gm)?;
        let ms = timed(ctx, &[&f])?;
        let mask = mask_ref(n, rate, seed, t, layer);
        // The mask is a hash of the same bits on both sides: compared exactly, as values.
        let mut got = ctx.read_f32(&gm)?;
        got.extend(ctx.read_f32(&gy)?);
        let mut want = mask.clone();
        want.extend(forward_ref(&x, &mask));
        out(Output {
            kernel: "dropout::dropout_forward".into(),
            shape: format!("{shape}: mask, y"),
            got,
            want,
            ms,
        });
        let b = backward(ctx, n, &gdy, &gm, &gdx)?;
        let ms = timed(ctx, &[&b])?;
        out(Output {
            kernel: "dropout::dropout_backward".into(),
            shape,
            got: ctx.read_f32(&gdx)?,
            want: backward_ref(&dy, &mask),
            ms,
        });
    }
    Ok(())
}
