// Included by the shaders that draw random numbers (dropout, gather): the counter-based hash of
// src/util/hash.rs, so the GPU and the CPU backend draw the same bits.

// Chris Wellons' lowbias32 integer hash (a bijection on u32).
fn lowbias32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

