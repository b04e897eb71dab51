//! The weights' moving average: the reference against numbers worked out by hand, the kernel
//! against the reference over consecutive steps, the swap, and the refusals.

mod common;
use common::*;
use wgnn_engine::ops::ema::{swap, update, update_cpu, Ema};
use wgnn_engine::ops::step::StepParams;

fn step(t: u32) -> StepParams {
    StepParams {
        batch: 1,
        t,
        ..Default::default()
    }
}

#[test]
fn reference_by_hand() {
    let ema = Ema::new(0.9).unwrap();
    // The first step's momentum is 0: the average becomes the weights, whatever it held.
    let mut a = [5.0f32, -3.0];
    update_cpu(ema, 1, &[1.0, 2.0], &mut a);
    assert_eq!(a, [1.0, 2.0]);
    // Then 0.9 * 1 + 0.1 * 3 = 1.2 and 0.9 * 2 + 0.1 * (-8) = 1.0.
    update_cpu(ema, 2, &[3.0, -8.0], &mut a);
    assert!(
        (a[0] - 1.2).abs() < 1e-6 && (a[1] - 1.0).abs() < 1e-6,
        "{a:?}"
    );
    assert_eq!((ema.momentum_at(1), ema.momentum_at(2)), (0.0, 0.9));
}

#[test]
fn momenta_outside_zero_to_one_are_refused_in_words() {
    for bad in [1.0, 1.5, -0.1, f32::NAN, f32::INFINITY] {
        let e = Ema::new(bad).expect_err("accepted");
        assert!(e.to_string().contains("momentum in [0, 1)"), "{e}");
    }
    assert!(Ema::new(0.0).is_ok() && Ema::new(0.999).is_ok());
}

#[test]
fn gpu_matches_reference_over_five_steps() {
    let Some(ctx) = gpu() else { return };
    for momentum in [0.5, 0.99, 0.999] {
        let ema = Ema::new(momentum).unwrap();
        for n in [1usize, 1000, 34_826] {
            let mut average = rand_vec(n as u64 + 1, n);
            let gw = ctx.alloc(n, "weights").unwrap();
            let ga = ctx.tensor(&average, "average").unwrap();
            let gstep = ctx.alloc(8, "step").unwrap();
            for t in 1..=5u32 {
                let w = rand_vec(50 * t as u64 + n as u64, n);
                ctx.write(&gw, &w).unwrap();
                ctx.write(&gstep, &[step(t)]).unwrap();
                let d = update(ctx, ema, &gw, &ga, &gstep).unwrap();
                ctx.run(&[&d]).unwrap();
                update_cpu(ema, t, &w, &mut average);
                let got = ctx.read_f32(&ga).unwrap();
                assert_close(&format!("momentum {momentum} n={n} t={t}"), &got, &average);
                // The weights are only read.
                assert_eq!(ctx.read_f32(&gw).unwrap(), w);
            }
        }
    }
}

#[test]
fn swapping_twice_puts_both_back_bit_for_bit() {
    let Some(ctx) = gpu() else { return };
    let n = 3001;
    let (w, a) = (rand_vec(1, n), rand_vec(2, n));
    let (gw, ga) = (ctx.tensor(&w, "w").unwrap(), ctx.tensor(&a, "a").unwrap());
    let d = swap(ctx, &gw, &ga).unwrap();
    ctx.run(&[&d]).unwrap();
    assert_eq!(ctx.read_f32(&gw).unwrap(), a);
    assert_eq!(ctx.read_f32(&ga).unwrap(), w);
    ctx.run(&[&d]).unwrap();
    assert_eq!(ctx.read_f32(&gw).unwrap(), w);
    assert_eq!(ctx.read_f32(&ga).unwrap(), a);
}

#[test]
fn mismatched_buffers_are_errors() {
    let Some(ctx) = gpu() else { return };
    let p = ctx.alloc(10, "p").unwrap();
    let short = ctx.alloc(9, "short").unwrap();
    let st = ctx.alloc(8, "step").unwrap();
    let half_step = ctx.alloc(4, "half a step record").unwrap();
    let ema = Ema::new(0.99).unwrap();
    assert!(update(ctx, ema, &p, &p.clone(), &st).is_ok());
    for e in [
        update(ctx, ema, &p, &short, &st).err(),
        update(ctx, ema, &p, &p.clone(), &half_step).err(),
        swap(ctx, &p, &short).err(),
        update(ctx, Ema { momentum: 1.0 }, &p, &p.clone(), &st).err(),
    ] {
        let e = e.expect("accepted");
        assert!(!e.to_string().contains("{"), "{e}");
    }
}
