//! Times the CPU backend's pieces of a convolution (im2col, the three GEMMs, col2im, column sums)
//! and of the 2x2 max pooling after it, on the convnet's shapes at batch 128; best of N runs, so a busy machine still gives a floor.
//! ISA (avx512, avx2, neon, portable) holds the kernels to that instruction set.
//!     cargo run --release --example cpu_convbench [REPS] [ISA]
use std::time::Instant;
use wgnn::ops::conv2d::Conv2dShape;
use wgnn::ops::cpu;
use wgnn::ops::cpu::gemm::gemm;
use wgnn::ops::elementwise::Act;
use wgnn::ops::gemm::GemmShape;
use wgnn::ops::im2col::{col2im, im2col};
use wgnn::ops::pool::{self, PoolShape};
use wgnn::ops::reduce::col_sum_cpu;
use wgnn::util::simd::Isa;

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    wgnn::util::malloc::keep_freed_memory();
    let reps = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let isa = match std::env::args().nth(2) {
        Some(name) => Isa::parse(&name).unwrap_or_else(|e| panic!("{e}")),
        None => Isa::detected(),
    };
    println!("kernels: {isa}");
    for (name, h, cin, cout) in [("conv 1->32", 28, 1, 32), ("conv 32->64", 13, 32, 64)] {
        let s = Conv2dShape::new(128, h, h, cin, cout, [3, 3], [1, 1], false).unwrap();
        let (m, k) = (s.n * s.oh * s.ow, 9 * cin);
        let x: Vec<f32> = (0..s.n * h * h * cin)
            .map(|i| (i % 7) as f32 * 0.1)
            .collect();
        let w: Vec<f32> = (0..k * cout).map(|i| (i % 5) as f32 * 0.01).collect();
        let dy: Vec<f32> = (0..m * cout).map(|i| (i % 3) as f32 * 0.01).collect();
        let cols = im2col(&s, &x);
        let fwd = GemmShape::new(m, cout, k, false, false).unwrap();
        let dw = GemmShape::new(k, cout, m, true, false).unwrap();
        let dx = GemmShape::new(m, k, cout, false, true).unwrap();
        let dcols = gemm(isa, &dx, (&dy, &w), None, false);
        let gf = |g: &GemmShape, t: f64| 2.0 * (g.m * g.n * g.k) as f64 / t / 1e6;
        let t_fwd = best(reps, || gemm(isa, &fwd, (&cols, &w), None, true));
        let t_dw = best(reps, || gemm(isa, &dw, (&cols, &dy), None, false));
        let t_dx = best(reps, || gemm(isa, &dx, (&dy, &w), None, false));
        println!("{name}: m={m} k={k} n={cout}");
        println!("  im2col     {:7.2} ms", best(reps, || im2col(&s, &x)));
        println!(
            "  fwd gemm   {t_fwd:7.2} ms  {:6.1} GFLOP/s",
            gf(&fwd, t_fwd)
        );
        println!("  dW gemm    {t_dw:7.2} ms  {:6.1} GFLOP/s", gf(&dw, t_dw));
        println!(
            "  col sums   {:7.2} ms",
            best(reps, || col_sum_cpu(m, cout, &dy))
        );
        println!("  dx gemm    {t_dx:7.2} ms  {:6.1} GFLOP/s", gf(&dx, t_dx));
        println!("  col2im     {:7.2} ms", best(reps, || col2im(&s, &dcols)));
        // The implicit-GEMM passes the CPU backend runs (no patch matrices).
        let flops = fwd.m * fwd.n * fwd.k;
        let gfl = |t: f64| 2.0 * flops as f64 / t / 1e6;
        let mut y = vec![0f32; m * cout];
        let b = vec![0.1f32; cout];
        let t = best(reps, || {
            cpu::conv::forward_into(isa, &s, (&x, &w, &b), true, &mut y)
        });
        println!("  implicit fwd {t:7.2} ms  {:6.1} GFLOP/s", gfl(t));
        let t = best(reps, || cpu::conv::backward_weights(isa, &s, &x, &dy));
        println!("  implicit dW  {t:7.2} ms  {:6.1} GFLOP/s", gfl(t));
        let ps = PoolShape::new(128, s.oh, s.ow, cout, [2, 2], [2, 2]).unwrap();
        let (mut py, mut pa) = (vec![0f32; ps.y_len()], vec![0u32; ps.y_len()]);
        let t = best(reps, || {
            cpu::conv_pool::forward_into(isa, (&s, &ps), &x, &w, &b, Act::Relu, &mut py, &mut pa)
        });
        println!("  fused fwd+pool {t:7.2} ms");
        let f = cpu::conv::Forward::new(isa, &s, &x, &w);
        let mut strip = vec![0f32; 2 * s.ow * cout];
        // The first pixel of every two-row strip a 2x2 pooling reads.
        let (half, ow, oh) = (s.oh / 2, s.ow, s.oh);
        let strips = move || (0..s.n * half).map(move |q| (q / half * oh + q % half * 2) * ow);
        let t = best(reps, || {
            for r in strips() {
                f.rows(r, &b, true, &mut strip);
            }
        });
        println!("  strips only (1 thread) {t:7.2} ms");
        if cpu::conv_direct::applies(isa, &s) {
            let d = cpu::conv_direct::Direct::new(isa, &s, &x, &w);
            let t = best(reps, || {
                for r in strips() {
                    d.rows(r, &b, true, &mut strip);
                }
            });
            println!("  direct strips (1 thread) {t:7.2} ms");
        }
        let t = best(reps, || pool::forward_into(isa, &ps, &y, &mut py, &mut pa));
        println!("  pool fwd (CPU pass) {t:7.2} ms");
        let mut dxv = vec![0f32; x.len()];
        let t = best(reps, || {
            cpu::conv::backward_input_into(isa, &s, &w, &dy, &mut dxv)
        });
        println!("  implicit dx  {t:7.2} ms  {:6.1} GFLOP/s", gfl(t));
        let ps = PoolShape::new(128, s.oh, s.ow, cout, [2, 2], [2, 2]).unwrap();
        let (_, arg) = pool::forward_ref(&ps, &dy);
        let pdy: Vec<f32> = (0..ps.y_len()).map(|i| (i % 3) as f32 * 0.01).collect();
        println!(
            "  pool fwd   {:7.2} ms",
            best(reps, || pool::forward_ref(&ps, &dy))
        );
        println!(
            "  pool bwd   {:7.2} ms",
            best(reps, || pool::backward_ref(&ps, &pdy, &arg))
        );
        let mut g = vec![0f32; ps.x_len()];
        let t = best(reps, || {
            pool::backward_into(&ps, &pdy, &arg, &mut g);
            cpu::conv::backward_weights(isa, &s, &x, &g)
        });
        println!("  scatter + implicit dW {t:7.2} ms");
        if cpu::conv_direct::applies(isa, &s) {
            let t = best(reps, || {
                cpu::conv_direct::weight_grad_pooled(isa, &s, &ps, &x, &pdy, &arg)
            });
            println!("  direct dW from pooled {t:7.2} ms");
        }
    }
}
