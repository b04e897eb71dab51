//! The register tile of the CPU backend's implicit-GEMM convolutions (`ops::cpu::conv`): `MR` rows
//! of A, each at its own offset, times one `nr`-wide panel of B, summed over a list of segments.
//! The rows' own offsets let a tile take any six output pixels (across row and image borders), and
//! the segments let one tile walk a window row by row (forward) or an image output row by output
//! row (weight gradient) without a patch matrix. Three bodies, chosen at run time so one binary
//! runs anywhere: AVX-512 (32 columns, two zmm per row: Zen 4 runs each 512-bit FMA as two
//! 256-bit halves, so the gain is half the loads per FMA), AVX2+FMA and NEON (16 columns) and
//! plain Rust, as the graph's instruction set (`util::simd::Isa`) allows.
//! Every body sums each element in the same order (segment by segment, step by step, fused
//! multiply-add where the processor has it), so the width changes speed, not results.

use crate::util::simd::Isa;

/// Rows of A per tile.
pub const MR: usize = 6;

/// One run of the reduction: at step `kk` of `len`, row i of A is `a[a + rows[i] + kk * a_step]`
/// and B is `b[b + kk * b_step..][..nr]`.
#[derive(Clone, Copy, Debug)]
pub struct Seg {
    pub a: usize,
    pub b: usize,
    pub len: usize,
}

/// What a tile reads: A with its rows' offsets and step, B with its step.
pub struct Operands<'a> {
    pub a: &'a [f32],
    pub rows: [usize; MR],
    pub a_step: usize,
    pub b: &'a [f32],
    pub b_step: usize,
}

/// The body a tile runs with, which fixes the panel width `nr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Avx512,
    Avx2,
    Neon,
    Scalar,
}

impl Body {
    /// The widest body `isa` allows for B panels of a matrix `n` columns wide: AVX-512 only when
    /// `n` fills its 32 columns, else the 16-wide one (less zero padding to compute).
    pub fn for_width(n: usize, isa: Isa) -> Self {
        if isa.avx512() && n.is_multiple_of(32) {
            Body::Avx512
        } else if isa.avx2() {
            Body::Avx2
        } else if isa == Isa::Neon && isa.supported() {
            Body::Neon
        } else {
            Body::Scalar
        }
    }

    /// Whether this processor runs the body (a guard for the unchecked bodies).
    pub fn supported(self) -> bool {
        match self {
            Body::Avx512 => Isa::Avx512.supported(),
            Body::Avx2 => Isa::Avx2.supported(),
            Body::Neon => Isa::Neon.supported(),
            Body::Scalar => true,
        }
    }

    /// Every body this processor runs, widest first (the tests run each).
    pub fn available() -> Vec<Self> {
        [Body::Avx512, Body::Avx2, Body::Neon, Body::Scalar]
            .into_iter()
            .filter(|b| b.supported())
            .collect()
    }

    /// Columns of B per panel.
    pub fn nr(self) -> usize {
        match self {
            Body::Avx512 => 32,
            Body::Avx2 | Body::Neon | Body::Scalar => 16,
        }
    }
}

/// `acc[i * nr + j] += Σ_seg Σ_kk A[i](seg, kk) · B(seg, kk)[j]`, `acc` being the tile
/// (`MR * kind.nr()` floats, row-major). Panics if a segment reads outside A or B (the bodies'
/// loads are unchecked, so the bounds are checked here once per segment).
pub fn accumulate(kind: Body, op: &Operands, segs: &[Seg], acc: &mut [f32]) {
    let nr = kind.nr();
    assert!(
        kind.supported(),
        "tile: {kind:?} is not supported by this processor"
    );
    assert_eq!(acc.len(), MR * nr, "tile: accumulator size");
    let far_row = op.rows.iter().copied().max().unwrap_or(0);
    for s in segs.iter().filter(|s| s.len > 0) {
        assert!(
            s.a + far_row + (s.len - 1) * op.a_step < op.a.len(),
            "tile: A bounds"
        );
        assert!(
            s.b + (s.len - 1) * op.b_step + nr <= op.b.len(),
            "tile: B bounds"
        );
    }
    match kind {
        #[cfg(target_arch = "x86_64")]
        Body::Avx512 => {
            let acc: &mut [f32; MR * 32] = acc.try_into().expect("checked above");
            // SAFETY: `supported` found avx512f; bounds checked above.
            unsafe { body_avx512(op, segs, acc) }
        }
        #[cfg(target_arch = "x86_64")]
        Body::Avx2 => {
            let acc: &mut [f32; MR * 16] = acc.try_into().expect("checked above");
            // SAFETY: `supported` found AVX2 and FMA; bounds checked above.
            unsafe { body_avx2(op, segs, acc) }
        }
        #[cfg(target_arch = "aarch64")]
        Body::Neon => {
            let acc: &mut [f32; MR * 16] = acc.try_into().expect("checked above");
            // SAFETY: NEON is part of every aarch64 processor; bounds checked above.
            unsafe { body_neon(op, segs, acc) }
        }
        _ => {
            let acc: &mut [f32; MR * 16] = acc.try_into().expect("checked above");
            // SAFETY: bounds checked above.
            unsafe { body::<false>(op, segs, acc) }
        }
    }
}

/// The 16-wide body with NEON's fused multiply-add: four q registers per row, 24 accumulators of
/// the 32 registers. It fuses each multiply-add in the order `body::<true>` does, so it gives the
/// AVX2 body's bits.
///
/// # Safety
/// Every segment's loads lie inside A and B (as `accumulate` checks).
#[cfg(target_arch = "aarch64")]
unsafe fn body_neon(op: &Operands, segs: &[Seg], acc: &mut [f32; MR * 16]) {
    use std::arch::aarch64::*;
    let p = acc.as_mut_ptr();
    // SAFETY: `acc` holds MR * 16 floats; A and B loads are inside by the caller's bounds.
    unsafe {
        let mut c = [[vdupq_n_f32(0.0); 4]; MR];
        for (i, row) in c.iter_mut().enumerate() {
            for (q, v) in row.iter_mut().enumerate() {
                *v = vld1q_f32(p.add(i * 16 + q * 4));
            }
        }
        let (a, b) = (op.a.as_ptr(), op.b.as_ptr());
        let rows = op.rows;
        for s in segs {
            let (mut pa, mut pb) = (a.add(s.a), b.add(s.b));
            for _ in 0..s.len {
                let bq = [
                    vld1q_f32(pb),
                    vld1q_f32(pb.add(4)),
                    vld1q_f32(pb.add(8)),
                    vld1q_f32(pb.add(12)),
                ];
                for (row, &r) in c.iter_mut().zip(&rows) {
                    let av = vdupq_n_f32(*pa.add(r));
                    for (v, &bv) in row.iter_mut().zip(&bq) {
                        *v = vfmaq_f32(*v, av, bv);
                    }
                }
                pa = pa.wrapping_add(op.a_step);
                pb = pb.wrapping_add(op.b_step);
            }
        }
        for (i, row) in c.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                vst1q_f32(p.add(i * 16 + q * 4), *v);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn body_avx2(op: &Operands, segs: &[Seg], acc: &mut [f32; MR * 16]) {
    // SAFETY: the caller's bounds.
    unsafe { body::<true>(op, segs, acc) }
}

/// The 16-wide body in fixed-size loops that the compiler keeps in registers and vectorises
/// (with AVX2 inside `body_avx2`); `FMA` fuses the multiply-add only where the instruction
/// exists (elsewhere `mul_add` is a slow library call).
///
/// # Safety
/// Every segment's loads lie inside A and B (as `accumulate` checks).
#[inline(always)]
unsafe fn body<const FMA: bool>(op: &Operands, segs: &[Seg], acc: &mut [f32; MR * 16]) {
    let mut c = [[0f32; 16]; MR];
    for (i, row) in c.iter_mut().enumerate() {
        row.copy_from_slice(&acc[i * 16..][..16]);
    }
    for s in segs {
        for kk in 0..s.len {
            let bo = s.b + kk * op.b_step;
            // SAFETY: inside B by the caller's bounds.
            let brow = unsafe { op.b.get_unchecked(bo..bo + 16) };
            let b: &[f32; 16] = brow.try_into().expect("16 values");
            let ao = s.a + kk * op.a_step;
            for (row, &r) in c.iter_mut().zip(&op.rows) {
                // SAFETY: inside A by the caller's bounds.
                let ai = unsafe { *op.a.get_unchecked(ao + r) };
                for (v, &bj) in row.iter_mut().zip(b) {
                    *v = if FMA {
                        ai.mul_add(bj, *v)
                    } else {
                        *v + ai * bj
                    };
                }
            }
        }
    }
    for (i, row) in c.iter().enumerate() {
        acc[i * 16..][..16].copy_from_slice(row);
    }
}

/// The 32-wide body: two zmm accumulators per row, written with intrinsics (the compiler's
/// vectoriser may split 512-bit loops into 256-bit halves).
///
/// # Safety
/// The processor has avx512f, and every segment's loads lie inside A and B.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn body_avx512(op: &Operands, segs: &[Seg], acc: &mut [f32; MR * 32]) {
    use std::arch::x86_64::*;
    let p = acc.as_mut_ptr();
    // SAFETY: `acc` holds MR * 32 floats; A and B loads are inside by the caller's bounds.
    unsafe {
        let mut c = [[_mm512_setzero_ps(); 2]; MR];
        for (i, row) in c.iter_mut().enumerate() {
            row[0] = _mm512_loadu_ps(p.add(i * 32));
            row[1] = _mm512_loadu_ps(p.add(i * 32 + 16));
        }
        let (a, b) = (op.a.as_ptr(), op.b.as_ptr());
        let rows = op.rows;
        for s in segs {
            let (mut pa, mut pb) = (a.add(s.a), b.add(s.b));
            for _ in 0..s.len {
                let b0 = _mm512_loadu_ps(pb);
                let b1 = _mm512_loadu_ps(pb.add(16));
                for (row, &r) in c.iter_mut().zip(&rows) {
                    let av = _mm512_set1_ps(*pa.add(r));
                    row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(av, b1, row[1]);
                }
                pa = pa.wrapping_add(op.a_step);
                pb = pb.wrapping_add(op.b_step);
            }
        }
        for (i, row) in c.iter().enumerate() {
            _mm512_storeu_ps(p.add(i * 32), row[0]);
            _mm512_storeu_ps(p.add(i * 32 + 16), row[1]);
        }
    }
}
