//! Augmentation in the batch gather: the GPU kernel against the CPU reference, the geometry of
//! the transforms (a shift moves the centre of mass by the drawn amount, a rotation turns it by
//! the drawn angle, neither loses intensity), seeding, flag syntax, and a whole augmented training
//! step on both backends.

mod common;
use common::*;
use wgnn_engine::graph::{keep_going, Backend, CpuGraph, GpuGraph, HostData, Pass, Plan};
use wgnn_engine::model::preset;
use wgnn_engine::ops::augment::{draws, gather_augment_cpu, Augment};
use wgnn_engine::ops::gather;
use wgnn_engine::ops::optim::Optimizer;
use wgnn_engine::ops::step::StepParams;

fn aug(s: &str) -> Augment {
    s.parse().unwrap()
}

/// A dark image with a bright 2x2 blob whose top-left corner is at (x, y).
fn blob(h: usize, w: usize, x: usize, y: usize) -> Vec<u8> {
    let mut img = vec![0u8; h * w];
    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        img[(y + dy) * w + x + dx] = 255;
    }
    img
}

fn mass_and_centre(img: &[f32], w: usize) -> (f64, f64, f64) {
    let (mut m, mut cx, mut cy) = (0f64, 0f64, 0f64);
    for (i, &v) in img.iter().enumerate() {
        let v = v as f64;
        m += v;
        cx += v * (i % w) as f64;
        cy += v * (i / w) as f64;
    }
    (m, cx / m, cy / m)
}

#[test]
fn gpu_matches_reference() {
    let Some(ctx) = gpu() else { return };
    for &(h, w, c, seed, t, ref spec) in &[
        (
            28usize,
            28usize,
            1usize,
            42u64,
            1u32,
            "shift=2,rotate=10,scale=0.1",
        ),
        (7, 5, 3, 7 + (1 << 40), 9, "shift=1.5,rotate=30,scale=0.2"),
        (12, 12, 1, 3, 100, "rotate=180"),
    ] {
        let a = aug(spec);
        let (n, max_batch, batch) = (20usize, 8usize, 6usize);
        let len = h * w * c;
        let images: Vec<u8> = (0..n * len).map(|i| (i * 73 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let perm: Vec<u32> = (0..n as u32).rev().collect();
        let g_images = ctx.tensor(&gather::pack_bytes(&images), "images").unwrap();
        let labels32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        let g_labels_all = ctx.tensor(&labels32, "labels_all").unwrap();
        let g_perm = ctx.tensor(&perm, "perm").unwrap();
        let (lo, hi) = StepParams::seed_words(seed);
        let s = StepParams {
            batch: batch as u32,
            t,
            seed: lo,
            seed_hi: hi,
            offset: 4,
            ..Default::default()
        };
        let g_step = ctx.tensor(bytemuck::bytes_of(&s), "step").unwrap();
        let x = ctx.alloc(len * max_batch, "x").unwrap();
        let y = ctx.alloc(max_batch, "y").unwrap();
        let bufs = gather::GatherBuffers {
            images: &g_images,
            labels_all: &g_labels_all,
            perm: &g_perm,
            step: &g_step,
            x: &x,
            labels: &y,
        };
        let d = gather::gather_augment(ctx, [h, w, c], max_batch, &a, &bufs, gather::Layout::Whole)
            .unwrap();
        ctx.run(&[&d]).unwrap();
        let (wx, wl) = gather_augment_cpu(
            &images,
            &labels,
            [h, w, c],
            &perm,
            4,
            batch,
            max_batch,
            seed,
            t,
            &a,
        );
        // Bilinear sampling is continuous, so the last bits of the device's sin/cos move a
        // value by far less than this.
        assert_close_tol(
            &format!("augmented {h}x{w}x{c} {spec}"),
            &ctx.read_f32(&x).unwrap(),
            &wx,
            1e-4,
            1e-3,
        );
        assert_eq!(ctx.read_u32(&y).unwrap(), wl);
    }
}

#[test]
fn no_transform_is_the_plain_gather() {
    let images: Vec<u8> = (0..5 * 36).map(|i| (i * 11 % 256) as u8).collect();
    let labels = vec![1u8, 2, 3, 4, 5];
    let perm = vec![4u32, 2, 0, 1, 3];
    let zero = aug("");
    let (a, la) = gather_augment_cpu(&images, &labels, [6, 6, 1], &perm, 0, 5, 6, 9, 3, &zero);
    let (b, lb) = gather::gather_cpu(&images, &labels, 36, &perm, 0, 5, 6);
    assert_eq!(a, b);
    assert_eq!(la, lb);
}

#[test]
fn shifts_move_and_rotations_turn_the_image_by_the_drawn_amounts() {
    let (h, w) = (28usize, 28usize);
    let img = blob(h, w, 18, 13);
    let (m0, cx0, cy0) = mass_and_centre(
        &img.iter().map(|&v| v as f32 / 255.0).collect::<Vec<_>>(),
        w,
    );
    let centre = ((w - 1) as f64 / 2.0, (h - 1) as f64 / 2.0);
    for t in 1..20u32 {
        let d = draws(5, t, 0);
        assert!(d.iter().all(|v| (-1.0..1.0).contains(v)));
        // A shift: the blob moves by (d0, d1) * 3 pixels, with all of its intensity.
        let a = aug("shift=3");
        let (x, _) = gather_augment_cpu(&img, &[0], [h, w, 1], &[0], 0, 1, 1, 5, t, &a);
        let (m, cx, cy) = mass_and_centre(&x, w);
        assert!((m - m0).abs() < 1e-3, "mass {m} vs {m0}");
        assert!(
            (cx - cx0 - 3.0 * d[0] as f64).abs() < 1e-3,
            "t={t}: x {cx} vs {cx0} + {}",
            3.0 * d[0]
        );
        assert!((cy - cy0 - 3.0 * d[1] as f64).abs() < 1e-3, "t={t}: y {cy}");
        // A rotation about the centre by d2 * 40 degrees.
        let a = aug("rotate=40");
        let (x, _) = gather_augment_cpu(&img, &[0], [h, w, 1], &[0], 0, 1, 1, 5, t, &a);
        let (m, cx, cy) = mass_and_centre(&x, w);
        let ang = (d[2] * 40.0) as f64 * std::f64::consts::PI / 180.0;
        let (rx, ry) = (cx0 - centre.0, cy0 - centre.1);
        let want = (
            centre.0 + ang.cos() * rx - ang.sin() * ry,
            centre.1 + ang.sin() * rx + ang.cos() * ry,
        );
        assert!(
            (m - m0).abs() < 0.05 * m0,
            "rotation lost mass: {m} vs {m0}"
        );
        assert!(
            (cx - want.0).abs() < 0.05 && (cy - want.1).abs() < 0.05,
            "t={t}: centre ({cx}, {cy}), rotated by {:.1} degrees it should be {want:?}",
            ang.to_degrees()
        );
    }
    // The same seed, step and sample draw the same transform; any other draws another.
    assert_eq!(draws(5, 3, 7), draws(5, 3, 7));
    for other in [
        draws(6, 3, 7),
        draws(5, 4, 7),
        draws(5, 3, 8),
        draws(5 + (1 << 32), 3, 7),
    ] {
        assert_ne!(draws(5, 3, 7), other);
    }
}

#[test]
fn flag_syntax() {
    let a = aug("shift=2,rotate=10,scale=0.1");
    assert_eq!((a.shift, a.rotate, a.scale), (2.0, 10.0, 0.1));
    assert_eq!(aug(&a.to_string()), a);
    for bad in ["bogus=1", "scale=1.5", "shift=-1", "shift", "rotate=x"] {
        let e = bad.parse::<Augment>().unwrap_err().to_string();
        assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
    }
}

#[test]
fn an_augmented_training_step_matches_on_both_backends() {
    let Some(ctx) = gpu() else { return };
    let spec = preset("tiny").unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 16).unwrap();
    let images: Vec<u8> = (0..32 * 784).map(|i| ((i * 29) % 256) as u8).collect();
    let labels: Vec<u8> = (0..32).map(|i| (i % 10) as u8).collect();
    let host = HostData::copied(&images, &labels, 784);
    let opt = Optimizer::adam();
    let mut g = GpuGraph::new(ctx, plan.clone(), opt, 3).unwrap();
    let mut c = CpuGraph::new(plan.clone(), opt, 3).unwrap();
    let mut plain = CpuGraph::new(plan, opt, 3).unwrap();
    let a = aug("shift=2,rotate=15,scale=0.1");
    for b in [&mut g as &mut dyn Backend, &mut c] {
        b.set_augment(Some(a));
        b.load(0, host.clone()).unwrap();
    }
    plain.load(0, host).unwrap();
    let order: Vec<u32> = (0..32).collect();
    let pass = Pass::train(0, &order, &[0.001, 0.001]).augmented(true);
    let rg = g.run(&pass, &mut keep_going).unwrap();
    let rc = c.run(&pass, &mut keep_going).unwrap();
    assert_close_tol("augmented loss", &[rg.loss], &[rc.loss], 1e-3, 1e-3);
    let (gp, _) = g.params().unwrap();
    let (cp, _) = c.params().unwrap();
    for (k, (x, y)) in gp.iter().zip(&cp).enumerate() {
        assert_close_tol(&format!("augmented step, parameter {k}"), x, y, 1e-3, 1e-2);
    }
    // Augmentation changed what was trained on.
    let rp = plain.train_at(0, &order, 0.001).unwrap();
    assert_ne!(rp.loss, rc.loss);
    // A pass that asks for augmentation the graph was not given is an error.
    assert!(plain
        .run(
            &Pass::train(0, &order, &[0.001, 0.001]).augmented(true),
            &mut keep_going
        )
        .is_err());
}
