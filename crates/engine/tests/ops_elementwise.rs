//! ReLU and fill kernels against the CPU reference; ReLU backward against finite differences.

mod common;
use common::*;
use wgnn_engine::ops::elementwise as ew;

#[test]
fn relu_forward_and_backward_match_reference() {
    let Some(ctx) = gpu() else { return };
    for &n in &[1usize, 255, 256, 257, 10_000] {
        let x = rand_vec(1 + n as u64, n);
        let dy = rand_vec(2 + n as u64, n);
        let gx = ctx.tensor(&x, "x").unwrap();
        let gy = ctx.alloc(n, "y").unwrap();
        let gdy = ctx.tensor(&dy, "dy").unwrap();
        let gdx = ctx.alloc(n, "dx").unwrap();
        let f = ew::relu_forward(ctx, &gx, &gy).unwrap();
        let b = ew::relu_backward(ctx, &gy, &gdy, &gdx).unwrap();
        ctx.run(&[&f, &b]).unwrap();
        let y = ew::relu_forward_ref(&x);
        assert_close(
            &format!("relu forward n={n}"),
            &ctx.read_f32(&gy).unwrap(),
            &y,
        );
        let dx = ew::relu_backward_ref(&y, &dy);
        assert_close(
            &format!("relu backward n={n}"),
            &ctx.read_f32(&gdx).unwrap(),
            &dx,
        );
    }
}

#[test]
fn relu_grid_folds_past_the_dispatch_limit() {
    // 65,535 workgroups of 256 cover 16.7 M elements; one more element needs a second grid row.
    let Some(ctx) = gpu() else { return };
    let n = 65_535 * 256 + 300;
    let x: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { -1.0 } else { i as f32 })
        .collect();
    let gx = ctx.tensor(&x, "x").unwrap();
    let gy = ctx.alloc(n, "y").unwrap();
    ctx.run(&[&ew::relu_forward(ctx, &gx, &gy).unwrap()])
        .unwrap();
    let y = ctx.read_f32(&gy).unwrap();
    assert_eq!(y[n - 1], (n - 1) as f32);
    assert_eq!(y[n - 2], 0.0);
}

#[test]
fn fill_sets_every_element() {
    let Some(ctx) = gpu() else { return };
    let t = ctx.alloc(1000, "t").unwrap();
    ctx.run(&[&ew::fill(ctx, &t, 2.5).unwrap()]).unwrap();
    assert!(ctx.read_f32(&t).unwrap().iter().all(|&v| v == 2.5));
}

#[test]
fn relu_backward_matches_finite_differences() {
    // Points away from the kink at 0, where the derivative is undefined.
    let x: Vec<f32> = rand_vec(7, 50)
        .iter()
        .map(|v| if v.abs() < 0.05 { 0.5 } else { *v })
        .collect();
    let w = rand_vec(8, 50);
    let grad = ew::relu_backward_ref(&ew::relu_forward_ref(&x), &w);
    check_grad("relu", &x, &grad, |x| dot(&ew::relu_forward_ref(x), &w));
}

#[test]
fn relu_into_and_in_place_forms_match_the_plain_rule() {
    let n = 40_000;
    let (x, dy) = (rand_vec(31, n), rand_vec(32, n));
    let mut y = vec![f32::NAN; n];
    ew::relu_forward_into(&x, &mut y);
    let want: Vec<f32> = x.iter().map(|&v| v.max(0.0)).collect();
    assert_eq!(y, want);
    let mut g = dy.clone();
    ew::relu_backward_in_place(&y, &mut g);
    let want: Vec<f32> = y
        .iter()
        .zip(&dy)
        .map(|(&y, &d)| if y > 0.0 { d } else { 0.0 })
        .collect();
    assert_eq!(g, want);
}
