//! Softmax, fused softmax + cross-entropy and metric accumulation against the CPU reference; the
//! reference gradient against finite differences.

mod common;
use common::*;
use wgnn_engine::ops::loss;
use wgnn_engine::ops::step::StepParams;

fn step_tensor(batch: usize) -> wgnn_engine::runtime::GpuTensor {
    let s = StepParams {
        batch: batch as u32,
        t: 1,
        ..Default::default()
    };
    // Only called by tests that found an adapter.
    gpu()
        .expect("an adapter")
        .tensor(bytemuck::bytes_of(&s), "step")
        .unwrap()
}

#[test]
fn softmax_matches_reference() {
    let Some(ctx) = gpu() else { return };
    for &(rows, cols) in &[(1usize, 2usize), (3, 10), (65, 10), (130, 7)] {
        let x: Vec<f32> = rand_vec(rows as u64, rows * cols)
            .iter()
            .map(|v| v * 20.0)
            .collect();
        let gx = ctx.tensor(&x, "x").unwrap();
        let gp = ctx.alloc(rows * cols, "p").unwrap();
        ctx.run(&[&loss::softmax(ctx, rows, cols, &gx, &gp).unwrap()])
            .unwrap();
        let want = loss::softmax_cpu(cols, &x);
        assert_close(
            &format!("softmax {rows}x{cols}"),
            &ctx.read_f32(&gp).unwrap(),
            &want,
        );
        for r in want.chunks(cols) {
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn softmax_xent_and_metrics_match_reference_with_padding_rows() {
    let Some(ctx) = gpu() else { return };
    for &(rows, cols, valid) in &[
        (1usize, 10usize, 1usize),
        (128, 10, 128),
        (128, 10, 37),
        (300, 3, 299),
    ] {
        let x: Vec<f32> = rand_vec(9 + rows as u64, rows * cols)
            .iter()
            .map(|v| v * 5.0)
            .collect();
        let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 3) % cols) as u32).collect();
        let b_logits = ctx.tensor(&x, "logits").unwrap();
        let b_labels = ctx.tensor(&labels, "labels").unwrap();
        let b_step = step_tensor(valid);
        let grad = ctx.alloc(rows * cols, "grad").unwrap();
        let row_loss = ctx.alloc(rows, "row_loss").unwrap();
        let row_pred = ctx.alloc(rows, "row_pred").unwrap();
        // Counts start past 2^24, where f32 sums stop being exact: the GPU's must stay exact.
        let start = loss::Metrics {
            loss: 1.0,
            hits: (1 << 24) + 1,
            samples: (1 << 24) + 3,
        };
        let metrics = ctx.tensor(&start.to_words(), "metrics").unwrap();
        let bufs = loss::XentBuffers {
            logits: &b_logits,
            labels: &b_labels,
            step: &b_step,
            grad: &grad,
            row_loss: &row_loss,
            row_pred: &row_pred,
        };
        let d1 = loss::softmax_xent(ctx, rows, cols, &bufs).unwrap();
        let d2 = loss::accumulate(ctx, rows, &bufs, &metrics).unwrap();
        ctx.run(&[&d1, &d2]).unwrap();
        let want = loss::softmax_xent_cpu(cols, &x, &labels, valid);
        let what = format!("xent {rows}x{cols} valid {valid}");
        assert_close(
            &format!("{what} loss"),
            &ctx.read_f32(&row_loss).unwrap(),
            &want.row_loss,
        );
        assert_close(
            &format!("{what} grad"),
            &ctx.read_f32(&grad).unwrap(),
            &want.grad,
        );
        assert_eq!(
            ctx.read_u32(&row_pred).unwrap(),
            want.pred,
            "{what} predictions"
        );
        let m = loss::accumulate_cpu(&want, &labels, valid);
        let got = loss::Metrics::from_words(&ctx.read_u32(&metrics).unwrap());
        assert_eq!(got.hits, start.hits + m.hits, "{what} correct count");
        assert_eq!(
            got.samples,
            start.samples + m.samples,
            "{what} sample count"
        );
        assert_close_tol(
            &format!("{what} loss sum"),
            &[got.loss as f32],
            &[(start.loss + m.loss) as f32],
            ATOL,
            1e-5,
        );
    }
}

/// grad, row loss, prediction and metrics, as bits, after `run` records the loss over the buffers.
fn loss_bits(
    (rows, cols, valid): (usize, usize, usize),
    run: impl Fn(
        &loss::XentBuffers,
        &wgnn_engine::runtime::GpuTensor,
    ) -> Vec<wgnn_engine::runtime::Dispatch>,
) -> [Vec<u32>; 4] {
    let ctx = gpu().expect("an adapter");
    let x: Vec<f32> = rand_vec(rows as u64, rows * cols)
        .iter()
        .map(|v| v * 5.0)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|r| ((r * 7 + 3) % cols) as u32).collect();
    let (logits, labels) = (
        ctx.tensor(&x, "logits").unwrap(),
        ctx.tensor(&labels, "labels").unwrap(),
    );
    let step = step_tensor(valid);
    let [grad, row_loss, row_pred] = [rows * cols, rows, rows].map(|n| ctx.alloc(n, "t").unwrap());
    let start = loss::Metrics {
        loss: 1.25,
        hits: 5,
        samples: 9,
    };
    let metrics = ctx.tensor(&start.to_words(), "metrics").unwrap();
    let bufs = loss::XentBuffers {
        logits: &logits,
        labels: &labels,
        step: &step,
        grad: &grad,
        row_loss: &row_loss,
        row_pred: &row_pred,
    };
    let d = run(&bufs, &metrics);
    ctx.run(&d.iter().collect::<Vec<_>>()).unwrap();
    [&grad, &row_loss, &row_pred, &metrics].map(|t| ctx.read_u32(t).unwrap())
}

#[test]
fn the_loss_and_its_metrics_in_one_dispatch_give_the_bits_of_the_two() {
    let Some(ctx) = gpu() else { return };
    // Fewer rows than a workgroup's invocations, and more (several rows each).
    for shape in [(128, 10, 128), (128, 10, 37), (700, 10, 650)] {
        let (rows, cols, _) = shape;
        let two = loss_bits(shape, |b, m| {
            vec![
                loss::softmax_xent(ctx, rows, cols, b).unwrap(),
                loss::accumulate(ctx, rows, b, m).unwrap(),
            ]
        });
        let one = loss_bits(shape, |b, m| {
            vec![loss::softmax_xent_metrics(ctx, rows, cols, b, m).unwrap()]
        });
        for (k, what) in ["gradient", "row losses", "predictions", "metrics"]
            .iter()
            .enumerate()
        {
            assert!(one[k] == two[k], "{shape:?}: the {what} differ");
        }
    }
}

#[test]
fn xent_gradient_matches_finite_differences() {
    let (cols, rows, valid) = (5, 4, 3);
    let x = rand_vec(3, rows * cols);
    let labels = vec![0u32, 4, 2, 1];
    let g = loss::softmax_xent_cpu(cols, &x, &labels, valid).grad;
    check_grad("softmax_xent", &x, &g, |x| {
        let r = loss::softmax_xent_cpu(cols, x, &labels, valid);
        r.row_loss.iter().map(|&v| v as f64).sum::<f64>() / valid as f64
    });
}

#[test]
fn label_smoothing_matches_reference_and_finite_differences() {
    let Some(ctx) = gpu() else { return };
    let (rows, cols, valid, eps) = (70usize, 10usize, 67usize, 0.1f32);
    let x: Vec<f32> = rand_vec(77, rows * cols).iter().map(|v| v * 4.0).collect();
    let labels: Vec<u32> = (0..rows).map(|r| ((r * 3 + 1) % cols) as u32).collect();
    let s = StepParams {
        batch: valid as u32,
        t: 1,
        smoothing: eps,
        ..Default::default()
    };
    let step = ctx.tensor(bytemuck::bytes_of(&s), "step").unwrap();
    let b_logits = ctx.tensor(&x, "logits").unwrap();
    let b_labels = ctx.tensor(&labels, "labels").unwrap();
    let (grad, row_loss, row_pred) = (
        ctx.alloc(rows * cols, "grad").unwrap(),
        ctx.alloc(rows, "row_loss").unwrap(),
        ctx.alloc(rows, "row_pred").unwrap(),
    );
    let bufs = loss::XentBuffers {
        logits: &b_logits,
        labels: &b_labels,
        step: &step,
        grad: &grad,
        row_loss: &row_loss,
        row_pred: &row_pred,
    };
    let d = loss::softmax_xent(ctx, rows, cols, &bufs).unwrap();
    ctx.run(&[&d]).unwrap();
    let want = loss::softmax_xent_smoothed_cpu(cols, &x, &labels, valid, eps);
    assert_close(
        "smoothed loss",
        &ctx.read_f32(&row_loss).unwrap(),
        &want.row_loss,
    );
    assert_close("smoothed grad", &ctx.read_f32(&grad).unwrap(), &want.grad);
    // Smoothing raises the loss of a confident right answer and leaves each row's gradient
    // summing to zero (the targets still sum to one).
    let plain = loss::softmax_xent_cpu(cols, &x, &labels, valid);
    assert!(want.row_loss.iter().sum::<f32>() != plain.row_loss.iter().sum::<f32>());
    for row in want.grad.chunks(cols).take(valid) {
        assert!(row.iter().sum::<f32>().abs() < 1e-6);
    }
    let (c, r, v) = (5, 4, 3);
    let xs = rand_vec(5, r * c);
    let lab = vec![2u32, 0, 4, 1];
    let g = loss::softmax_xent_smoothed_cpu(c, &xs, &lab, v, 0.2).grad;
    check_grad("smoothed softmax_xent", &xs, &g, |xs| {
        let o = loss::softmax_xent_smoothed_cpu(c, xs, &lab, v, 0.2);
        o.row_loss.iter().map(|&l| l as f64).sum::<f64>() / v as f64
    });
}

#[test]
fn bad_shapes_are_errors() {
    let Some(ctx) = gpu() else { return };
    let t = ctx.alloc(10, "t").unwrap();
    assert!(loss::softmax(ctx, 0, 10, &t, &t).is_err());
    assert!(loss::softmax(ctx, 2, 10, &t, &t).is_err());
    assert!(loss::softmax(ctx, 10, 1, &t, &t).is_err());
}
