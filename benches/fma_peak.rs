//! `cargo bench --bench fma_peak`: the machine's measured f32 FMA peak, the ceiling the CPU
//! backend's step is compared against. Each thread runs independent chains of fused multiply-adds
//! (enough chains to cover the FMA latency on every port) on AVX-512 and on AVX2 registers, for
//! about a second, with all threads at once (`WGNN_THREADS`, default: every core). An FMA counts
//! as 2 FLOP per lane.

use std::time::Instant;

/// Chains per thread: FMA latency (4 cycles on Zen 4) times 2 ports, with room to spare.
const CHAINS: usize = 12;
/// Iterations between clock reads.
const INNER: u64 = 1 << 22;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); CHAINS];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm256_fmadd_ps(*c, a, b);
        }
    }
    let mut out = [0f32; 8];
    let sum = acc
        .iter()
        .fold(_mm256_set1_ps(0.0), |s, &c| _mm256_add_ps(s, c));
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm512_fmadd_ps(*c, a, b);
        }
    }
    let sum = acc
        .iter()
        .fold(_mm512_set1_ps(0.0), |s, &c| _mm512_add_ps(s, c));
    _mm512_reduce_add_ps(sum)
}

/// A register width's name, its f32 lanes and its FMA loop.
type Kernel = (&'static str, u64, fn(u64) -> f32);

/// GFLOP/s of `threads` threads each running `kernel` (lanes per register `lanes`) for `seconds`.
fn measure(threads: usize, lanes: u64, seconds: f64, kernel: fn(u64) -> f32) -> f64 {
    let t0 = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let start = Instant::now();
                    let mut iters = 0;
                    let mut sink = 0.0;
                    while start.elapsed().as_secs_f64() < seconds {
                        sink += kernel(INNER);
                        iters += INNER;
                    }
                    std::hint::black_box(sink);
                    iters
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let flop = total as f64 * CHAINS as f64 * lanes as f64 * 2.0;
    flop / t0.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let threads = std::env::var("WGNN_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[cfg(target_arch = "x86_64")]
    {
        let mut rows: Vec<Kernel> = Vec::new();
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            rows.push(("AVX2 (256-bit)", 8, |n| unsafe { fma_avx2(n) }));
        }
        if is_x86_feature_detected!("avx512f") {
            rows.push(("AVX-512 (512-bit)", 16, |n| unsafe { fma_avx512(n) }));
        }
        for (name, lanes, kernel) in rows {
            // Best of three one-second runs: the machine is shared.
            let best = (0..3)
                .map(|_| measure(threads, lanes, 1.0, kernel))
                .fold(0.0, f64::max);
            println!("{name} FMA peak, {threads} threads: {best:.1} GFLOP/s");
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    println!("fma_peak measures x86-64 FMA units only ({threads} threads here)");
}
