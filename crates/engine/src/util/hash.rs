//! The counter-based hash behind dropout masks and augmentation draws. Its WGSL twin is
//! `shaders/prelude/hash.wgsl`: the same u32 arithmetic, so every device and the CPU backend
//! draw the same bits from the same (seed, step, index).

/// Chris Wellons' lowbias32 integer hash (a bijection on u32).
#[inline(always)]
pub fn lowbias32(v: u32) -> u32 {
    let mut x = v;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}
