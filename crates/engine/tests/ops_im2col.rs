//! The CPU backend's fast convolution (im2col + blocked GEMM) against the plain reference loops,
//! and its `_into` forms (which the CPU backend feeds recycled buffers) against the allocating ones.

mod common;
use common::*;
use wgnn_engine::ops::{conv2d, im2col};

const CASES: &[ConvCase] = &[
    (2, 28, 28, 1, 32, [3, 3], [1, 1], false),
    (3, 13, 13, 32, 64, [3, 3], [1, 1], false),
    (1, 9, 8, 3, 5, [3, 2], [2, 2], true),
    (2, 7, 7, 4, 6, [5, 5], [2, 1], true),
    (1, 5, 5, 2, 3, [1, 1], [1, 1], false),
];

#[test]
fn im2col_convolution_matches_reference() {
    for (i, &(n, h, w, cin, cout, k, st, same)) in CASES.iter().enumerate() {
        let s = conv2d::Conv2dShape::new(n, h, w, cin, cout, k, st, same).unwrap();
        let x = rand_vec(1 + i as u64, s.x_len());
        let wt = rand_vec(2 + i as u64, s.w_len());
        let b = rand_vec(3 + i as u64, cout);
        let dy = rand_vec(4 + i as u64, s.y_len());
        for relu in [false, true] {
            let what = format!("case {i} forward relu={relu}");
            assert_close(
                &what,
                &im2col::forward(&s, &x, &wt, &b, relu),
                &conv2d::forward_ref(&s, &x, &wt, &b, relu),
            );
        }
        let got = im2col::backward_input(&s, &wt, &dy);
        assert_close(
            &format!("case {i} dx"),
            &got,
            &conv2d::backward_input_ref(&s, &wt, &dy),
        );
        let (dw, db) = im2col::backward_weights(&s, &x, &dy);
        let (rw, rb) = conv2d::backward_weights_ref(&s, &x, &dy);
        // dw sums n*oh*ow products of values in [-1, 1]: allow the rounding of that many terms.
        let atol = ATOL * ((n * s.oh * s.ow) as f32).sqrt();
        assert_close_tol(&format!("case {i} dw"), &dw, &rw, atol, RTOL);
        assert_close_tol(&format!("case {i} db"), &db, &rb, atol, RTOL);
    }
}

/// Outputs that start as NaN: an element an op fails to write shows up in the comparison.
fn garbage(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

#[test]
fn into_forms_overwrite_whatever_the_output_held() {
    for (i, &(n, h, w, cin, cout, k, st, same)) in CASES.iter().enumerate() {
        let s = conv2d::Conv2dShape::new(n, h, w, cin, cout, k, st, same).unwrap();
        let x = rand_vec(10 + i as u64, s.x_len());
        let wt = rand_vec(20 + i as u64, s.w_len());
        let b = rand_vec(30 + i as u64, cout);
        let dy = rand_vec(40 + i as u64, s.y_len());
        let cols = im2col::im2col(&s, &x);
        let mut got = garbage(cols.len());
        im2col::im2col_into(&s, &x, &mut got);
        assert_eq!(got, cols, "case {i}: im2col_into");
        let mut y = garbage(s.y_len());
        im2col::forward_from_cols_into(&s, &cols, &wt, &b, true, &mut y);
        assert_eq!(
            y,
            im2col::forward_from_cols(&s, &cols, &wt, &b, true),
            "case {i}: forward"
        );
        let (mut dcols, mut dx) = (garbage(cols.len()), garbage(s.x_len()));
        im2col::backward_input_into(&s, &wt, &dy, &mut dcols, &mut dx);
        assert_eq!(dx, im2col::backward_input(&s, &wt, &dy), "case {i}: dx");
        let mut back = garbage(s.x_len());
        im2col::col2im_into(&s, &cols, &mut back);
        assert_eq!(back, im2col::col2im(&s, &cols), "case {i}: col2im_into");
    }
}
