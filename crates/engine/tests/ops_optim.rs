//! Optimizer kernels against the reference over consecutive steps; reference formulas against
//! numbers worked out by hand.

mod common;
use common::*;
use wgnn_engine::ops::optim::{update, update_cpu, Optimizer};
use wgnn_engine::ops::step::StepParams;

fn step(t: u32, lr: f32) -> StepParams {
    StepParams {
        batch: 1,
        t,
        seed: 0,
        offset: 0,
        lr,
        ..Default::default()
    }
}

fn one(opt: Optimizer, t: u32, lr: f32, p: f32, g: f32, s1: f32, s2: f32) -> (f32, f32, f32) {
    let (mut p, mut s1, mut s2) = ([p], [s1], [s2]);
    update_cpu(&opt, t, lr, &mut p, &[g], &mut s1, &mut s2);
    (p[0], s1[0], s2[0])
}

fn near(what: &str, got: f32, want: f64) {
    assert!(
        (got as f64 - want).abs() < 1e-6,
        "{what}: got {got}, worked out by hand {want}"
    );
}

#[test]
fn reference_formulas_by_hand() {
    // SGD: p = 1 - 0.1 * 0.5.
    near(
        "sgd p",
        one(Optimizer::sgd(), 1, 0.1, 1.0, 0.5, 0.0, 0.0).0,
        0.95,
    );
    // SGD momentum 0.9, v0 = 0.2: v = 0.9*0.2 - 0.1*0.5 = 0.13; p = 1 + 0.13.
    let (p, v, _) = one(
        Optimizer::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
        },
        1,
        0.1,
        1.0,
        0.5,
        0.2,
        0.0,
    );
    near("sgd momentum v", v, 0.13);
    near("sgd momentum p", p, 1.13);
    // Weight decay 0.1 at lr 0.5 first takes p * 0.05 off: 2 - 0.1 = 1.9, then the SGD step
    // 1.9 - 0.5 * 0.2 = 1.8. Adam decays the same way before its own step.
    let wd = Optimizer::sgd().with_weight_decay(0.1);
    near(
        "sgd weight decay p",
        one(wd, 1, 0.5, 2.0, 0.2, 0.0, 0.0).0,
        1.8,
    );
    let adam_wd = Optimizer::adam().with_weight_decay(0.1);
    let plain = one(Optimizer::adam(), 1, 0.01, 1.0 - 0.001, 0.5, 0.0, 0.0).0;
    near(
        "adam weight decay p",
        one(adam_wd, 1, 0.01, 1.0, 0.5, 0.0, 0.0).0,
        plain as f64,
    );
    // Adam t=1, lr 0.01, g 0.5: m = 0.05; v = 0.001*0.25 = 0.00025;
    // alpha = 0.01*sqrt(0.001)/0.1 = 0.00316227766; step = m*alpha/(sqrt(v)+1e-7)
    // = 0.000158113883/0.0158114883 = 0.0099999368; p = 0.9900000632.
    let (p, m, v) = one(Optimizer::adam(), 1, 0.01, 1.0, 0.5, 0.0, 0.0);
    near("adam m", m, 0.05);
    near("adam v", v, 0.00025);
    near("adam p", p, 0.990_000_063_2);
    // Adam t=2 from m = 0.05, v = 0.00025, g = -1: m = 0.05 + (-1.05)*0.1 = -0.055;
    // v = 0.00025 + (1 - 0.00025)*0.001 = 0.00124975; alpha = 0.01*sqrt(1-0.998001)/(1-0.81)
    // = 0.01*0.0447101778/0.19 = 0.00235316725; step = -0.055*0.00235316725/(0.0353517326+1e-7)
    // = -0.00366097...; p = 1.00366097.
    let (p, m, v) = one(Optimizer::adam(), 2, 0.01, 1.0, -1.0, 0.05, 0.00025);
    near("adam t2 m", m, -0.055);
    near("adam t2 v", v, 0.001_249_75);
    near(
        "adam t2 p",
        p,
        1.0 + 0.055 * 0.002_353_167_25 / (0.035_351_732_6 + 1e-7),
    );
    // RMSprop lr 0.01, rho 0.9, g 0.5: v = 0.1*0.25 = 0.025;
    // p = 1 - 0.005/sqrt(0.025 + 1e-7) = 1 - 0.005/0.158114199 = 0.9683772866.
    let (p, v, _) = one(Optimizer::rmsprop(), 1, 0.01, 1.0, 0.5, 0.0, 0.0);
    near("rmsprop v", v, 0.025);
    near("rmsprop p", p, 0.968_377_286_6);
}

#[test]
fn gpu_matches_reference_over_five_steps() {
    let Some(ctx) = gpu() else { return };
    // Each with the base learning rate of the steps below.
    let opts = [
        (Optimizer::sgd(), 0.05),
        (
            Optimizer::Sgd {
                momentum: 0.9,
                weight_decay: 0.0,
            },
            0.05,
        ),
        (Optimizer::adam(), 0.001),
        (
            Optimizer::Adam {
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-5,
                weight_decay: 0.0,
            },
            0.01,
        ),
        (Optimizer::rmsprop(), 0.001),
        // Decoupled weight decay on every kind.
        (Optimizer::sgd().with_weight_decay(0.1), 0.05),
        (Optimizer::adam().with_weight_decay(0.004), 0.001),
        (Optimizer::rmsprop().with_weight_decay(0.02), 0.001),
    ];
    for (opt, base_lr) in opts {
        for &n in &[1usize, 1000, 34_826] {
            let mut p = rand_vec(n as u64, n);
            // Zero gradients at the end model the padding of the flat buffer: they must stay put
            // (the arena's padding holds zeros, which weight decay leaves at zero).
            let pad = n / 10;
            p[n - pad..].fill(0.0);
            let (mut s1, mut s2) = (vec![0f32; n], vec![0f32; n]);
            let gp = ctx.tensor(&p, "params").unwrap();
            let gg = ctx.alloc(n, "grads").unwrap();
            let gs1 = ctx
                .alloc(if opt.state_buffers() >= 1 { n } else { 1 }, "s1")
                .unwrap();
            let gs2 = ctx
                .alloc(if opt.state_buffers() >= 2 { n } else { 1 }, "s2")
                .unwrap();
            let gstep = ctx.alloc(8, "step").unwrap();
            let before_pad = p[n - pad..].to_vec();
            for t in 1..=5u32 {
                // A schedule: lr changes every step through the step record.
                let lr = base_lr * (1.0 - 0.1 * t as f32);
                let mut g = rand_vec(1000 * t as u64 + n as u64, n);
                g[n - pad..].fill(0.0);
                ctx.write(&gg, &g).unwrap();
                ctx.write(&gstep, &[step(t, lr)]).unwrap();
                let d = update(ctx, &opt, &gp, &gg, &gs1, &gs2, &gstep).unwrap();
                ctx.run(&[&d]).unwrap();
                update_cpu(&opt, t, lr, &mut p, &g, &mut s1, &mut s2);
                let what = format!("{opt:?} n={n} t={t}");
                assert_close(&format!("{what} params"), &ctx.read_f32(&gp).unwrap(), &p);
                if opt.state_buffers() >= 1 {
                    assert_close(&format!("{what} s1"), &ctx.read_f32(&gs1).unwrap(), &s1);
                }
                if opt.state_buffers() >= 2 {
                    assert_close(&format!("{what} s2"), &ctx.read_f32(&gs2).unwrap(), &s2);
                }
            }
            assert_eq!(
                &ctx.read_f32(&gp).unwrap()[n - pad..],
                &before_pad[..],
                "{opt:?} padding moved"
            );
        }
    }
}

#[test]
fn constructors_and_state_counts() {
    assert_eq!(
        Optimizer::sgd(),
        Optimizer::Sgd {
            momentum: 0.0,
            weight_decay: 0.0
        }
    );
    assert_eq!(
        Optimizer::adam(),
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0
        }
    );
    assert_eq!(
        Optimizer::rmsprop(),
        Optimizer::Rmsprop {
            rho: 0.9,
            eps: 1e-7,
            weight_decay: 0.0
        }
    );
    assert_eq!(Optimizer::sgd().state_buffers(), 0);
    assert_eq!(
        Optimizer::Sgd {
            momentum: 0.5,
            weight_decay: 0.0
        }
        .state_buffers(),
        1
    );
    assert_eq!(Optimizer::rmsprop().state_buffers(), 1);
    assert_eq!(Optimizer::adam().state_buffers(), 2);
}

#[test]
fn bad_arguments_are_errors() {
    let Some(ctx) = gpu() else { return };
    let p = ctx.alloc(10, "p").unwrap();
    let g = ctx.alloc(10, "g").unwrap();
    let s1 = ctx.alloc(10, "s1").unwrap();
    let s2 = ctx.alloc(10, "s2").unwrap();
    let short = ctx.alloc(9, "short").unwrap();
    let dummy = ctx.alloc(1, "dummy").unwrap();
    let st = ctx.alloc(8, "step").unwrap();
    let adam = Optimizer::adam();
    assert!(update(ctx, &adam, &p, &g, &s1, &s2, &st).is_ok());
    assert!(update(ctx, &Optimizer::sgd(), &p, &g, &dummy, &dummy, &st).is_ok());
    assert!(update(ctx, &adam, &p, &short, &s1, &s2, &st).is_err());
    assert!(update(ctx, &adam, &p, &g, &s1, &dummy, &st).is_err());
    assert!(update(ctx, &Optimizer::rmsprop(), &p, &g, &dummy, &dummy, &st).is_err());
    assert!(update(ctx, &adam, &p, &g, &s1, &s2, &dummy).is_err());
    let bad = Optimizer::Adam {
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-7,
        weight_decay: 0.0,
    };
    assert!(update(ctx, &bad, &p, &g, &s1, &s2, &st).is_err());
    let negative = Optimizer::adam().with_weight_decay(-0.1);
    match update(ctx, &negative, &p, &g, &s1, &s2, &st) {
        Err(e) => assert!(e.to_string().contains("weight decay"), "{e}"),
        Ok(_) => panic!("a negative weight decay was accepted"),
    }
}
