//! The direct convolution for few input channels (`ops::cpu::conv_direct`, AVX-512 only): its
//! forward gives the bits of the implicit-GEMM tile it replaces; its weight gradient from a max
//! pooling's gradient matches the reference (scatter, then `conv2d::backward_weights_ref`) within
//! ATOL scaled by the square root of the summation length and the common RTOL, matches finite
//! differences, and gives the same bits on 1, 2 and 3 threads. On a processor without AVX-512
//! only the shape rules are checked (the backend then runs `cpu_conv`, tested in
//! crates/engine/tests/ops_cpu_conv.rs).

mod common;
use common::*;
use wgnn_engine::ops::conv2d::{self, Conv2dShape};
use wgnn_engine::ops::cpu;
use wgnn_engine::ops::pool::{self, PoolShape};
use wgnn_engine::util::simd::Isa;

/// The direct kernels' one instruction set.
const ISA: Isa = Isa::Avx512;

/// First layers as the presets have them and odder ones: one and three input channels, 3x3 and
/// 5x5, valid and same padding, stride 2; 32 and 64 output channels (tiles of two registers), 8,
/// 16 and 40 (one register, the last part-filled); batches of one to three.
fn cases() -> Vec<ConvCase> {
    vec![
        (3, 28, 28, 1, 32, [3, 3], [1, 1], false),
        (2, 28, 28, 1, 8, [3, 3], [1, 1], false),
        (2, 14, 13, 1, 16, [3, 3], [1, 1], true),
        (1, 11, 12, 3, 40, [5, 5], [2, 1], true),
        (2, 28, 28, 1, 32, [5, 5], [1, 1], true),
        (2, 12, 11, 3, 64, [3, 3], [2, 2], true),
        (1, 9, 10, 3, 32, [5, 5], [1, 1], false),
        (2, 13, 13, 1, 32, [3, 2], [1, 2], false),
    ]
}

fn shape(c: &ConvCase) -> Conv2dShape {
    Conv2dShape::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7).unwrap()
}

/// Whether this processor runs the direct convolution (AVX-512); says so when it does not.
fn direct_runs_here() -> bool {
    let runs = cases()
        .iter()
        .all(|c| cpu::conv_direct::applies(ISA, &shape(c)));
    if !runs {
        eprintln!("no AVX-512 on this processor: the direct convolution does not run here");
    }
    runs
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn only_convolutions_with_few_taps_run_directly() {
    let wide_input = shape(&(1, 13, 13, 32, 64, [3, 3], [1, 1], false));
    let large_kernel = shape(&(1, 28, 28, 4, 32, [5, 5], [1, 1], false));
    assert!(!cpu::conv_direct::applies(ISA, &wide_input));
    assert!(!cpu::conv_direct::applies(ISA, &large_kernel));
    // Held to a narrower instruction set, no convolution runs directly.
    let first = shape(&cases()[0]);
    for isa in [Isa::Avx2, Isa::Neon, Isa::Portable] {
        assert!(!cpu::conv_direct::applies(isa, &first), "{isa}");
    }
}

#[test]
fn direct_forward_gives_the_tiles_bits() {
    if !direct_runs_here() {
        return;
    }
    for (i, c) in cases().iter().enumerate() {
        let s = shape(c);
        let label = conv2d::case_label(&s, c.7);
        let seed = 300 + 10 * i as u64;
        let (x, w, b) = (
            rand_vec(seed, s.x_len()),
            rand_vec(seed + 1, s.w_len()),
            rand_vec(seed + 2, s.cout),
        );
        let d = cpu::conv_direct::Direct::new(ISA, &s, &x, &w);
        for relu in [false, true] {
            let mut want = vec![0f32; s.y_len()];
            cpu::conv::forward_into(ISA, &s, (&x, &w, &b), relu, &mut want);
            // Runs of seven pixels: tiles that cross rows, images and end part-filled.
            let mut got = vec![f32::NAN; s.y_len()];
            for (k, run) in got.chunks_mut(7 * s.cout).enumerate() {
                d.rows(7 * k, &b, relu, run);
            }
            assert_eq!(bits(&got), bits(&want), "{label} relu={relu}");
        }
    }
}

/// A convolution case and the 2x2 (or 3x2) pooling after it; odd output sizes leave a row or a
/// column unpooled.
fn pooled(c: &ConvCase, pool_size: [usize; 2]) -> (Conv2dShape, PoolShape) {
    let s = shape(c);
    let p = PoolShape::new(s.n, s.oh, s.ow, s.cout, pool_size, pool_size).unwrap();
    (s, p)
}

fn pooled_cases() -> Vec<(Conv2dShape, PoolShape)> {
    let mut v: Vec<_> = cases().iter().map(|c| pooled(c, [2, 2])).collect();
    v.push(pooled(&(2, 13, 14, 1, 32, [3, 3], [1, 1], false), [3, 2]));
    v
}

#[test]
fn weight_gradient_from_pooling_matches_reference() {
    if !direct_runs_here() {
        return;
    }
    for (i, (s, p)) in pooled_cases().into_iter().enumerate() {
        let seed = 400 + 10 * i as u64;
        let x = rand_vec(seed, s.x_len());
        let (_, arg) = pool::forward_ref(&p, &rand_vec(seed + 1, s.y_len()));
        let dy = rand_vec(seed + 2, p.y_len());
        let (dw, db) = cpu::conv_direct::weight_grad_pooled(ISA, &s, &p, &x, &dy, &arg);
        let g = pool::backward_ref(&p, &dy, &arg);
        let (rw, rb) = conv2d::backward_weights_ref(&s, &x, &g);
        let atol = ATOL * ((s.n * s.oh * s.ow) as f32).sqrt();
        let label = format!("case {i} {s:?}");
        assert_close_tol(&format!("{label} dw"), &dw, &rw, atol, RTOL);
        assert_close_tol(&format!("{label} db"), &db, &rb, atol, RTOL);
    }
}

/// loss(w, b) = <c, conv(x, w) + b at the pooling's argmax>: max pooling with its argmax held
/// (as the backward pass takes it), so that a step of FD_EPS cannot move a window's maximum to
/// another pixel. Its gradient is the pooled one's weight gradient with c as the pooled gradient.
#[test]
fn weight_gradient_from_pooling_matches_finite_differences() {
    if !direct_runs_here() {
        return;
    }
    let (s, p) = pooled(&(1, 9, 8, 3, 32, [3, 3], [1, 1], false), [2, 2]);
    let x = rand_vec(1, s.x_len());
    let (w, b) = (rand_vec(2, s.w_len()), rand_vec(3, s.cout));
    let c = rand_vec(4, p.y_len());
    let (_, arg) = pool::forward_ref(&p, &conv2d::forward_ref(&s, &x, &w, &b, false));
    let loss = |w: &[f32], b: &[f32]| {
        let y = conv2d::forward_ref(&s, &x, w, b, false);
        let at: Vec<f32> = arg.iter().map(|&a| y[a as usize]).collect();
        dot(&c, &at)
    };
    let (dw, db) = cpu::conv_direct::weight_grad_pooled(ISA, &s, &p, &x, &c, &arg);
    check_grad("direct dw", &w, &dw, |w| loss(w, &b));
    check_grad("direct db", &b, &db, |b| loss(&w, b));
}

#[test]
fn weight_gradient_does_not_depend_on_the_thread_count() {
    if !direct_runs_here() {
        return;
    }
    let (s, p) = pooled(&(13, 28, 28, 1, 32, [3, 3], [1, 1], false), [2, 2]);
    let x = rand_vec(5, s.x_len());
    let (_, arg) = pool::forward_ref(&p, &rand_vec(6, s.y_len()));
    let dy = rand_vec(7, p.y_len());
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (dw, db) =
            pool.install(|| cpu::conv_direct::weight_grad_pooled(ISA, &s, &p, &x, &dy, &arg));
        (bits(&dw), bits(&db))
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(one == run(threads), "1 and {threads} threads differ");
    }
}
