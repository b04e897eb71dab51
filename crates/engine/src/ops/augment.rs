//! Data augmentation inside the batch gather: each training image gets a random affine transform
//! (shift, rotation, zoom about its centre) sampled bilinearly, zero outside the image. The
//! transform is a counter-based hash of (64-bit seed, step t, sample index), in u32 arithmetic
//! identical here and in `shaders/gather.wgsl` (entry point `gather_augment`), so both backends
//! draw the same transforms; only sin/cos may differ in their last bits between devices.
//! Tests: `crates/engine/tests/ops_augment.rs`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::util::hash::lowbias32;

/// The largest transform: up to `shift` pixels in x and y, `rotate` degrees either way, a zoom
/// of 1 ± `scale`. Each is drawn uniformly per image and step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub shift: f32,
    pub rotate: f32,
    pub scale: f32,
}

impl FromStr for Augment {
    type Err = Error;

    /// `shift=2,rotate=10,scale=0.1`, any of them (the others are 0); `none` is all 0 (no
    /// augmentation, which turns off a model's default).
    fn from_str(s: &str) -> Result<Self> {
        let mut a = Augment {
            shift: 0.0,
            rotate: 0.0,
            scale: 0.0,
        };
        let bad = |why: String| {
            Error::msg(format!(
                "`{s}`: {why} (expected e.g. shift=2,rotate=10,scale=0.1)"
            ))
        };
        if s.trim() == "none" {
            return Ok(a);
        }
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not NAME=VALUE")))?;
            let v: f32 = match v.trim().parse() {
                Ok(v) if f32::is_finite(v) && v >= 0.0 => v,
                _ => return Err(bad(format!("`{v}` is not a number >= 0"))),
            };
            match k.trim() {
                "shift" => a.shift = v,
                "rotate" => a.rotate = v,
                "scale" if v < 1.0 => a.scale = v,
                "scale" => return Err(bad("scale must be below 1".into())),
                other => return Err(bad(format!("unknown transform `{other}`"))),
            }
        }
        Ok(a)
    }
}

impl Augment {
    /// Every amount 0: the identity transform, i.e. no augmentation.
    pub fn is_off(&self) -> bool {
        self.shift == 0.0 && self.rotate == 0.0 && self.scale == 0.0
    }
}

impl std::fmt::Display for Augment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shift={},rotate={},scale={}",
            self.shift, self.rotate, self.scale
        )
    }
}

/// Four uniform numbers in [-1, 1) for sample `sample` at step `t`.
pub fn draws(seed: u64, t: u32, sample: u32) -> [f32; 4] {
    let (lo, hi) = crate::ops::step::StepParams::seed_words(seed);
    let key = lowbias32(lo ^ 0x2545_f491) ^ lowbias32(hi);
    let mut h = lowbias32(lowbias32(key ^ t) ^ lowbias32(sample.wrapping_add(0x632b_e5ab)));
    let mut out = [0f32; 4];
    for o in &mut out {
        h = lowbias32(h.wrapping_add(0x9e37_79b9));
        // 24 bits: exact in f32 on every device.
        *o = (h >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0;
    }
    out
}

/// The source position of output pixel (ox, oy): the inverse of shift, rotation and zoom about
/// the image centre.
#[allow(clippy::too_many_arguments)]
fn source(d: [f32; 4], a: &Augment, h: usize, w: usize, ox: usize, oy: usize) -> (f32, f32) {
    let (cx, cy) = ((w as f32 - 1.0) * 0.5, (h as f32 - 1.0) * 0.5);
    let (dx, dy) = (d[0] * a.shift, d[1] * a.shift);
    let angle = d[2] * a.rotate * (std::f32::consts::PI / 180.0);
    let zoom = 1.0 + d[3] * a.scale;
    let (sn, cs) = angle.sin_cos();
    let x = ox as f32 - cx - dx;
    let y = oy as f32 - cy - dy;
    ((cs * x + sn * y) / zoom + cx, (cs * y - sn * x) / zoom + cy)
}

/// `gather_cpu` with each image transformed: x [max_batch, h*w*c] in [0, 1].
#[allow(clippy::too_many_arguments)]
pub fn gather_augment_cpu(
    images: &[u8],
    labels_all: &[u8],
    [h, w, c]: [usize; 3],
    perm: &[u32],
    offset: usize,
    batch: usize,
    max_batch: usize,
    seed: u64,
    t: u32,
    a: &Augment,
) -> (Vec<f32>, Vec<u32>) {
    let len = h * w * c;
    let mut x = vec![0f32; max_batch * len];
    let mut labels = vec![0u32; max_batch];
    for b in 0..batch.min(max_batch) {
        let s = perm[offset + b] as usize;
        let img = &images[s * len..(s + 1) * len];
        let d = draws(seed, t, s as u32);
        let out = &mut x[b * len..(b + 1) * len];
        for oy in 0..h {
            for ox in 0..w {
                let (sx, sy) = source(d, a, h, w, ox, oy);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = (sx - x0, sy - y0);
                for ch in 0..c {
                    let tap = |xx: f32, yy: f32| -> f32 {
                        if xx < 0.0 || yy < 0.0 || xx > (w - 1) as f32 || yy > (h - 1) as f32 {
                            return 0.0;
                        }
                        img[(yy as usize * w + xx as usize) * c + ch] as f32 / 255.0
                    };
                    let top = tap(x0, y0) * (1.0 - fx) + tap(x0 + 1.0, y0) * fx;
                    let bottom = tap(x0, y0 + 1.0) * (1.0 - fx) + tap(x0 + 1.0, y0 + 1.0) * fx;
                    out[(oy * w + ox) * c + ch] = top * (1.0 - fy) + bottom * fy;
                }
            }
        }
        labels[b] = labels_all[s] as u32;
    }
    (x, labels)
}
