//! Kernel configuration as data: the override constants of `GpuContext::config` reach the
//! pipeline, size the grid and key the kernel cache; a 1-D workgroup larger than the adapter
//! allows falls back to a smaller power of two, and a kernel without that fallback is an error
//! naming the kernel, the need, the limit and the adapter.

mod common;
use common::*;
use wgnn::ops::{elementwise, reduce};
use wgnn::runtime::{GpuContext, KernelConfig};

/// A context of its own (the tests change its config and limits), starting from the defaults.
fn ctx() -> GpuContext {
    let mut ctx = GpuContext::new().unwrap();
    ctx.config = KernelConfig::default();
    ctx
}

/// Column sums of a [rows, 3] matrix on `ctx`, against the CPU reference.
fn col_sum_matches(ctx: &GpuContext) {
    let (rows, cols) = (1000, 3);
    let v = rand_vec(7, rows * cols);
    let x = ctx.tensor(&v, "x").unwrap();
    let out = ctx.alloc(cols, "out").unwrap();
    ctx.run(&[&reduce::col_sum(ctx, rows, cols, &x, &out).unwrap()])
        .unwrap();
    assert_close(
        "col_sum",
        &ctx.read_f32(&out).unwrap(),
        &reduce::col_sum_cpu(rows, cols, &v),
    );
}

#[test]
fn the_defaults_are_the_shaders_own() {
    let ctx = ctx();
    let k = ctx.kernel("reduce", "col_sum").unwrap();
    assert_eq!(k.workgroup_size(), [256, 1, 1]);
    assert_eq!(k.constants.to_string(), "WG=256");
    let k = ctx.kernel("gemm", "matmul_vec").unwrap();
    assert_eq!(k.workgroup_size(), [64, 1, 1]);
    assert_eq!(k.constants.get("WG_BLOCK"), Some(64.0));
}

#[test]
fn a_constant_from_the_config_sizes_the_workgroup_and_the_grid() {
    let mut ctx = ctx();
    ctx.config = KernelConfig::parse("WG=64").unwrap();
    let t = ctx.alloc(1000, "t").unwrap();
    let d = elementwise::fill(&ctx, &t, 2.5).unwrap();
    assert_eq!(d.groups, [16, 1, 1], "1000 invocations in workgroups of 64");
    ctx.run(&[&d]).unwrap();
    assert_eq!(ctx.read_f32(&t).unwrap(), vec![2.5; 1000]);
    // The tree reduction sized by WG is right at 64 too.
    assert_eq!(
        ctx.kernel("reduce", "col_sum").unwrap().workgroup_size(),
        [64, 1, 1]
    );
    col_sum_matches(&ctx);
}

#[test]
fn the_cache_key_includes_the_constants() {
    let mut ctx = ctx();
    let default = ctx.kernel("elementwise", "fill").unwrap();
    ctx.config.set_for("elementwise", "fill", "WG", 128.0);
    let small = ctx.kernel("elementwise", "fill").unwrap();
    assert_eq!(small.workgroup_size(), [128, 1, 1]);
    ctx.config = KernelConfig::default();
    let again = ctx.kernel("elementwise", "fill").unwrap();
    assert!(std::sync::Arc::ptr_eq(&default, &again));
    assert!(!std::sync::Arc::ptr_eq(&default, &small));
}

#[test]
fn a_workgroup_over_the_limit_falls_back_or_is_an_error() {
    let mut ctx = ctx();
    ctx.limits.max_compute_invocations_per_workgroup = 128;
    let k = ctx.kernel("reduce", "col_sum").unwrap();
    assert_eq!(k.workgroup_size(), [128, 1, 1]);
    assert_eq!(k.constants.get("WG"), Some(128.0));
    col_sum_matches(&ctx);
    // The tiled GEMM's 256 threads are fixed by its 64x64 tile: no fallback.
    let e = ctx
        .kernel("conv2d_tiled", "forward")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!(
            "kernel conv2d_tiled::forward needs 256 invocations per workgroup (256x1x1), but {} offers at most 128",
            ctx.adapter
        )
    );
}
