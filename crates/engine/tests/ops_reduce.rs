//! Column sums against the CPU reference, and run-to-run bit-identical results.

mod common;
use common::*;
use wgnn_engine::ops::reduce;

#[test]
fn col_sum_matches_reference() {
    let Some(ctx) = gpu() else { return };
    for &(rows, cols) in &[
        (1usize, 1usize),
        (7, 3),
        (128, 10),
        (1000, 64),
        (86_528, 32),
    ] {
        let x = rand_vec(rows as u64 * 31 + cols as u64, rows * cols);
        let gx = ctx.tensor(&x, "x").unwrap();
        let out = ctx.alloc(cols, "out").unwrap();
        ctx.run(&[&reduce::col_sum(ctx, rows, cols, &gx, &out).unwrap()])
            .unwrap();
        let want = reduce::col_sum_cpu(rows, cols, &x);
        // Long sums of ±1 values: the absolute error grows with sqrt(rows) rounding steps.
        let atol = ATOL * (rows as f32).sqrt();
        assert_close_tol(
            &format!("col_sum {rows}x{cols}"),
            &ctx.read_f32(&out).unwrap(),
            &want,
            atol,
            RTOL,
        );
    }
}

#[test]
fn col_sum_is_deterministic() {
    let Some(ctx) = gpu() else { return };
    let x = rand_vec(5, 50_000 * 10);
    let gx = ctx.tensor(&x, "x").unwrap();
    let out = ctx.alloc(10, "out").unwrap();
    let d = reduce::col_sum(ctx, 50_000, 10, &gx, &out).unwrap();
    ctx.run(&[&d]).unwrap();
    let first = ctx.read_u32(&out).unwrap();
    for _ in 0..3 {
        ctx.run(&[&d]).unwrap();
        assert_eq!(ctx.read_u32(&out).unwrap(), first);
    }
}

#[test]
fn bad_shapes_are_errors() {
    let Some(ctx) = gpu() else { return };
    let t = ctx.alloc(10, "t").unwrap();
    assert!(reduce::col_sum(ctx, 0, 1, &t, &t).is_err());
    assert!(reduce::col_sum(ctx, 5, 5, &t, &t).is_err());
}
