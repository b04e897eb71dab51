//! The CPU backend's GEMM: packed panels and a 6×16 register-blocked micro-kernel, compiled for
//! AVX2+FMA when the processor has them (checked at run time, so one binary runs anywhere) and
//! for the baseline instruction set otherwise. Parallel over blocks of C's rows, or over slices
//! of k when C has too few rows to share (a weight gradient), with a fixed split so results do not
//! depend on the thread count. `gemm::matmul_ref` stays the oracle (crates/engine/tests/ops_cpu_gemm.rs).

use crate::ops::gemm::GemmShape;
use crate::util::simd::Isa;
use rayon::prelude::*;

const MR: usize = 6; // rows of C per micro-tile
const NR: usize = 16; // columns of C per micro-tile (two AVX vectors)
const KC: usize = 256; // depth of one packed block: an A strip and a B panel stay in L1/L2
const MC: usize = 48; // rows of C per parallel task (a multiple of MR)
const K_SPLIT: usize = 8; // slices of k when C is too short to split by rows
const IN_PLACE_B: usize = 1 << 16; // elements of op(B) from which its panels are read in place

/// op(X), a [rows, cols] matrix: element [r][c] is `x[r * rs + c * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    x: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// `x` holds op(X) row-major, or (`trans`) its transpose, [cols, rows], row-major.
    fn new(x: &'a [f32], rows: usize, cols: usize, trans: bool) -> Self {
        if trans {
            Self { x, rs: 1, cs: rows }
        } else {
            Self { x, rs: cols, cs: 1 }
        }
    }
}

/// C = op(A)·op(B) (+ bias[n]) (then ReLU). Same contract and result (to rounding) as
/// `gemm::matmul_ref`; panics if the slices do not match the shape.
pub fn gemm(
    isa: Isa,
    s: &GemmShape,
    (a, b): (&[f32], &[f32]),
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    let mut c = vec![0f32; s.m * s.n];
    gemm_into(isa, s, (a, b), bias, relu, &mut c);
    c
}

/// `gemm` into `c` ([m, n]), whose contents are ignored: every element is written.
pub fn gemm_into(
    isa: Isa,
    s: &GemmShape,
    (a, b): (&[f32], &[f32]),
    bias: Option<&[f32]>,
    relu: bool,
    c: &mut [f32],
) {
    let (m, n, k) = (s.m, s.n, s.k);
    assert_eq!(
        a.len(),
        m * k,
        "gemm: A has {} elements, shape wants {}",
        a.len(),
        m * k
    );
    assert_eq!(
        b.len(),
        k * n,
        "gemm: B has {} elements, shape wants {}",
        b.len(),
        k * n
    );
    if let Some(bias) = bias {
        assert_eq!(
            bias.len(),
            n,
            "gemm: bias has {} elements, shape wants {n}",
            bias.len()
        );
    }
    assert_eq!(
        c.len(),
        m * n,
        "gemm: C has {} elements, shape wants {}",
        c.len(),
        m * n
    );
    let av = View::new(a, m, k, s.trans_a);
    let bv = View::new(b, k, n, s.trans_b);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: only the epilogue.
        c.fill(0.0);
        epilogue(c, n, bias, relu);
        return;
    }
    let bp = BPanels::new(bv, k, n);
    if m < 2 * MC && k >= K_SPLIT * KC {
        // Too few rows to share out: each task takes a slice of k, then the slices are summed in
        // a fixed order and the epilogue runs once.
        let per = k.div_ceil(K_SPLIT);
        let parts: Vec<Vec<f32>> = (0..K_SPLIT)
            .into_par_iter()
            .map(|t| {
                let mut part = vec![0f32; m * n];
                let (k0, k1) = (t * per, ((t + 1) * per).min(k));
                if k0 < k1 {
                    block(av, &bp, n, 0, m, k0..k1, None, false, isa, &mut part);
                }
                part
            })
            .collect();
        c.copy_from_slice(&parts[0]);
        for part in &parts[1..] {
            for (cv, pv) in c.iter_mut().zip(part) {
                *cv += pv;
            }
        }
        epilogue(c, n, bias, relu);
    } else {
        c.par_chunks_mut(MC * n).enumerate().for_each(|(t, cblk)| {
            let rows = cblk.len() / n;
            block(av, &bp, n, t * MC, rows, 0..k, bias, relu, isa, cblk);
        });
    }
}

/// Adds the bias and applies ReLU, row by row.
fn epilogue(c: &mut [f32], n: usize, bias: Option<&[f32]>, relu: bool) {
    if bias.is_none() && !relu {
        return;
    }
    for row in c.chunks_mut(n) {
        for (j, v) in row.iter_mut().enumerate() {
            let x = *v + bias.map_or(0.0, |b| b[j]);
            *v = if relu { x.max(0.0) } else { x };
        }
    }
}

/// op(B) as the micro-kernel reads it: [k][NR] panels of NR columns. When op(B) is large and its
/// rows are contiguous, full panels are read in place (row stride `rs`); otherwise, and for a
/// partial last panel, they are packed (zero-padded past column n).
struct BPanels<'a> {
    b: View<'a>,
    k: usize,
    n: usize,
    /// Packed panels: all of them, or only the partial last one when the rest are read in place.
    packed: Vec<f32>,
    in_place: bool,
}

impl<'a> BPanels<'a> {
    fn new(b: View<'a>, k: usize, n: usize) -> Self {
        let panels = n.div_ceil(NR);
        // In place only when B is large (a weight gradient's dy): copying it would cost a pass
        // over memory, while a small B (weights) is cheaper to read packed.
        let in_place = b.cs == 1 && k * n >= IN_PLACE_B;
        let first_packed = if in_place { n / NR } else { 0 };
        let mut packed = vec![0f32; (panels - first_packed) * k * NR];
        packed
            .par_chunks_mut(k * NR)
            .enumerate()
            .for_each(|(q, panel)| {
                let j0 = (first_packed + q) * NR;
                let w = NR.min(n - j0);
                if b.cs == 1 {
                    for kk in 0..k {
                        let src = &b.x[kk * b.rs + j0..][..w];
                        panel[kk * NR..kk * NR + w].copy_from_slice(src);
                    }
                } else {
                    // Transposed: each column of op(B) is contiguous; read it in one sweep.
                    for jj in 0..w {
                        let col = &b.x[(j0 + jj) * b.cs..][..k];
                        for (kk, &v) in col.iter().enumerate() {
                            panel[kk * NR + jj] = v;
                        }
                    }
                }
            });
        Self {
            b,
            k,
            n,
            packed,
            in_place,
        }
    }

    /// Panel `p` from depth `kc0` on.
    fn panel(&self, p: usize, kc0: usize) -> BSrc<'_> {
        let j0 = p * NR;
        if self.in_place && j0 + NR <= self.n {
            BSrc {
                x: self.b.x,
                base: kc0 * self.b.rs + j0,
                stride: self.b.rs,
            }
        } else {
            let q = if self.in_place { 0 } else { p };
            BSrc {
                x: &self.packed,
                base: q * self.k * NR + kc0 * NR,
                stride: NR,
            }
        }
    }
}

/// NR columns of op(B) for one k block: row kk is `x[base + kk * stride..][..NR]`.
struct BSrc<'a> {
    x: &'a [f32],
    base: usize,
    stride: usize,
}

/// Writes op(A)[r0..r0+rows, ks] · op(B)[ks, ..] (+ bias, then ReLU) into `c` ([rows, n]); `c`
/// need not be initialised. The first k block stores, later ones add, and the last applies the
/// epilogue, so C is passed over once per k block and never zeroed.
#[allow(clippy::too_many_arguments)]
fn block(
    a: View,
    bp: &BPanels,
    n: usize,
    r0: usize,
    rows: usize,
    ks: std::ops::Range<usize>,
    bias: Option<&[f32]>,
    relu: bool,
    isa: Isa,
    c: &mut [f32],
) {
    let (k0, k1) = (ks.start, ks.end);
    let groups = rows.div_ceil(MR);
    let full = rows / MR;
    // Full groups of MR rows are read from A in place (element [i][kk] at a stride from a base);
    // only a last, partial group is copied into a zero-padded strip [kc][MR].
    let mut tail = vec![
        0f32;
        if full < groups {
            KC.min(k1 - k0) * MR
        } else {
            0
        }
    ];
    for kc0 in (k0..k1).step_by(KC) {
        let kc = KC.min(k1 - kc0);
        if full < groups {
            let live = rows - full * MR;
            let r = r0 + full * MR;
            tail.fill(0.0);
            for kk in 0..kc {
                for i in 0..live {
                    tail[kk * MR + i] = a.x[(r + i) * a.rs + (kc0 + kk) * a.cs];
                }
            }
        }
        for p in 0..n.div_ceil(NR) {
            let panel = bp.panel(p, kc0);
            let j0 = p * NR;
            let w = NR.min(n - j0);
            let mut bias_tile = [0f32; NR];
            if let Some(b) = bias {
                bias_tile[..w].copy_from_slice(&b[j0..j0 + w]);
            }
            for g in 0..groups {
                let src = if g < full {
                    ASrc {
                        x: a.x,
                        base: (r0 + g * MR) * a.rs + kc0 * a.cs,
                        rs: a.rs,
                        cs: a.cs,
                    }
                } else {
                    ASrc {
                        x: &tail,
                        base: 0,
                        rs: 1,
                        cs: MR,
                    }
                };
                let mut out = Out {
                    c: &mut c[g * MR * n + j0..],
                    n,
                    rows: MR.min(rows - g * MR),
                    cols: w,
                    first: kc0 == k0,
                    relu: relu && kc0 + kc == k1,
                    bias: &bias_tile,
                };
                micro(&src, &panel, kc, isa, &mut out);
            }
        }
    }
}

/// MR rows of A for one k block: element [i][kk] is `x[base + i * rs + kk * cs]`.
struct ASrc<'a> {
    x: &'a [f32],
    base: usize,
    rs: usize,
    cs: usize,
}

/// Where a micro-tile lands: C from the tile's top-left corner with row stride `n`, the live
/// rows and columns, whether this is the first k block (store plus bias) or a later one (add),
/// and whether to apply ReLU (on the last k block).
struct Out<'a> {
    c: &'a mut [f32],
    n: usize,
    rows: usize,
    cols: usize,
    first: bool,
    relu: bool,
    bias: &'a [f32; NR],
}

/// One MR×NR tile of A · B-panel over `kc` steps, written into `out`, with `isa`'s fused
/// multiply-add where it has one: AVX2's, or NEON's (aarch64 always has it, so the compiler
/// vectorises `mul_add` into `fmla` without a second copy of the body).
fn micro(a: &ASrc, b: &BSrc, kc: usize, isa: Isa, out: &mut Out) {
    // The unchecked loads in `micro_body` rely on these bounds.
    assert!(kc == 0 || a.base + (MR - 1) * a.rs + (kc - 1) * a.cs < a.x.len());
    assert!(kc == 0 || b.base + (kc - 1) * b.stride + NR <= b.x.len());
    #[cfg(target_arch = "x86_64")]
    if isa.avx2() {
        // SAFETY: `Isa::avx2` found the features the function is compiled for, and the bounds
        // `micro_body` needs were checked above.
        return unsafe { micro_avx2(a, b, kc, out) };
    }
    if isa == Isa::Neon && isa.supported() {
        // SAFETY: bounds checked above.
        return store(&unsafe { micro_body::<true>(a, b, kc) }, out);
    }
    // SAFETY: bounds checked above.
    store(&unsafe { micro_body::<false>(a, b, kc) }, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro_avx2(a: &ASrc, b: &BSrc, kc: usize, out: &mut Out) {
    store(&micro_body::<true>(a, b, kc), out)
}

/// The tile's epilogue, in fixed-size loops (vectorised, with AVX2 where the caller has it). Each
/// row is added, activated and stored element by element: a row built on the stack and then
/// copied would be a `memcpy` call per row, whose speed depends on where the buffers lie.
#[inline(always)]
fn store(acc: &[[f32; NR]; MR], out: &mut Out) {
    for (i, acc_row) in acc.iter().enumerate().take(out.rows) {
        let crow = &mut out.c[i * out.n..];
        if out.cols == NR {
            store_row(acc_row, &mut crow[..NR], out.first, out.relu, out.bias);
        } else {
            store_row(
                acc_row,
                &mut crow[..out.cols],
                out.first,
                out.relu,
                out.bias,
            );
        }
    }
}

/// `c = act(acc + (bias on the first k-block, else c))` over `c.len() <= NR` columns.
#[inline(always)]
fn store_row(acc: &[f32; NR], c: &mut [f32], first: bool, relu: bool, bias: &[f32; NR]) {
    match (first, relu) {
        (true, true) => row_each(acc, c, |a, _, j| (a + bias[j]).max(0.0)),
        (true, false) => row_each(acc, c, |a, _, j| a + bias[j]),
        (false, true) => row_each(acc, c, |a, c, _| (a + c).max(0.0)),
        (false, false) => row_each(acc, c, |a, c, _| a + c),
    }
}

#[inline(always)]
fn row_each(acc: &[f32; NR], c: &mut [f32], f: impl Fn(f32, f32, usize) -> f32) {
    for (j, (c, &a)) in c.iter_mut().zip(acc).enumerate() {
        *c = f(a, *c, j);
    }
}

/// Fixed-size loops that the compiler keeps in registers and vectorises; `FMA` fuses the
/// multiply-add (only where the instruction exists: elsewhere `mul_add` is a slow library call).
///
/// # Safety
/// `a.base + (MR - 1) * a.rs + (kc - 1) * a.cs < a.x.len()` and
/// `b.base + (kc - 1) * b.stride + NR <= b.x.len()` (the loads are unchecked: six bounds checks
/// per step would cost as much as the step).
#[inline(always)]
unsafe fn micro_body<const FMA: bool>(a: &ASrc, b: &BSrc, kc: usize) -> [[f32; NR]; MR] {
    let mut acc = [[0f32; NR]; MR];
    for kk in 0..kc {
        // SAFETY: within the bound the caller guarantees.
        let brow = unsafe {
            b.x.get_unchecked(b.base + kk * b.stride..b.base + kk * b.stride + NR)
        };
        let b: &[f32; NR] = brow.try_into().expect("NR values");
        let off = a.base + kk * a.cs;
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: off + i * rs is within the bound the caller guarantees.
            let ai = unsafe { *a.x.get_unchecked(off + i * a.rs) };
            for (c, &bj) in row.iter_mut().zip(b) {
                *c = if FMA {
                    ai.mul_add(bj, *c)
                } else {
                    *c + ai * bj
                };
            }
        }
    }
    acc
}
