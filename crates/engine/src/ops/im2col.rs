//! Fast CPU convolution for the CPU backend: im2col / col2im around the packed, multi-threaded
//! GEMM of `cpu::gemm`. The plain loops of `conv2d::*_ref` stay the oracle; this path is
//! checked against them in `crates/engine/tests/ops_im2col.rs`.

use super::conv2d::Conv2dShape;
use super::cpu::gemm::{gemm, gemm_into};
use super::gemm::GemmShape;
use super::reduce::col_sum_cpu;
use crate::util::simd::Isa;
use rayon::prelude::*;

/// The parts of output pixel (oy, ox)'s window that lie inside the image, as contiguous runs:
/// `f(patch_offset, pixel_offset, len)` with offsets in floats into the patch row and into one
/// image. A window row wholly inside the image is one run of kw * cin values; at the borders each
/// tap is its own run of cin values.
fn window_runs(s: &Conv2dShape, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, usize)) {
    let run = s.kw * s.cin;
    for ky in 0..s.kh {
        let iy = (oy * s.sh + ky) as isize - s.pad_top as isize;
        if iy < 0 || iy >= s.h as isize {
            continue;
        }
        let ix0 = (ox * s.sw) as isize - s.pad_left as isize;
        if ix0 >= 0 && ix0 as usize + s.kw <= s.w {
            f(ky * run, (iy as usize * s.w + ix0 as usize) * s.cin, run);
            continue;
        }
        for kx in 0..s.kw {
            let ix = ix0 + kx as isize;
            if ix >= 0 && ix < s.w as isize {
                let pixel = (iy as usize * s.w + ix as usize) * s.cin;
                f((ky * s.kw + kx) * s.cin, pixel, s.cin);
            }
        }
    }
}

/// Whether output pixel (oy, ox)'s whole window lies inside the image (no zero padding in it).
fn window_inside(s: &Conv2dShape, oy: usize, ox: usize) -> bool {
    let (y0, x0) = (oy * s.sh, ox * s.sw);
    y0 >= s.pad_top
        && y0 + s.kh <= s.h + s.pad_top
        && x0 >= s.pad_left
        && x0 + s.kw <= s.w + s.pad_left
}

/// Patches of `x` as rows: [n*oh*ow, kh*kw*cin], zeros where the window leaves the image.
pub fn im2col(s: &Conv2dShape, x: &[f32]) -> Vec<f32> {
    let mut cols = vec![0f32; s.n * s.oh * s.ow * s.kh * s.kw * s.cin];
    im2col_into(s, x, &mut cols);
    cols
}

/// `im2col` into `cols`, whose contents are ignored: every element is written.
pub fn im2col_into(s: &Conv2dShape, x: &[f32], cols: &mut [f32]) {
    let k = s.kh * s.kw * s.cin;
    let per_image = s.h * s.w * s.cin;
    assert_eq!(cols.len(), s.n * s.oh * s.ow * k, "im2col: output length");
    cols.par_chunks_mut(s.oh * s.ow * k)
        .enumerate()
        .for_each(|(b, img)| {
            let x = &x[b * per_image..][..per_image];
            for oy in 0..s.oh {
                for ox in 0..s.ow {
                    let row = &mut img[(oy * s.ow + ox) * k..][..k];
                    if !window_inside(s, oy, ox) {
                        row.fill(0.0);
                    }
                    window_runs(s, oy, ox, |p, q, len| {
                        row[p..p + len].copy_from_slice(&x[q..q + len]);
                    });
                }
            }
        });
}

/// The adjoint of `im2col`: sums each patch row back into the image positions it came from.
pub fn col2im(s: &Conv2dShape, cols: &[f32]) -> Vec<f32> {
    let mut x = vec![0f32; s.n * s.h * s.w * s.cin];
    col2im_into(s, cols, &mut x);
    x
}

/// `col2im` into `x`, whose contents are ignored (each task clears its image, in cache).
pub fn col2im_into(s: &Conv2dShape, cols: &[f32], x: &mut [f32]) {
    let k = s.kh * s.kw * s.cin;
    assert_eq!(x.len(), s.n * s.h * s.w * s.cin, "col2im: output length");
    x.par_chunks_mut(s.h * s.w * s.cin)
        .enumerate()
        .for_each(|(b, img)| {
            img.fill(0.0);
            for oy in 0..s.oh {
                for ox in 0..s.ow {
                    let row = &cols[((b * s.oh + oy) * s.ow + ox) * k..][..k];
                    window_runs(s, oy, ox, |p, q, len| {
                        for (d, v) in img[q..q + len].iter_mut().zip(&row[p..p + len]) {
                            *d += v;
                        }
                    });
                }
            }
        });
}

fn rows(s: &Conv2dShape) -> usize {
    s.n * s.oh * s.ow
}

/// Same result as `conv2d::forward_ref`.
pub fn forward(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    forward_from_cols(s, &im2col(s, x), w, b, relu)
}

/// The forward pass from `im2col(s, x)` (training keeps the patches for the weight gradient).
pub fn forward_from_cols(
    s: &Conv2dShape,
    cols: &[f32],
    w: &[f32],
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    let mut y = vec![0f32; rows(s) * s.cout];
    forward_from_cols_into(s, cols, w, b, relu, &mut y);
    y
}

/// `forward_from_cols` into `y`, whose contents are ignored.
pub fn forward_from_cols_into(
    s: &Conv2dShape,
    cols: &[f32],
    w: &[f32],
    b: &[f32],
    relu: bool,
    y: &mut [f32],
) {
    let g = GemmShape {
        m: rows(s),
        n: s.cout,
        k: s.kh * s.kw * s.cin,
        trans_a: false,
        trans_b: false,
    };
    gemm_into(Isa::detected(), &g, (cols, w), Some(b), relu, y)
}

/// Same result as `conv2d::backward_input_ref`.
pub fn backward_input(s: &Conv2dShape, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dcols = vec![0f32; rows(s) * s.kh * s.kw * s.cin];
    let mut dx = vec![0f32; s.n * s.h * s.w * s.cin];
    backward_input_into(s, w, dy, &mut dcols, &mut dx);
    dx
}

/// `backward_input` into `dx`, through the patch-gradient buffer `dcols` ([n*oh*ow, kh*kw*cin]);
/// the contents of both are ignored.
pub fn backward_input_into(
    s: &Conv2dShape,
    w: &[f32],
    dy: &[f32],
    dcols: &mut [f32],
    dx: &mut [f32],
) {
    let g = GemmShape {
        m: rows(s),
        n: s.kh * s.kw * s.cin,
        k: s.cout,
        trans_a: false,
        trans_b: true,
    };
    gemm_into(Isa::detected(), &g, (dy, w), None, false, dcols);
    col2im_into(s, dcols, dx)
}

/// Same result as `conv2d::backward_weights_ref`: (dw, db).
pub fn backward_weights(s: &Conv2dShape, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    backward_weights_from_cols(s, &im2col(s, x), dy)
}

/// The weight and bias gradients from the forward pass's patches `im2col(s, x)`.
pub fn backward_weights_from_cols(
    s: &Conv2dShape,
    cols: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let g = GemmShape {
        m: s.kh * s.kw * s.cin,
        n: s.cout,
        k: rows(s),
        trans_a: true,
        trans_b: false,
    };
    (
        gemm(Isa::detected(), &g, (cols, dy), None, false),
        col_sum_cpu(rows(s), s.cout, dy),
    )
}
