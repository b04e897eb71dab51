//! The CPU backend's implicit-GEMM convolution (`ops::cpu::conv`) against the plain reference loops
//! of `conv2d::*_ref`, on the odd shapes and the presets' shapes; its register tile
//! (`ops::cpu::tile`) on every instruction set this processor has, against a plain sum; and the
//! same bits whatever the thread count. Every pass runs on each instruction set the processor
//! runs (`Isa::available`). Tolerance: the common ATOL/RTOL, with ATOL scaled by the
//! square root of the summation length for the weight gradient (as for the im2col path).

mod common;
use common::*;
use wgnn_engine::ops::conv2d::{self, odd_cases, Conv2dShape};
use wgnn_engine::ops::cpu;
use wgnn_engine::ops::cpu::tile::{accumulate, Body, Operands, Seg, MR};
use wgnn_engine::ops::elementwise::{act_forward_in_place, Act};
use wgnn_engine::ops::pool::{self, PoolShape};
use wgnn_engine::util::simd::Isa;

/// The odd shapes, then the presets' convolutions at small batches (conv 1->32 and 32->64 of
/// convnet, the 5x5 same-padded ones of the larger presets, tiny's narrow ones).
fn cases() -> Vec<ConvCase> {
    let mut v = odd_cases(false);
    v.extend([
        (3, 28, 28, 1, 32, [3, 3], [1, 1], false),
        (9, 13, 13, 32, 64, [3, 3], [1, 1], false),
        (2, 28, 28, 1, 32, [5, 5], [1, 1], true),
        (2, 14, 14, 32, 64, [5, 5], [1, 1], true),
        (2, 28, 28, 1, 8, [3, 3], [1, 1], false),
        (2, 13, 13, 8, 16, [3, 3], [1, 1], false),
        (2, 9, 8, 3, 5, [3, 2], [2, 2], true),
        (2, 7, 7, 4, 6, [5, 5], [2, 1], true),
    ]);
    v
}

fn shape(c: &ConvCase) -> Conv2dShape {
    Conv2dShape::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7).unwrap()
}

#[test]
fn implicit_convolution_matches_reference() {
    for isa in Isa::available() {
        implicit_convolution_matches_reference_on(isa);
    }
}

fn implicit_convolution_matches_reference_on(isa: Isa) {
    for (i, c) in cases().iter().enumerate() {
        let s = shape(c);
        let label = format!("{} on {isa}", conv2d::case_label(&s, c.7));
        let seed = 100 + 10 * i as u64;
        let x = rand_vec(seed, s.x_len());
        let w = rand_vec(seed + 1, s.w_len());
        let b = rand_vec(seed + 2, s.cout);
        let dy = rand_vec(seed + 3, s.y_len());
        for relu in [false, true] {
            // NaN first: an element the pass fails to write shows up.
            let mut y = vec![f32::NAN; s.y_len()];
            cpu::conv::forward_into(isa, &s, (&x, &w, &b), relu, &mut y);
            let want = conv2d::forward_ref(&s, &x, &w, &b, relu);
            let atol = ATOL * ((s.kh * s.kw * s.cin) as f32).sqrt();
            assert_close_tol(
                &format!("{label} forward relu={relu}"),
                &y,
                &want,
                atol,
                RTOL,
            );
        }
        let mut dx = vec![f32::NAN; s.x_len()];
        cpu::conv::backward_input_into(isa, &s, &w, &dy, &mut dx);
        let atol = ATOL * ((s.kh * s.kw * s.cout) as f32).sqrt();
        let want = conv2d::backward_input_ref(&s, &w, &dy);
        assert_close_tol(&format!("{label} dx"), &dx, &want, atol, RTOL);
        let (dw, db) = cpu::conv::backward_weights(isa, &s, &x, &dy);
        let (rw, rb) = conv2d::backward_weights_ref(&s, &x, &dy);
        let atol = ATOL * ((s.n * s.oh * s.ow) as f32).sqrt();
        assert_close_tol(&format!("{label} dw"), &dw, &rw, atol, RTOL);
        assert_close_tol(&format!("{label} db"), &db, &rb, atol, RTOL);
    }
}

/// Every pass of one case on `isa`, as bits.
fn passes_bits(isa: Isa, s: &Conv2dShape, seed: u64) -> Vec<Vec<u32>> {
    let x = rand_vec(seed, s.x_len());
    let w = rand_vec(seed + 1, s.w_len());
    let b = rand_vec(seed + 2, s.cout);
    let dy = rand_vec(seed + 3, s.y_len());
    let mut y = vec![0f32; s.y_len()];
    cpu::conv::forward_into(isa, s, (&x, &w, &b), true, &mut y);
    let mut dx = vec![0f32; s.x_len()];
    cpu::conv::backward_input_into(isa, s, &w, &dy, &mut dx);
    let (dw, db) = cpu::conv::backward_weights(isa, s, &x, &dy);
    [y, dx, dw, db]
        .iter()
        .map(|v| v.iter().map(|f| f.to_bits()).collect())
        .collect()
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let in_pool = |threads: usize, f: &(dyn Fn() -> Vec<Vec<u32>> + Sync)| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    };
    for c in [
        (13, 13, 13, 32, 64, [3, 3], [1, 1], false),
        (11, 28, 28, 1, 32, [3, 3], [1, 1], false),
        (3, 14, 14, 32, 64, [5, 5], [1, 1], true),
    ] {
        let s = shape(&c);
        for isa in Isa::available() {
            let one = in_pool(1, &|| passes_bits(isa, &s, 7));
            for threads in [2, 3] {
                let many = in_pool(threads, &|| passes_bits(isa, &s, 7));
                assert!(
                    one == many,
                    "{} on {isa}: 1 and {threads} threads differ",
                    conv2d::case_label(&s, c.7)
                );
            }
        }
    }
}

#[test]
fn every_tile_body_matches_a_plain_sum() {
    // A: 3 segments of 5, 0 and 7 steps, rows at scattered offsets, A step 3; B step nr + 4.
    let a = rand_vec(1, 400);
    let rows = [0, 17, 5, 90, 41, 3];
    for body in Body::available() {
        let nr = body.nr();
        let b_step = nr + 4;
        let b = rand_vec(2, 40 * b_step + nr);
        let segs = [
            Seg { a: 0, b: 0, len: 5 },
            Seg { a: 9, b: 3, len: 0 },
            Seg {
                a: 200,
                b: 5 * b_step,
                len: 7,
            },
        ];
        let op = Operands {
            a: &a,
            rows,
            a_step: 3,
            b: &b,
            b_step,
        };
        let start = rand_vec(3, MR * nr);
        let mut acc = start.clone();
        accumulate(body, &op, &segs, &mut acc);
        let mut want = vec![0f32; MR * nr];
        for i in 0..MR {
            for j in 0..nr {
                let mut v = start[i * nr + j] as f64;
                for s in &segs {
                    for kk in 0..s.len {
                        let av = a[s.a + rows[i] + kk * 3] as f64;
                        v += av * b[s.b + kk * b_step + j] as f64;
                    }
                }
                want[i * nr + j] = v as f32;
            }
        }
        assert_close(&format!("tile {body:?}"), &acc, &want);
    }
}

#[test]
#[should_panic(expected = "tile: B bounds")]
fn a_tile_reading_past_b_panics() {
    let body = Body::for_width(16, Isa::detected());
    let a = vec![0f32; 64];
    let b = vec![0f32; body.nr() * 3];
    let op = Operands {
        a: &a,
        rows: [0; MR],
        a_step: 1,
        b: &b,
        b_step: body.nr(),
    };
    let mut acc = vec![0f32; MR * body.nr()];
    accumulate(body, &op, &[Seg { a: 0, b: 0, len: 4 }], &mut acc);
}

/// Convolution + activation + max pooling fused gives the bits of the three unfused passes, for
/// pooling windows that tile the rows (odd sizes leave rows and columns unpooled).
#[test]
fn fused_conv_pool_gives_the_unfused_bits() {
    let cases: [(ConvCase, [usize; 2], Act); 5] = [
        ((3, 28, 28, 1, 32, [3, 3], [1, 1], false), [2, 2], Act::Relu),
        (
            (4, 13, 13, 32, 64, [3, 3], [1, 1], false),
            [2, 2],
            Act::Relu,
        ),
        ((2, 14, 14, 3, 16, [5, 5], [1, 1], true), [2, 2], Act::Tanh),
        (
            (2, 11, 12, 4, 8, [3, 3], [1, 1], false),
            [3, 2],
            Act::Linear,
        ),
        (
            (1, 9, 9, 2, 40, [3, 3], [2, 2], true),
            [5, 5],
            Act::Elu(0.5),
        ),
    ];
    for (i, (c, pool_size, act)) in cases.into_iter().enumerate() {
        for isa in Isa::available() {
            fused_case(isa, (i, &c), pool_size, act);
        }
    }
    // Overlapping or padded windows are not fused.
    let s = shape(&(1, 12, 12, 1, 4, [3, 3], [1, 1], false));
    let overlapping = PoolShape::new(1, 10, 10, 4, [3, 3], [2, 2]).unwrap();
    assert!(!cpu::conv_pool::fusable(&s, &overlapping));
}

/// One case of `fused_conv_pool_gives_the_unfused_bits` on `isa`.
fn fused_case(isa: Isa, (i, c): (usize, &ConvCase), pool_size: [usize; 2], act: Act) {
    {
        let s = shape(c);
        let p = PoolShape::new(s.n, s.oh, s.ow, s.cout, pool_size, pool_size).unwrap();
        assert!(cpu::conv_pool::fusable(&s, &p), "case {i}");
        let x = rand_vec(50 + i as u64, s.x_len());
        let w = rand_vec(60 + i as u64, s.w_len());
        let b = rand_vec(70 + i as u64, s.cout);
        let mut y = vec![0f32; s.y_len()];
        cpu::conv::forward_into(isa, &s, (&x, &w, &b), act == Act::Relu, &mut y);
        if act != Act::Relu {
            act_forward_in_place(act, &mut y);
        }
        let (mut want, mut want_arg) = (vec![0f32; p.y_len()], vec![0u32; p.y_len()]);
        pool::forward_into(isa, &p, &y, &mut want, &mut want_arg);
        let (mut got, mut got_arg) = (vec![f32::NAN; p.y_len()], vec![u32::MAX; p.y_len()]);
        let pair = (&s, &p);
        cpu::conv_pool::forward_into(isa, pair, &x, &w, &b, act, &mut got, &mut got_arg);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "case {i} on {isa}: pooled values");
        assert_eq!(got_arg, want_arg, "case {i} on {isa}: argmax");
    }
}
