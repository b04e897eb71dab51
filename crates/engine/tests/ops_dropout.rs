//! Dropout: GPU mask bit-identical to the CPU hash, kept fraction, stream separation, rate 0.

mod common;
use common::*;
use wgnn_engine::ops::dropout as dr;
use wgnn_engine::ops::step::StepParams;
use wgnn_engine::util::simd::Isa;

fn step(seed: u64, t: u32) -> StepParams {
    let (lo, hi) = StepParams::seed_words(seed);
    StepParams {
        batch: 1,
        t,
        seed: lo,
        seed_hi: hi,
        ..Default::default()
    }
}

#[test]
fn gpu_mask_is_bit_identical_to_reference() {
    let Some(ctx) = gpu() else { return };
    for &(n, rate, seed, t, layer) in &[
        (1usize, 0.5f32, 0u64, 1u32, 0u32),
        (1000, 0.5, 42, 1, 0),
        (1000, 0.25, 42, 2, 3),
        (4097, 0.1, 7, 100, 1),
        (30_001, 0.75, 123_456_789, 9, 2),
        // Seeds past 32 bits: the high word must reach the GPU hash too.
        (1000, 0.5, 42 + (1 << 32), 1, 0),
        (5000, 0.3, u64::MAX, 3, 1),
    ] {
        let x = rand_vec(n as u64 ^ seed, n);
        let dy = rand_vec(n as u64 + 99, n);
        let gx = ctx.tensor(&x, "x").unwrap();
        let gdy = ctx.tensor(&dy, "dy").unwrap();
        let gstep = ctx.tensor(&[step(seed, t)], "step").unwrap();
        let (gy, gm, gdx) = (
            ctx.alloc(n, "y").unwrap(),
            ctx.alloc(n, "mask").unwrap(),
            ctx.alloc(n, "dx").unwrap(),
        );
        let f = dr::forward(ctx, n, rate, layer, &gx, &gstep, &gy, &gm).unwrap();
        let b = dr::backward(ctx, n, &gdy, &gm, &gdx).unwrap();
        ctx.run(&[&f, &b]).unwrap();
        let mask = dr::mask_ref(n, rate, seed, t, layer);
        let got = ctx.read_f32(&gm).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&got),
            bits(&mask),
            "mask n={n} rate={rate} seed={seed} t={t} layer={layer}"
        );
        let what = format!("dropout n={n} rate={rate} seed={seed} t={t} layer={layer}");
        assert_close(
            &format!("{what} y"),
            &ctx.read_f32(&gy).unwrap(),
            &dr::forward_ref(&x, &mask),
        );
        assert_close(
            &format!("{what} dx"),
            &ctx.read_f32(&gdx).unwrap(),
            &dr::backward_ref(&dy, &mask),
        );
    }
}

#[test]
fn kept_fraction_is_binomial() {
    let n = 100_000usize;
    for &rate in &[0.1f32, 0.3, 0.5, 0.8] {
        for seed in 0..3u64 {
            let mask = dr::mask_ref(n, rate, seed, 1, 0);
            let scale = 1.0 / (1.0 - rate);
            assert!(mask.iter().all(|&m| m == 0.0 || m == scale));
            let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64;
            let p = 1.0 - rate as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            // 5 standard deviations: a false failure has probability ~6e-7 per case.
            assert!(
                (kept - n as f64 * p).abs() < 5.0 * sd,
                "rate {rate} seed {seed}: kept {kept} of {n}, expected {} ± {sd:.0}",
                n as f64 * p
            );
        }
    }
}

#[test]
fn masks_differ_across_steps_layers_and_seeds() {
    let n = 10_000;
    let base = dr::mask_ref(n, 0.5, 1, 1, 0);
    for other in [
        dr::mask_ref(n, 0.5, 1, 2, 0),
        dr::mask_ref(n, 0.5, 1, 1, 1),
        dr::mask_ref(n, 0.5, 2, 1, 0),
        // Seeds that agree in their low 32 bits are still different streams.
        dr::mask_ref(n, 0.5, 1 + (1 << 32), 1, 0),
        dr::mask_ref(n, 0.5, 1 + (7 << 40), 1, 0),
    ] {
        // Independent masks at rate 0.5 agree on about half of the elements.
        let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
        assert!(
            (4_500..5_500).contains(&same),
            "masks agree on {same} of {n}"
        );
    }
    assert_eq!(base, dr::mask_ref(n, 0.5, 1, 1, 0));
}

#[test]
fn rate_zero_keeps_everything() {
    let Some(ctx) = gpu() else { return };
    assert_eq!(dr::threshold(0.0), 0);
    let n = 5000;
    let x = rand_vec(3, n);
    let gx = ctx.tensor(&x, "x").unwrap();
    let gstep = ctx.tensor(&[step(5, 3)], "step").unwrap();
    let (gy, gm) = (ctx.alloc(n, "y").unwrap(), ctx.alloc(n, "mask").unwrap());
    ctx.run(&[&dr::forward(ctx, n, 0.0, 0, &gx, &gstep, &gy, &gm).unwrap()])
        .unwrap();
    assert!(ctx.read_f32(&gm).unwrap().iter().all(|&m| m == 1.0));
    assert_eq!(ctx.read_f32(&gy).unwrap(), x);
}

#[test]
fn reference_backward_matches_finite_differences() {
    let x = rand_vec(11, 40);
    let w = rand_vec(12, 40);
    let mask = dr::mask_ref(40, 0.4, 3, 1, 0);
    let grad = dr::backward_ref(&w, &mask);
    check_grad("dropout", &x, &grad, |x| {
        dot(&dr::forward_ref(x, &mask), &w)
    });
}

#[test]
fn bad_arguments_are_errors() {
    let Some(ctx) = gpu() else { return };
    let a = ctx.alloc(10, "a").unwrap();
    let b = ctx.alloc(10, "b").unwrap();
    let m = ctx.alloc(10, "m").unwrap();
    let short = ctx.alloc(9, "short").unwrap();
    let st = ctx.tensor(&[step(1, 1)], "step").unwrap();
    assert!(dr::forward(ctx, 10, 0.5, 0, &a, &st, &b, &m).is_ok());
    assert!(dr::forward(ctx, 10, 1.0, 0, &a, &st, &b, &m).is_err());
    assert!(dr::forward(ctx, 10, -0.1, 0, &a, &st, &b, &m).is_err());
    assert!(dr::forward(ctx, 10, 0.5, 0, &short, &st, &b, &m).is_err());
    assert!(dr::forward(ctx, 10, 0.5, 0, &a, &st, &b, &short).is_err());
    assert!(dr::forward(ctx, 0, 0.5, 0, &a, &st, &b, &m).is_err());
    assert!(dr::backward(ctx, 10, &a, &short, &b).is_err());
}

#[test]
fn into_and_in_place_forms_match_the_allocating_ones() {
    let n = 40_000;
    let (x, dy) = (rand_vec(21, n), rand_vec(22, n));
    let mut mask = vec![f32::NAN; n];
    for isa in Isa::available() {
        mask.fill(f32::NAN);
        dr::mask_into(isa, 0.3, (5, 2, 1), &mut mask);
        assert_eq!(mask, dr::mask_ref(n, 0.3, 5, 2, 1), "on {isa}");
    }
    let mut y = vec![f32::NAN; n];
    dr::forward_into(&x, &mask, &mut y);
    assert_eq!(y, dr::forward_ref(&x, &mask));
    let mut g = dy.clone();
    dr::backward_in_place(&mut g, &mask);
    assert_eq!(g, dr::backward_ref(&dy, &mask));
}
