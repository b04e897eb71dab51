//! The CPU backend's fast convolution (im2col + blocked GEMM) against the plain reference loops.

mod common;
use common::*;
use wgnn::ops::{conv2d, im2col};

#[test]
fn im2col_convolution_matches_reference() {
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        bool,
    );
    let cases: &[Case] = &[
        (2, 28, 28, 1, 32, [3, 3], [1, 1], false),
        (3, 13, 13, 32, 64, [3, 3], [1, 1], false),
        (1, 9, 8, 3, 5, [3, 2], [2, 2], true),
        (2, 7, 7, 4, 6, [5, 5], [2, 1], true),
        (1, 5, 5, 2, 3, [1, 1], [1, 1], false),
    ];
    for (i, &(n, h, w, cin, cout, k, st, same)) in cases.iter().enumerate() {
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
