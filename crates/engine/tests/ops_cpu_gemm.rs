//! The CPU backend's packed GEMM (`ops::cpu::gemm`) against the blocked reference `matmul_ref`, for
//! every transpose combination, micro-tile tails (m % 6, n % 16), k across packed blocks (k > 256),
//! the k-split path (few rows, long k: weight gradients), B read in place (large B), bias and ReLU.
//! Tolerance: the common ATOL/RTOL, with ATOL scaled by sqrt(k) for the summation order.
//! `gemm_into` writes every element of a NaN-filled C, on every path (k = 0 included). Each runs
//! on every instruction set the processor runs.

mod common;
use common::*;
use wgnn_engine::ops::cpu::gemm::{gemm, gemm_into};
use wgnn_engine::ops::gemm::{matmul_ref, GemmShape};
use wgnn_engine::util::simd::Isa;

const SIZES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 13, 5),
    (6, 16, 256),
    (13, 17, 257),
    (97, 33, 300),
    (128, 10, 1600),
    (9, 32, 4000), // k split: conv1's weight gradient shape, smaller
    (288, 64, 2100),
    (50, 40, 2000), // B read in place (k*n >= 65,536) with a partial last panel
    (1600, 64, 128),
];

#[test]
fn packed_gemm_matches_reference() {
    for isa in Isa::available() {
        packed_gemm_matches_reference_on(isa);
    }
}

fn packed_gemm_matches_reference_on(isa: Isa) {
    let mut worst = 0f32;
    for &(m, n, k) in SIZES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (with_bias, relu) in [(false, false), (true, true)] {
                let s = GemmShape::new(m, n, k, ta, tb).unwrap();
                let a = rand_vec(m as u64 * 7 + k as u64, m * k);
                let b = rand_vec(n as u64 * 11 + k as u64 + 1, k * n);
                let bias = rand_vec(n as u64 + 5, n);
                let bias = with_bias.then_some(bias.as_slice());
                let want = matmul_ref(&s, &a, &b, bias, relu);
                let got = gemm(isa, &s, (&a, &b), bias, relu);
                let what = format!(
                    "gemm {m}x{n}x{k} ta={ta} tb={tb} bias={with_bias} relu={relu} on {isa}"
                );
                let atol = ATOL * (k as f32).sqrt();
                worst = worst.max(assert_close_tol(&what, &got, &want, atol, RTOL));
            }
        }
    }
    println!("cpu_gemm on {isa}: largest |packed - reference| = {worst:.2e}");
}

#[test]
fn gemm_into_overwrites_whatever_c_held() {
    let sizes = SIZES.iter().copied().chain([(5, 7, 0)]);
    for ((m, n, k), isa) in sizes.flat_map(|s| Isa::available().into_iter().map(move |i| (s, i))) {
        for (ta, tb) in [(false, false), (true, true)] {
            // A literal, not `GemmShape::new`: the GPU path rejects k = 0, the CPU one does not.
            let s = GemmShape {
                m,
                n,
                k,
                trans_a: ta,
                trans_b: tb,
            };
            let a = rand_vec(m as u64 + 3 * k as u64, m * k);
            let b = rand_vec(n as u64 + 5 * k as u64, k * n);
            let bias = rand_vec(n as u64, n);
            let mut c = vec![f32::NAN; m * n];
            gemm_into(isa, &s, (&a, &b), Some(&bias), true, &mut c);
            let want = gemm(isa, &s, (&a, &b), Some(&bias), true);
            assert_eq!(c, want, "gemm_into {m}x{n}x{k} ta={ta} tb={tb} on {isa}");
        }
    }
}
