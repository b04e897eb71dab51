//! Times each conv2d / gemm kernel variant on the convnet shapes (batch 128).
use std::time::Instant;
use wgnn::ops::conv2d::{self, Conv2dShape, Variant};
use wgnn::ops::gemm::{self, GemmShape};

fn time(ctx: &wgnn::runtime::GpuContext, d: &[&wgnn::runtime::Dispatch]) -> f64 {
    ctx.run(d).unwrap();
    let t = Instant::now();
    let reps = 3;
    for _ in 0..reps {
        ctx.run(d).unwrap();
    }
    t.elapsed().as_secs_f64() * 1000.0 / reps as f64
}

fn main() {
    let ctx =
        wgnn::runtime::GpuContext::open(&wgnn::app::Device::from_env().unwrap().options).unwrap();
    let which: String = std::env::args().nth(1).unwrap_or("fwd,bwi,bww,gemm".into());
    if which.contains("gemm") {
        // Dense layers 1600 -> 128 and 1600 -> 10 (the convnet's), batch 128: forward,
        // dW = x^T dy, dx = dy W^T.
        for (what, m, n, k, ta, tb, bias) in [
            ("dense10 forward", 128, 10, 1600, false, false, true),
            ("dense10 dW", 1600, 10, 128, true, false, false),
            ("dense10 dx", 128, 1600, 10, false, true, false),
            ("dense forward", 128, 128, 1600, false, false, true),
            ("dense dW", 1600, 128, 128, true, false, false),
            ("dense dx", 128, 1600, 128, false, true, false),
        ] {
            let s = GemmShape::new(m, n, k, ta, tb).unwrap();
            let a = ctx.tensor(&vec![0.5f32; s.a_len()], "a").unwrap();
            let b = ctx.tensor(&vec![0.1f32; s.b_len()], "b").unwrap();
            let bb = ctx.tensor(&vec![0.1f32; n], "bias").unwrap();
            let c = ctx.alloc(s.c_len(), "c").unwrap();
            for v in [Variant::Tiled, Variant::Blocked] {
                let d =
                    gemm::matmul_with(&ctx, v, &s, &a, &b, bias.then_some(&bb), &c, false).unwrap();
                let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
                let ms = time(&ctx, &d.iter().collect::<Vec<_>>());
                println!("{what} {v:?} {ms:.1} ms ({})", names.join(" + "));
            }
        }
    }
    let shapes = [
        (
            "conv1",
            Conv2dShape::new(128, 28, 28, 1, 32, [3, 3], [1, 1], false).unwrap(),
        ),
        (
            "conv2",
            Conv2dShape::new(128, 13, 13, 32, 64, [3, 3], [1, 1], false).unwrap(),
        ),
    ];
    for (name, s) in shapes {
        let x = ctx.tensor(&vec![0.5f32; s.x_len()], "x").unwrap();
        let w = ctx.tensor(&vec![0.1f32; s.w_len()], "w").unwrap();
        let b = ctx.tensor(&vec![0.1f32; s.cout], "b").unwrap();
        let y = ctx.alloc(s.y_len(), "y").unwrap();
        let dx = ctx.alloc(s.x_len(), "dx").unwrap();
        let dw = ctx.alloc(s.w_len(), "dw").unwrap();
        let db = ctx.alloc(s.cout, "db").unwrap();
        for v in [Variant::Tiled, Variant::Blocked] {
            if which.contains("fwd") {
                let d = conv2d::forward_with(&ctx, v, &s, &x, &w, &b, &y, true).unwrap();
                let r: Vec<&_> = d.iter().collect();
                println!(
                    "{name} {v:?} forward {:.1} ms ({})",
                    time(&ctx, &r),
                    d[0].name
                );
            }
            if which.contains("bwi") && name == "conv2" {
                let d = conv2d::backward_input_with(&ctx, v, &s, &w, &y, &dx).unwrap();
                let r: Vec<&_> = d.iter().collect();
                println!(
                    "{name} {v:?} backward_input {:.1} ms ({})",
                    time(&ctx, &r),
                    d[0].name
                );
            }
            if which.contains("bww") {
                let d = conv2d::backward_weights_with(&ctx, v, &s, &x, &y, &dw, &db).unwrap();
                let r: Vec<&_> = d.iter().collect();
                println!(
                    "{name} {v:?} backward_weights {:.1} ms ({})",
                    time(&ctx, &r),
                    d[0].name
                );
            }
        }
    }
}
