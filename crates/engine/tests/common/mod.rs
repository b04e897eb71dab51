//! Shared test support: the GPU context, closeness assertions under the library's tolerance
//! policy, finite-difference gradient checks (their tolerance stated here, once).
#![allow(dead_code)]

pub mod fuzz;
pub mod pool;
pub mod skip;
pub mod synthetic;

use std::sync::OnceLock;

use wgnn_engine::runtime::{AdapterChoice, DeviceOptions, GpuContext, KernelConfig, KernelFamily};

/// The tolerance policy for GPU-vs-reference checks (|got - want| <= ATOL + RTOL * |want|), the
/// random inputs and the convolution case type are the library's, the ones `wgnn check` uses
/// (`crates/engine/src/check/`, `crates/engine/src/ops/check_case.rs`): stated once there. (Not every test binary uses each.)
#[allow(unused_imports)]
pub use wgnn_engine::check::{rand_vec, ATOL, RTOL};
#[allow(unused_imports)]
pub use wgnn_engine::ops::conv2d::ConvCase;

/// Finite-difference checks of the CPU reference backward passes (f64 central differences of an
/// f32 forward): relative error over the whole gradient vector.
pub const FD_EPS: f32 = 1e-2;
pub const FD_RTOL: f32 = 1e-2;

/// The device the tests run on: `WGNN_ADAPTER`, `WGNN_KERNELS` and `WGNN_KERNEL_CONSTANTS`, as
/// the command line reads them (CI runs the suite once per adapter and kernel family this way).
pub fn device_options() -> DeviceOptions {
    let var = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    let adapter = var("WGNN_ADAPTER").map_or(AdapterChoice::Auto, |a| AdapterChoice::parse(&a));
    let mut options = DeviceOptions::with_adapter(adapter);
    if let Some(f) = var("WGNN_KERNELS") {
        options.family = KernelFamily::parse(&f).expect("WGNN_KERNELS: blocked, tiled or auto");
        options.family_from = "WGNN_KERNELS".into();
    }
    if let Some(c) = var("WGNN_KERNEL_CONSTANTS") {
        options.config = KernelConfig::parse(&c).expect("WGNN_KERNEL_CONSTANTS");
        options.constants_from = "WGNN_KERNEL_CONSTANTS".into();
    }
    options
}

/// One GPU context for the whole test binary, or None on a machine with no adapter at all, where
/// the calling test returns at once and is counted as skipped (see [`skip`]). Under `CI=true`, or
/// when `WGNN_ADAPTER` names an adapter that is not there, no adapter is a loud failure instead.
pub fn gpu() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Result<GpuContext, String>> = OnceLock::new();
    let opened = CTX.get_or_init(|| GpuContext::open(&device_options()).map_err(|e| e.to_string()));
    match opened {
        Ok(c) => Some(c),
        Err(e) if skip::may_skip() => {
            skip::record(e);
            None
        }
        Err(e) => panic!("GPU tests need an adapter: {e}"),
    }
}

/// Whether this test may use the GPU: false (and the test counted as skipped) where [`gpu`] is
/// None. For tests that run the command line with `--backend gpu`.
pub fn has_gpu() -> bool {
    gpu().is_some()
}

/// `backends` without the GPU ones (`gpu`, `gpu-...`) on a machine with no adapter, where the
/// calling test counts as skipped.
pub fn with_gpu<const N: usize>(backends: [&'static str; N]) -> Vec<&'static str> {
    let gpu_too = !backends.iter().any(|b| b.starts_with("gpu")) || has_gpu();
    backends
        .into_iter()
        .filter(|b| gpu_too || !b.starts_with("gpu"))
        .collect()
}

/// Largest |got - want| and the worst ratio to the allowed error; panics with the index on failure.
pub fn assert_close(what: &str, got: &[f32], want: &[f32]) -> f32 {
    assert_close_tol(what, got, want, ATOL, RTOL)
}

pub fn assert_close_tol(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs reference {}",
        got.len(),
        want.len()
    );
    let mut max_err = 0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= atol + rtol * w.abs() && g.is_finite(),
            "{what}: element {i}: got {g}, reference {w} (|diff| {err})"
        );
        max_err = max_err.max(err);
    }
    eprintln!(
        "{what}: max |gpu - ref| = {max_err:.3e} over {} values",
        got.len()
    );
    max_err
}

/// Check an analytic gradient against central finite differences of a scalar function.
/// `f` maps the input to the scalar loss; `grad` is the analytic dloss/dinput.
pub fn check_grad(what: &str, x: &[f32], grad: &[f32], f: impl Fn(&[f32]) -> f64) {
    assert_eq!(x.len(), grad.len());
    let mut num = vec![0f64; x.len()];
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        let orig = xp[i];
        xp[i] = orig + FD_EPS;
        let up = f(&xp);
        xp[i] = orig - FD_EPS;
        let down = f(&xp);
        xp[i] = orig;
        num[i] = (up - down) / (2.0 * FD_EPS as f64);
    }
    let diff: f64 = num
        .iter()
        .zip(grad)
        .map(|(n, &g)| (n - g as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = num.iter().map(|n| n * n).sum::<f64>().sqrt().max(1e-8);
    let rel = diff / norm;
    eprintln!(
        "{what}: finite-difference relative error {rel:.3e} over {} values",
        x.len()
    );
    assert!(
        rel < FD_RTOL as f64,
        "{what}: gradient differs from finite differences by {rel:.3e}"
    );
    assert!(
        norm > 1e-6,
        "{what}: gradient is zero everywhere, the check proves nothing"
    );
}

/// Dot product of two slices in f64: the usual scalar "loss" for gradient checks.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}
