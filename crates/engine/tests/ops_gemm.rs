//! GEMM kernel against the CPU reference for all transpose combinations, odd and dense-layer
//! sizes, with and without bias and ReLU; the blocked CPU reference against a naive triple loop.

mod common;
use common::*;
use wgnn_engine::ops::elementwise::Act;
use wgnn_engine::ops::gemm::{matmul, matmul_by, matmul_ref, GemmShape, Threads, Variant};

/// C[i,j] = sum_k op(A)[i,k] * op(B)[k,j] (+ bias[j]) (ReLU), accumulated in f64.
fn naive(s: &GemmShape, a: &[f32], b: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let mut c = vec![0f32; s.m * s.n];
    for i in 0..s.m {
        for j in 0..s.n {
            let mut acc = bias.map_or(0.0, |b| b[j] as f64);
            for kk in 0..s.k {
                let av = if s.trans_a {
                    a[kk * s.m + i]
                } else {
                    a[i * s.k + kk]
                };
                let bv = if s.trans_b {
                    b[j * s.k + kk]
                } else {
                    b[kk * s.n + j]
                };
                acc += av as f64 * bv as f64;
            }
            c[i * s.n + j] = if relu {
                acc.max(0.0) as f32
            } else {
                acc as f32
            };
        }
    }
    c
}

const SIZES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 13, 5),
    (33, 65, 17),
    (64, 64, 16),
    (65, 63, 31),
    (128, 10, 1600),
    (32, 64, 1600),
    (1600, 64, 128),
    // Shapes for the CPU variant's vec4 kernel (k % 4 == 0): row and column tails of its 8x8
    // blocks (m, n % 8 == 4, m < 8), and n or m not multiples of 4 where a transpose allows it.
    (12, 20, 8),
    (20, 36, 12),
    (4, 4, 4),
    (9, 6, 4),
    (128, 128, 1600),
];

#[test]
fn reference_matches_naive_triple_loop() {
    for &(m, n, k) in SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let s = GemmShape::new(m, n, k, ta, tb).unwrap();
            let a = rand_vec(m as u64 * 3 + k as u64, m * k);
            let b = rand_vec(n as u64 * 5 + k as u64, k * n);
            let bias = rand_vec(n as u64 + 11, n);
            for (use_bias, relu) in [(false, false), (true, true)] {
                let bias = use_bias.then_some(&bias[..]);
                let got = matmul_ref(&s, &a, &b, bias, relu);
                let want = naive(&s, &a, &b, bias, relu);
                assert_close(
                    &format!("ref {m}x{n}x{k} ta={ta} tb={tb} bias={use_bias} relu={relu}"),
                    &got,
                    &want,
                );
            }
        }
    }
}

#[test]
fn gpu_matches_reference_all_transposes() {
    for v in [Variant::Tiled, Variant::Blocked] {
        // Whole, and (blocked, few blocks, long k) split over k.
        for threads in [Threads::Few, Threads::Many] {
            gpu_matches_reference_with((v, threads));
        }
    }
}

fn gpu_matches_reference_with((v, threads): (Variant, Threads)) {
    let Some(ctx) = gpu() else { return };
    for &(m, n, k) in SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let s = GemmShape::new(m, n, k, ta, tb).unwrap();
            let a = rand_vec(m as u64 * 7 + k as u64, m * k);
            let b = rand_vec(n as u64 * 13 + k as u64, k * n);
            let bias = rand_vec(n as u64 + 17, n);
            let ga = ctx.tensor(&a, "a").unwrap();
            let gb = ctx.tensor(&b, "b").unwrap();
            let gbias = ctx.tensor(&bias, "bias").unwrap();
            let gc = ctx.alloc(m * n, "c").unwrap();
            for (use_bias, relu) in [(false, false), (true, false), (false, true), (true, true)] {
                let act = if relu { Act::Relu } else { Act::Linear };
                let gb_ = use_bias.then_some(&gbias);
                let d = matmul_by(ctx, (v, threads), &s, [&ga, &gb], gb_, &gc, act).unwrap();
                ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
                let want = matmul_ref(&s, &a, &b, use_bias.then_some(&bias[..]), relu);
                assert_close(
                    &format!(
                        "gemm {v:?} {threads:?} {m}x{n}x{k} ta={ta} tb={tb} bias={use_bias} relu={relu}"
                    ),
                    &ctx.read_f32(&gc).unwrap(),
                    &want,
                );
            }
        }
    }
}

#[test]
fn dense_layer_forward_and_gradients() {
    // x [N,in], W [in,out]: y = x·W + b; dx = dy·Wᵀ; dW = xᵀ·dy.
    let Some(ctx) = gpu() else { return };
    let (batch, inp, out) = (37, 200, 24);
    let x = rand_vec(1, batch * inp);
    let w = rand_vec(2, inp * out);
    let bias = rand_vec(3, out);
    let dy = rand_vec(4, batch * out);
    let (gx, gw, gbias, gdy) = (
        ctx.tensor(&x, "x").unwrap(),
        ctx.tensor(&w, "w").unwrap(),
        ctx.tensor(&bias, "b").unwrap(),
        ctx.tensor(&dy, "dy").unwrap(),
    );
    let (gy, gdx, gdw) = (
        ctx.alloc(batch * out, "y").unwrap(),
        ctx.alloc(batch * inp, "dx").unwrap(),
        ctx.alloc(inp * out, "dw").unwrap(),
    );
    let fwd = GemmShape::new(batch, out, inp, false, false).unwrap();
    let bdx = GemmShape::new(batch, inp, out, false, true).unwrap();
    let bdw = GemmShape::new(inp, out, batch, true, false).unwrap();
    let d1 = matmul(ctx, &fwd, &gx, &gw, Some(&gbias), &gy, false).unwrap();
    let d2 = matmul(ctx, &bdx, &gdy, &gw, None, &gdx, false).unwrap();
    let d3 = matmul(ctx, &bdw, &gx, &gdy, None, &gdw, false).unwrap();
    ctx.run(&d1.iter().chain(&d2).chain(&d3).collect::<Vec<_>>())
        .unwrap();
    assert_close(
        "dense y",
        &ctx.read_f32(&gy).unwrap(),
        &naive(&fwd, &x, &w, Some(&bias), false),
    );
    assert_close(
        "dense dx",
        &ctx.read_f32(&gdx).unwrap(),
        &naive(&bdx, &dy, &w, None, false),
    );
    assert_close(
        "dense dW",
        &ctx.read_f32(&gdw).unwrap(),
        &naive(&bdw, &x, &dy, None, false),
    );
}

#[test]
fn reference_dense_gradients_match_finite_differences() {
    // loss = <x·W + b, r>: dW = xᵀ·r and dx = r·Wᵀ, as computed with the transposed products.
    let (batch, inp, out) = (3, 5, 4);
    let x = rand_vec(21, batch * inp);
    let w = rand_vec(22, inp * out);
    let bias = rand_vec(23, out);
    let r = rand_vec(24, batch * out);
    let fwd = GemmShape::new(batch, out, inp, false, false).unwrap();
    let dx = matmul_ref(
        &GemmShape::new(batch, inp, out, false, true).unwrap(),
        &r,
        &w,
        None,
        false,
    );
    let dw = matmul_ref(
        &GemmShape::new(inp, out, batch, true, false).unwrap(),
        &x,
        &r,
        None,
        false,
    );
    check_grad("dense dx", &x, &dx, |x| {
        dot(&matmul_ref(&fwd, x, &w, Some(&bias), false), &r)
    });
    check_grad("dense dW", &w, &dw, |w| {
        dot(&matmul_ref(&fwd, &x, w, Some(&bias), false), &r)
    });
}

#[test]
fn gpu_is_deterministic() {
    let Some(ctx) = gpu() else { return };
    let s = GemmShape::new(100, 70, 300, true, true).unwrap();
    let ga = ctx.tensor(&rand_vec(5, 100 * 300), "a").unwrap();
    let gb = ctx.tensor(&rand_vec(6, 300 * 70), "b").unwrap();
    let gc = ctx.alloc(100 * 70, "c").unwrap();
    // Whole, and split over k (the slabs summed in order): the same bits every run.
    for threads in [Threads::Few, Threads::Many] {
        let vt = (Variant::Blocked, threads);
        let d = matmul_by(ctx, vt, &s, [&ga, &gb], None, &gc, Act::Linear).unwrap();
        ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
        let first = ctx.read_u32(&gc).unwrap();
        ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(first, ctx.read_u32(&gc).unwrap(), "{threads:?}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let Some(ctx) = gpu() else { return };
    assert!(GemmShape::new(0, 3, 4, false, false).is_err());
    assert!(GemmShape::new(3, 0, 4, false, false).is_err());
    assert!(GemmShape::new(3, 3, 0, false, false).is_err());
    let s = GemmShape::new(4, 5, 6, false, false).unwrap();
    let a = ctx.alloc(24, "a").unwrap();
    let b = ctx.alloc(30, "b").unwrap();
    let c = ctx.alloc(20, "c").unwrap();
    let short = ctx.alloc(19, "short").unwrap();
    assert!(matmul(ctx, &s, &a, &b, None, &c, false).is_ok());
    assert!(matmul(ctx, &s, &short, &b, None, &c, false).is_err());
    assert!(matmul(ctx, &s, &a, &short, None, &c, false).is_err());
    assert!(matmul(ctx, &s, &a, &b, None, &short, false).is_err());
    assert!(matmul(ctx, &s, &a, &b, Some(&short), &c, false).is_err());
    let zero = GemmShape {
        m: 0,
        n: 5,
        k: 6,
        trans_a: false,
        trans_b: false,
    };
    assert!(matmul(ctx, &zero, &a, &b, None, &c, false).is_err());
}
