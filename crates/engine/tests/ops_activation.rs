//! The activations (ReLU, sigmoid, tanh, ELU, leaky ReLU): the elementwise kernels and the
//! epilogues Conv2D and Dense fuse them into, against the CPU reference on odd sizes; the CPU
//! backend's in-place passes against the reference, exactly; the reference backward against
//! finite differences; Keras' names and defaults.

mod common;
use common::*;
use wgnn_engine::layers::Activation;
use wgnn_engine::ops::conv2d::{self as conv, Conv2dShape};
use wgnn_engine::ops::elementwise::{self as ew, Act};
use wgnn_engine::ops::gemm::{matmul_ref, matmul_with, GemmShape, Variant};

const ACTS: [Act; 6] = [
    Act::Linear,
    Act::Relu,
    Act::Sigmoid,
    Act::Tanh,
    Act::Elu(1.0),
    Act::LeakyRelu(0.2),
];

/// Values in [-6, 6], kept 0.05 away from 0 so that finite differences never straddle a kink, and
/// a few large ones where a careless sigmoid or tanh overflows.
fn inputs(seed: u64, n: usize) -> Vec<f32> {
    let mut x: Vec<f32> = rand_vec(seed, n)
        .into_iter()
        .map(|v| 6.0 * v)
        .map(|v| {
            if v.abs() < 0.05 {
                v.signum() * 0.05 + v
            } else {
                v
            }
        })
        .collect();
    for (i, big) in [-100.0f32, 100.0, -30.0, 30.0].into_iter().enumerate() {
        if i < n {
            x[i] = big;
        }
    }
    x
}

#[test]
fn elementwise_kernels_match_the_reference() {
    let Some(ctx) = gpu() else { return };
    for a in ACTS {
        for &n in &[1usize, 255, 257, 10_001] {
            let x = inputs(7 + n as u64, n);
            let dy = rand_vec(8 + n as u64, n);
            let gx = ctx.tensor(&x, "x").unwrap();
            let gy = ctx.alloc(n, "y").unwrap();
            let gdy = ctx.tensor(&dy, "dy").unwrap();
            let gdx = ctx.tensor(&vec![f32::NAN; n], "dx").unwrap();
            let f = ew::act_forward(ctx, a, &gx, &gy).unwrap();
            let b = ew::act_backward(ctx, a, &gy, &gdy, &gdx).unwrap();
            ctx.run(&[&f, &b]).unwrap();
            let y = ew::act_forward_ref(a, &x);
            let gpu_y = ctx.read_f32(&gy).unwrap();
            assert_close(&format!("{a:?} forward n={n}"), &gpu_y, &y);
            // The backward kernel reads the GPU's own forward output, as the graph does.
            let dx = ew::act_backward_ref(a, &gpu_y, &dy);
            assert_close(
                &format!("{a:?} backward n={n}"),
                &ctx.read_f32(&gdx).unwrap(),
                &dx,
            );
        }
    }
}

#[test]
fn cpu_passes_equal_the_reference_exactly() {
    for a in ACTS {
        let x = inputs(3, 70_001);
        let dy = rand_vec(4, x.len());
        let want = ew::act_forward_ref(a, &x);
        let mut y = x.clone();
        ew::act_forward_in_place(a, &mut y);
        assert_eq!(y, want, "{a:?} forward");
        let mut g = dy.clone();
        ew::act_backward_in_place(a, &y, &mut g);
        assert_eq!(g, ew::act_backward_ref(a, &y, &dy), "{a:?} backward");
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    for a in ACTS {
        let x: Vec<f32> = inputs(11, 64)
            .into_iter()
            .map(|v| v.clamp(-4.0, 4.0))
            .collect();
        let g = rand_vec(12, x.len());
        let dx = ew::act_backward_ref(a, &ew::act_forward_ref(a, &x), &g);
        check_grad(&format!("{a:?}"), &x, &dx, |x| {
            dot(&ew::act_forward_ref(a, x), &g)
        });
    }
}

#[test]
fn gemm_epilogues_apply_every_activation() {
    let Some(ctx) = gpu() else { return };
    for v in [Variant::Tiled, Variant::Blocked] {
        for (m, n, k) in [(37, 19, 23), (8, 64, 16), (5, 10, 144)] {
            let s = GemmShape::new(m, n, k, false, false).unwrap();
            let a = rand_vec(1, m * k);
            let b = rand_vec(2, k * n);
            let bias = rand_vec(3, n);
            let (ga, gb, gbias) = (
                ctx.tensor(&a, "a").unwrap(),
                ctx.tensor(&b, "b").unwrap(),
                ctx.tensor(&bias, "bias").unwrap(),
            );
            let linear = matmul_ref(&s, &a, &b, Some(&bias), false);
            for act in ACTS {
                let gc = ctx.alloc(m * n, "c").unwrap();
                let d = matmul_with(ctx, v, &s, &ga, &gb, Some(&gbias), &gc, act).unwrap();
                ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
                assert_close(
                    &format!("gemm {v:?} {m}x{n}x{k} {act:?}"),
                    &ctx.read_f32(&gc).unwrap(),
                    &ew::act_forward_ref(act, &linear),
                );
            }
        }
    }
}

#[test]
fn conv_epilogues_apply_every_activation() {
    let Some(ctx) = gpu() else { return };
    for v in [conv::Variant::Tiled, conv::Variant::Blocked] {
        // cin 1 and cin 4, cout a multiple of 4 and not: every forward entry point.
        for (n, h, w, cin, cout, same) in [(2, 9, 7, 1, 8, true), (1, 6, 6, 4, 5, false)] {
            let s = Conv2dShape::new(n, h, w, cin, cout, [3, 3], [1, 1], same).unwrap();
            let x = rand_vec(5, s.x_len());
            let wt = rand_vec(6, s.w_len());
            let b = rand_vec(7, cout);
            let (gx, gw, gb) = (
                ctx.tensor(&x, "x").unwrap(),
                ctx.tensor(&wt, "w").unwrap(),
                ctx.tensor(&b, "b").unwrap(),
            );
            let linear = conv::forward_ref(&s, &x, &wt, &b, false);
            for act in ACTS {
                let gy = ctx.alloc(s.y_len(), "y").unwrap();
                let d = conv::forward_with(ctx, v, &s, &gx, &gw, &gb, &gy, act).unwrap();
                ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
                assert_close(
                    &format!("conv {v:?} {h}x{w}x{cin}->{cout} {act:?}"),
                    &ctx.read_f32(&gy).unwrap(),
                    &ew::act_forward_ref(act, &linear),
                );
            }
        }
    }
}

#[test]
fn names_and_alphas_follow_keras() {
    let parse = |s: &str| s.parse::<Activation>().unwrap();
    assert_eq!(parse("elu"), Activation::Elu(1.0));
    assert_eq!(parse("leaky_relu"), Activation::LeakyRelu(0.2));
    assert_eq!(parse("Sigmoid"), Activation::Sigmoid);
    assert_eq!(parse("tanh").to_string(), "tanh");
    let e = "gelu".parse::<Activation>().unwrap_err().to_string();
    assert!(e.contains("gelu") && e.contains("leaky_relu"), "{e}");
    // Keras' own values at a few points.
    assert!((Act::Sigmoid.apply(0.0) - 0.5).abs() < 1e-7);
    assert!((Act::Tanh.apply(1.0) - 0.761_594_2).abs() < 1e-6);
    assert!((Act::Elu(1.0).apply(-1.0) + 0.632_120_6).abs() < 1e-6);
    assert_eq!(Act::LeakyRelu(0.2).apply(-2.0), -0.4);
}
