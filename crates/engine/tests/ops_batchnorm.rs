//! BatchNormalization kernels against the reference (train forward, running statistics over several
//! steps, inference, backward), padding rows ignored, and the reference backward against finite
//! differences.

mod common;
use common::*;
use wgnn_engine::ops::batchnorm::{self as bn, BnShape};
use wgnn_engine::ops::step::StepParams;
use wgnn_engine::runtime::GpuTensor;
use wgnn_engine::util::rng::Rng;

fn step(batch: usize) -> StepParams {
    StepParams {
        batch: batch as u32,
        t: 1,
        seed: 0,
        offset: 0,
        lr: 0.0,
        ..Default::default()
    }
}

struct Bufs {
    x: GpuTensor,
    dy: GpuTensor,
    gamma: GpuTensor,
    beta: GpuTensor,
    rmean: GpuTensor,
    rvar: GpuTensor,
    step: GpuTensor,
    y: GpuTensor,
    mean: GpuTensor,
    invstd: GpuTensor,
    dx: GpuTensor,
    dgamma: GpuTensor,
    dbeta: GpuTensor,
}

struct Params {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rmean: Vec<f32>,
    rvar: Vec<f32>,
}

fn params(seed: u64, c: usize) -> Params {
    let mut r = Rng::new(seed);
    Params {
        gamma: r.vec(c, 0.5, 1.5),
        beta: r.vec(c, -0.5, 0.5),
        rmean: r.vec(c, -0.2, 0.2),
        rvar: r.vec(c, 0.5, 2.0),
    }
}

fn bufs(s: &BnShape, p: &Params) -> Bufs {
    let ctx = gpu().expect("an adapter (the calling test returns first without one)");
    let n = s.max_rows() * s.c;
    Bufs {
        x: ctx.alloc(n, "x").unwrap(),
        dy: ctx.alloc(n, "dy").unwrap(),
        gamma: ctx.tensor(&p.gamma, "gamma").unwrap(),
        beta: ctx.tensor(&p.beta, "beta").unwrap(),
        rmean: ctx.tensor(&p.rmean, "rmean").unwrap(),
        rvar: ctx.tensor(&p.rvar, "rvar").unwrap(),
        step: ctx.alloc(8, "step").unwrap(),
        y: ctx.alloc(n, "y").unwrap(),
        mean: ctx.alloc(s.c, "mean").unwrap(),
        invstd: ctx.alloc(s.c, "invstd").unwrap(),
        dx: ctx.alloc(n, "dx").unwrap(),
        dgamma: ctx.alloc(s.c, "dgamma").unwrap(),
        dbeta: ctx.alloc(s.c, "dbeta").unwrap(),
    }
}

/// Run forward_train then backward on the GPU with `batch` valid samples.
fn run_train(s: &BnShape, b: &Bufs, batch: usize, x: &[f32], dy: &[f32]) {
    let ctx = gpu().expect("an adapter (the calling test returns first without one)");
    ctx.write(&b.x, x).unwrap();
    ctx.write(&b.dy, dy).unwrap();
    ctx.write(&b.step, &[step(batch)]).unwrap();
    let mut ds = bn::forward_train(
        ctx, s, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.step, &b.y, &b.mean, &b.invstd,
    )
    .unwrap();
    ds.extend(
        bn::backward(
            ctx, s, &b.x, &b.dy, &b.gamma, &b.mean, &b.invstd, &b.step, &b.dx, &b.dgamma, &b.dbeta,
        )
        .unwrap(),
    );
    ctx.run(&ds.iter().collect::<Vec<_>>()).unwrap();
}

const CASES: &[(usize, usize, usize, usize)] = &[
    // (rows_per_sample, c, max_batch, batch)
    (1, 1, 8, 8),
    (1, 3, 37, 20),
    (1, 32, 1, 1),
    (1, 64, 128, 100),
    (26 * 26, 1, 3, 2),
    (26 * 26, 3, 128, 100),
    (26 * 26, 32, 3, 2),
    (26 * 26, 64, 8, 7),
];

#[test]
fn train_forward_and_backward_match_reference() {
    let Some(ctx) = gpu() else { return };
    for (i, &(rps, c, max_batch, batch)) in CASES.iter().enumerate() {
        let s = BnShape::new(rps, max_batch, c).unwrap();
        let p = params(i as u64, c);
        let b = bufs(&s, &p);
        let n = s.max_rows() * c;
        // Inputs with a per-channel offset, so the mean matters.
        let x: Vec<f32> = rand_vec(100 + i as u64, n)
            .iter()
            .enumerate()
            .map(|(j, v)| v + (j % c) as f32 * 0.3)
            .collect();
        let dy = rand_vec(200 + i as u64, n);
        run_train(&s, &b, batch, &x, &dy);
        let r = bn::forward_train_ref(&s, batch, &x, &p.gamma, &p.beta, &p.rmean, &p.rvar);
        let what = format!("bn rps={rps} c={c} max_batch={max_batch} batch={batch}");
        assert_close(&format!("{what} y"), &ctx.read_f32(&b.y).unwrap(), &r.y);
        assert_close(
            &format!("{what} mean"),
            &ctx.read_f32(&b.mean).unwrap(),
            &r.mean,
        );
        assert_close(
            &format!("{what} invstd"),
            &ctx.read_f32(&b.invstd).unwrap(),
            &r.invstd,
        );
        assert_close(
            &format!("{what} running_mean"),
            &ctx.read_f32(&b.rmean).unwrap(),
            &r.running_mean,
        );
        assert_close(
            &format!("{what} running_var"),
            &ctx.read_f32(&b.rvar).unwrap(),
            &r.running_var,
        );
        let (dx, dgamma, dbeta) =
            bn::backward_ref(&s, batch, &x, &dy, &p.gamma, &r.mean, &r.invstd);
        assert_close(&format!("{what} dx"), &ctx.read_f32(&b.dx).unwrap(), &dx);
        assert_close(
            &format!("{what} dgamma"),
            &ctx.read_f32(&b.dgamma).unwrap(),
            &dgamma,
        );
        assert_close(
            &format!("{what} dbeta"),
            &ctx.read_f32(&b.dbeta).unwrap(),
            &dbeta,
        );
    }
}

#[test]
fn padding_rows_are_ignored() {
    let Some(ctx) = gpu() else { return };
    for &(rps, c, max_batch, batch) in &[(1usize, 3usize, 10usize, 7usize), (26 * 26, 32, 3, 1)] {
        let s = BnShape::new(rps, max_batch, c).unwrap();
        let p = params(9, c);
        let n = s.max_rows() * c;
        let valid = batch * rps * c;
        let x = rand_vec(31, n);
        let dy = rand_vec(32, n);
        let mut outs = Vec::new();
        for garbage in [0.0f32, 1e3] {
            let b = bufs(&s, &p);
            let mut xg = x.clone();
            let mut dyg = dy.clone();
            xg[valid..].iter_mut().for_each(|v| *v = *v * 7.0 + garbage);
            dyg[valid..].iter_mut().for_each(|v| *v = garbage - *v);
            run_train(&s, &b, batch, &xg, &dyg);
            let read = |t: &GpuTensor| ctx.read_u32(t).unwrap();
            let y = ctx.read_f32(&b.y).unwrap();
            let dx = ctx.read_f32(&b.dx).unwrap();
            assert!(
                y[valid..].iter().all(|&v| v == 0.0),
                "y on padding rows must be 0"
            );
            assert!(
                dx[valid..].iter().all(|&v| v == 0.0),
                "dx on padding rows must be 0"
            );
            outs.push([
                read(&b.y),
                read(&b.mean),
                read(&b.invstd),
                read(&b.rmean),
                read(&b.rvar),
                read(&b.dx),
                read(&b.dgamma),
                read(&b.dbeta),
            ]);
            let r = bn::forward_train_ref(&s, batch, &xg, &p.gamma, &p.beta, &p.rmean, &p.rvar);
            assert_close(&format!("bn padded rps={rps} c={c} y"), &y, &r.y);
        }
        assert_eq!(
            outs[0], outs[1],
            "padding-row inputs changed the outputs (rps={rps} c={c})"
        );
    }
}

#[test]
fn running_statistics_over_three_steps() {
    let Some(ctx) = gpu() else { return };
    let s = BnShape::new(26 * 26, 4, 3).unwrap();
    let p = params(5, 3);
    let b = bufs(&s, &p);
    let n = s.max_rows() * 3;
    let (mut rm, mut rv) = (p.rmean.clone(), p.rvar.clone());
    for (k, &batch) in [4usize, 4, 2].iter().enumerate() {
        let x: Vec<f32> = rand_vec(50 + k as u64, n)
            .iter()
            .map(|v| v * (k + 1) as f32 + k as f32)
            .collect();
        let dy = rand_vec(60 + k as u64, n);
        run_train(&s, &b, batch, &x, &dy);
        let r = bn::forward_train_ref(&s, batch, &x, &p.gamma, &p.beta, &rm, &rv);
        rm = r.running_mean;
        rv = r.running_var;
        assert_close(
            &format!("bn step {} running_mean", k + 1),
            &ctx.read_f32(&b.rmean).unwrap(),
            &rm,
        );
        assert_close(
            &format!("bn step {} running_var", k + 1),
            &ctx.read_f32(&b.rvar).unwrap(),
            &rv,
        );
        assert_close(
            &format!("bn step {} y", k + 1),
            &ctx.read_f32(&b.y).unwrap(),
            &r.y,
        );
    }
    // Running statistics moved off their initial values.
    assert!(rm.iter().zip(&p.rmean).all(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn inference_matches_reference() {
    let Some(ctx) = gpu() else { return };
    for &(rps, c, max_batch) in &[
        (1usize, 1usize, 5usize),
        (1, 64, 33),
        (26 * 26, 3, 2),
        (26 * 26, 32, 2),
    ] {
        let s = BnShape::new(rps, max_batch, c).unwrap();
        let p = params(77, c);
        let b = bufs(&s, &p);
        let x = rand_vec(78, s.max_rows() * c);
        ctx.write(&b.x, &x).unwrap();
        let d =
            bn::forward_infer(ctx, &s, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.y).unwrap();
        ctx.run(&[&d]).unwrap();
        let want = bn::forward_infer_ref(&s, &x, &p.gamma, &p.beta, &p.rmean, &p.rvar);
        assert_close(
            &format!("bn infer rps={rps} c={c}"),
            &ctx.read_f32(&b.y).unwrap(),
            &want,
        );
    }
}

#[test]
fn gpu_is_deterministic() {
    let Some(ctx) = gpu() else { return };
    let s = BnShape::new(26 * 26, 5, 32).unwrap();
    let p = params(3, 32);
    let n = s.max_rows() * 32;
    let x = rand_vec(4, n);
    let dy = rand_vec(5, n);
    let mut outs = Vec::new();
    for _ in 0..2 {
        let b = bufs(&s, &p);
        run_train(&s, &b, 4, &x, &dy);
        outs.push([
            ctx.read_u32(&b.y).unwrap(),
            ctx.read_u32(&b.dx).unwrap(),
            ctx.read_u32(&b.dgamma).unwrap(),
        ]);
    }
    assert_eq!(outs[0], outs[1]);
}

#[test]
fn reference_backward_matches_finite_differences() {
    // 2 valid samples of 2 rows each plus 1 padding sample, 3 channels; loss = <y, w>.
    let s = BnShape::new(2, 3, 3).unwrap();
    let batch = 2;
    let n = s.max_rows() * s.c;
    let x: Vec<f32> = rand_vec(41, n).iter().map(|v| v * 2.0).collect();
    let w = rand_vec(42, n);
    let p = params(43, 3);
    let fwd = |x: &[f32], g: &[f32], b: &[f32]| {
        bn::forward_train_ref(&s, batch, x, g, b, &p.rmean, &p.rvar).y
    };
    let r = bn::forward_train_ref(&s, batch, &x, &p.gamma, &p.beta, &p.rmean, &p.rvar);
    let (dx, dgamma, dbeta) = bn::backward_ref(&s, batch, &x, &w, &p.gamma, &r.mean, &r.invstd);
    check_grad("bn dx", &x, &dx, |x| dot(&fwd(x, &p.gamma, &p.beta), &w));
    check_grad("bn dgamma", &p.gamma, &dgamma, |g| {
        dot(&fwd(&x, g, &p.beta), &w)
    });
    check_grad("bn dbeta", &p.beta, &dbeta, |b| {
        dot(&fwd(&x, &p.gamma, b), &w)
    });
    assert!(dx[batch * 2 * 3..].iter().all(|&v| v == 0.0));
}

#[test]
fn bad_shapes_are_errors() {
    let Some(ctx) = gpu() else { return };
    assert!(BnShape::new(0, 2, 3).is_err());
    assert!(BnShape::new(1, 0, 3).is_err());
    assert!(BnShape::new(1, 2, 0).is_err());
    let s = BnShape::new(4, 2, 3).unwrap();
    let p = params(1, 3);
    let b = bufs(&s, &p);
    let short = ctx.alloc(5, "short").unwrap();
    let ok = bn::forward_train(
        ctx, &s, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.step, &b.y, &b.mean, &b.invstd,
    );
    assert!(ok.is_ok());
    assert!(bn::forward_train(
        ctx, &s, &short, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.step, &b.y, &b.mean, &b.invstd
    )
    .is_err());
    assert!(bn::forward_train(
        ctx, &s, &b.x, &short, &b.beta, &b.rmean, &b.rvar, &b.step, &b.y, &b.mean, &b.invstd
    )
    .is_err());
    assert!(bn::forward_train(
        ctx, &s, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.mean, &b.y, &b.mean, &b.invstd
    )
    .is_err());
    assert!(
        bn::forward_infer(ctx, &s, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &short).is_err()
    );
    assert!(bn::backward(
        ctx, &s, &b.x, &short, &b.gamma, &b.mean, &b.invstd, &b.step, &b.dx, &b.dgamma, &b.dbeta
    )
    .is_err());
    assert!(bn::backward(
        ctx, &s, &b.x, &b.dy, &b.gamma, &b.mean, &b.invstd, &b.step, &b.dx, &short, &b.dbeta
    )
    .is_err());
    let mut bad = s;
    bad.eps = 0.0;
    assert!(
        bn::forward_infer(ctx, &bad, &b.x, &b.gamma, &b.beta, &b.rmean, &b.rvar, &b.y).is_err()
    );
}

#[test]
fn the_activation_before_in_the_backward_pass_gives_the_bits_of_a_pass_of_its_own() {
    let Some(ctx) = gpu() else { return };
    use wgnn_engine::ops::elementwise::{self, Act};
    for (k, &(rps, c, max_batch, batch)) in CASES.iter().enumerate() {
        let s = BnShape::new(rps, max_batch, c).unwrap();
        let n = s.max_rows() * c;
        let p = params(k as u64, c);
        let b = bufs(&s, &p);
        let x = rand_vec(40 + k as u64, n);
        run_train(&s, &b, batch, &x, &rand_vec(50 + k as u64, n));
        for act in [Act::Relu, Act::Tanh, Act::Elu(1.0)] {
            // BN's input gradient, then the activation's backward pass of its own.
            let g = ctx.alloc(n, "g").unwrap();
            let mut two = bn::backward(
                ctx, &s, &b.x, &b.dy, &b.gamma, &b.mean, &b.invstd, &b.step, &b.dx, &b.dgamma,
                &b.dbeta,
            )
            .unwrap();
            two.push(elementwise::act_backward(ctx, act, &b.x, &b.dx, &g).unwrap());
            let (saved, dx2) = ([&b.gamma, &b.mean, &b.invstd], ctx.alloc(n, "dx").unwrap());
            let one = bn::backward_act(
                ctx,
                &s,
                [&b.x, &b.dy, &b.step],
                saved,
                act,
                [&dx2, &b.dgamma, &b.dbeta],
            )
            .unwrap();
            ctx.run(&two.iter().chain(&one).collect::<Vec<_>>())
                .unwrap();
            let bits = |t: &GpuTensor| -> Vec<u32> {
                ctx.read_f32(t)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            assert!(
                bits(&g) == bits(&dx2),
                "{rps}x{c}, batch {batch} of {max_batch}, {act:?}"
            );
        }
    }
}
