//! Max pooling against the CPU reference (values, exact argmax, backward); the reference backward
//! against finite differences; the first-max-wins tie rule; bad shapes give errors.

mod common;
use common::pool::{distinct, max_on_gpu};
use common::*;
use wgnn_engine::ops::pool::{self, PoolShape};
use wgnn_engine::util::simd::Isa;

fn check_case(
    dims: (usize, usize, usize, usize),
    pool_: [usize; 2],
    strides: [usize; 2],
    seed: u64,
) {
    let (n, h, w, c) = dims;
    let s = PoolShape::new(n, h, w, c, pool_, strides).unwrap();
    let name = format!("n{n} {h}x{w}x{c} pool {pool_:?} stride {strides:?}");
    let x = distinct(seed, s.x_len());
    let dy = rand_vec(seed + 1, s.y_len());
    let Some((y, arg, dx)) = max_on_gpu(&s, &x, &dy) else {
        return;
    };
    let (ry, rarg) = pool::forward_ref(&s, &x);
    assert_close(&format!("maxpool forward {name}"), &y, &ry);
    assert_eq!(arg, rarg, "{name}: argmax differs from the reference");
    let rdx = pool::backward_ref(&s, &dy, &rarg);
    assert_close(&format!("maxpool backward {name}"), &dx, &rdx);
}

#[test]
fn keras_pool_2_on_odd_and_even_sizes() {
    check_case((4, 26, 26, 32), [2, 2], [2, 2], 1);
    // 27x27 with pool 2 drops the last row and column, as Keras does.
    check_case((2, 27, 27, 3), [2, 2], [2, 2], 2);
    check_case((1, 27, 25, 1), [2, 2], [2, 2], 3);
    check_case((3, 11, 11, 64), [2, 2], [2, 2], 4);
}

#[test]
fn overlapping_and_non_square_windows() {
    check_case((2, 13, 13, 3), [3, 3], [2, 2], 10);
    check_case((1, 9, 10, 64), [3, 3], [2, 2], 11);
    check_case((2, 10, 11, 3), [2, 3], [2, 3], 12);
    check_case((1, 9, 12, 1), [2, 3], [1, 2], 13);
    check_case((2, 7, 7, 5), [3, 3], [1, 1], 14);
}

#[test]
fn dropped_rows_get_zero_gradient() {
    let s = PoolShape::new(1, 5, 5, 1, [2, 2], [2, 2]).unwrap();
    assert_eq!((s.oh, s.ow), (2, 2));
    let x = distinct(20, s.x_len());
    let Some((_, _, dx)) = max_on_gpu(&s, &x, &[1.0; 4]) else {
        return;
    };
    for i in 0..5 {
        assert_eq!(dx[4 * 5 + i], 0.0, "last row");
        assert_eq!(dx[i * 5 + 4], 0.0, "last column");
    }
    assert_eq!(dx.iter().sum::<f32>(), 4.0);
}

#[test]
fn ties_first_maximum_wins_on_both() {
    // Every window of the first channel is constant; the second channel has two equal maxima
    // per window. The first in row-major window order must win, on GPU and reference alike.
    let s = PoolShape::new(1, 4, 6, 2, [2, 3], [2, 3]).unwrap();
    let mut x = vec![0f32; s.x_len()];
    for iy in 0..4 {
        for ix in 0..6 {
            let i = (iy * 6 + ix) * 2;
            x[i] = 1.0;
            // Second channel: maxima (value 2) at window positions (0, 2) and (1, 0).
            let (wy, wx) = (iy % 2, ix % 3);
            x[i + 1] = if (wy, wx) == (0, 2) || (wy, wx) == (1, 0) {
                2.0
            } else {
                -1.0
            };
        }
    }
    let (ry, rarg) = pool::forward_ref(&s, &x);
    let mut want = Vec::new();
    for oy in 0..2 {
        for ox in 0..2 {
            let first = (oy * 2 * 6 + ox * 3) * 2;
            want.push(first as u32);
            want.push((first + 2 * 2 + 1) as u32);
        }
    }
    assert_eq!(rarg, want, "reference breaks ties by first maximum");
    let dy = rand_vec(30, s.y_len());
    let Some((y, arg, dx)) = max_on_gpu(&s, &x, &dy) else {
        return;
    };
    assert_eq!(arg, want, "GPU breaks ties by first maximum");
    assert_close("maxpool forward with ties", &y, &ry);
    assert_close(
        "maxpool backward with ties",
        &dx,
        &pool::backward_ref(&s, &dy, &rarg),
    );
}

#[test]
fn reference_backward_matches_finite_differences() {
    for (dims, p, st, seed) in [
        ((2, 7, 7, 2), [2, 2], [2, 2], 40u64),
        ((1, 7, 8, 3), [3, 3], [2, 2], 41),
        ((1, 6, 7, 2), [2, 3], [1, 2], 42),
    ] {
        let s = PoolShape::new(dims.0, dims.1, dims.2, dims.3, p, st).unwrap();
        let x = distinct(seed, s.x_len());
        let g = rand_vec(seed + 1, s.y_len());
        let (_, arg) = pool::forward_ref(&s, &x);
        let dx = pool::backward_ref(&s, &g, &arg);
        check_grad(
            &format!("maxpool {dims:?} pool {p:?} stride {st:?}"),
            &x,
            &dx,
            |x| dot(&pool::forward_ref(&s, x).0, &g),
        );
    }
}

#[test]
fn bad_shapes_are_errors() {
    assert!(PoolShape::new(0, 4, 4, 1, [2, 2], [2, 2]).is_err());
    assert!(PoolShape::new(1, 4, 4, 0, [2, 2], [2, 2]).is_err());
    assert!(PoolShape::new(1, 4, 4, 1, [0, 2], [2, 2]).is_err());
    assert!(PoolShape::new(1, 4, 4, 1, [2, 2], [2, 0]).is_err());
    assert!(PoolShape::new(1, 1, 4, 1, [2, 2], [2, 2]).is_err());
    assert!(PoolShape::new(1, 4, 2, 1, [2, 3], [2, 2]).is_err());
    let Some(ctx) = gpu() else { return };
    let s = PoolShape::new(1, 4, 4, 2, [2, 2], [2, 2]).unwrap();
    let x = ctx.alloc(s.x_len(), "x").unwrap();
    let y = ctx.alloc(s.y_len(), "y").unwrap();
    let a = ctx.alloc(s.y_len(), "argmax").unwrap();
    assert!(pool::forward(ctx, &s, &x, &x, &a).is_err());
    assert!(pool::forward(ctx, &s, &y, &y, &a).is_err());
    assert!(pool::backward(ctx, &s, &y, &a, &y).is_err());
    assert!(pool::backward(ctx, &s, &y, &x, &x).is_err());
    assert!(pool::forward(ctx, &s, &x, &y, &a).is_ok());
}

#[test]
fn into_forms_overwrite_whatever_the_output_held() {
    for (dims, p, st) in [
        ((3, 26, 26, 32), [2, 2], [2, 2]),
        ((2, 11, 11, 64), [2, 2], [2, 2]),
        ((2, 9, 7, 3), [3, 2], [1, 2]),
    ] {
        let (n, h, w, c) = dims;
        let s = PoolShape::new(n, h, w, c, p, st).unwrap();
        let x = distinct(9, s.x_len());
        let dy = rand_vec(10, s.y_len());
        let (ry, rarg) = pool::forward_ref(&s, &x);
        for isa in Isa::available() {
            let (mut y, mut arg) = (vec![f32::NAN; s.y_len()], vec![u32::MAX; s.y_len()]);
            pool::forward_into(isa, &s, &x, &mut y, &mut arg);
            assert_eq!((&y, &arg), (&ry, &rarg), "{dims:?}: forward_into on {isa}");
        }
        let mut dx = vec![f32::NAN; s.x_len()];
        pool::backward_into(&s, &dy, &rarg, &mut dx);
        assert_eq!(
            dx,
            pool::backward_ref(&s, &dy, &rarg),
            "{dims:?}: backward_into"
        );
    }
}
