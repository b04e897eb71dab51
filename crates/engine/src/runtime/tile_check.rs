//! The (TILE, BK) pairs the tiled GEMM core can be compiled with (`shaders/prelude/tile_gemm.wgsl`).
//! Its loaders stage each BK step of both operands with every thread of the (TILE / 4)^2-thread
//! workgroup taking `16 * BK / TILE` elements at fixed strides, so the pair must divide evenly;
//! a pair that does not would leave part of a tile unstaged and compute wrong results silently,
//! so it is refused before a pipeline is built. Pure, so it is tested without a GPU.

use crate::error::{Error, Result};

/// The threads of a `tile` x `tile` workgroup: (TILE / 4)^2, each computing 4 x 4 outputs.
pub fn tile_threads(tile: u32) -> u32 {
    tile * tile / 16
}

/// Ok when `tile` x `tile` outputs with reduction steps of `bk` can be staged by the loaders,
/// whose per-thread arrays hold `max_loads` elements (the shader's `MAX_LOADS`); else a sentence
/// naming the kernel and what is wrong.
pub fn check_tile(kernel: &str, tile: u32, bk: u32, max_loads: u32) -> Result<()> {
    let bad = |why: String| {
        Err(Error::Gpu(format!(
            "kernel {kernel} cannot be compiled with TILE={tile} BK={bk}: {why}"
        )))
    };
    if tile < 16 || !tile.is_multiple_of(16) {
        return bad("TILE must be a multiple of 16 (each of its TILE / 4 threads per side computes 4 outputs, and the loaders step by TILE / 16)".into());
    }
    if bk == 0 {
        return bad("BK must be at least 1".into());
    }
    let threads = tile_threads(tile);
    let elements = tile * bk;
    if !threads.is_multiple_of(bk) || !elements.is_multiple_of(threads) {
        return bad(format!(
            "the {threads} threads of a workgroup must split BK and stage the {elements} elements of each operand step evenly"
        ));
    }
    let loads = elements / threads;
    if loads > max_loads {
        return bad(format!(
            "each thread would stage {loads} elements per step, more than the loaders' {max_loads}"
        ));
    }
    Ok(())
}

/// A tiled kernel's fallback: when the (TILE / 4)^2 threads of a `tile` x `tile` workgroup are
/// more than the adapter allows, the largest smaller tile that fits and that the loaders accept
/// with `bk`; None when `tile` fits (or nothing smaller does, which `check` then reports).
pub fn smaller_tile(tile: u32, bk: u32, max_loads: u32, limits: &wgpu::Limits) -> Option<u32> {
    let max = limits
        .max_compute_invocations_per_workgroup
        .min(limits.max_compute_workgroup_size_x);
    let fits = |t: u32| tile_threads(t) <= max;
    if fits(tile) {
        return None;
    }
    (1..tile / 16)
        .rev()
        .map(|i| i * 16)
        .find(|&t| fits(t) && check_tile("", t, bk, max_loads).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn check_tile_rules() {
        use crate::runtime::check_tile;
        assert!(check_tile("gemm::matmul", 64, 16, 16).is_ok());
        assert!(check_tile("gemm::matmul", 128, 8, 16).is_ok());
        assert!(check_tile("gemm::matmul", 48, 16, 16).is_err());
        assert!(check_tile("gemm::matmul", 64, 2, 16).is_err());
    }

    #[test]
    fn the_tuned_candidates_are_accepted() {
        for tile in [32, 64, 128] {
            for bk in [8, 16, 32] {
                // 16 * BK / TILE elements per thread: from 1 (128, 8) to 16 (32, 32).
                assert!(check_tile("k", tile, bk, 16).is_ok(), "TILE={tile} BK={bk}");
            }
        }
    }

    #[test]
    fn uneven_pairs_are_refused_with_a_reason() {
        // 64 x 4 = 256 elements per step for 256 threads: one each, accepted.
        assert!(check_tile("k", 64, 4, 16).is_ok());
        // 16 * 2 / 64 is not a whole number of elements per thread.
        let e = check_tile("conv2d_tiled::forward", 64, 2, 16)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("conv2d_tiled::forward") && e.contains("evenly"),
            "{e}"
        );
        // 16 * 64 / 32 = 32 elements per thread is more than the arrays hold.
        let e = check_tile("k", 32, 64, 16).unwrap_err().to_string();
        assert!(e.contains("more than the loaders' 16"), "{e}");
        let e = check_tile("k", 40, 16, 16).unwrap_err().to_string();
        assert!(e.contains("multiple of 16"), "{e}");
    }

    #[test]
    fn a_tile_too_large_for_the_adapter_falls_back_to_one_that_fits() {
        let mut limits = wgpu::Limits::default();
        assert_eq!(smaller_tile(64, 16, 16, &limits), None);
        // 128 x 128 needs 1,024 threads; the default limit is 256: 64 x 64.
        assert_eq!(smaller_tile(128, 16, 16, &limits), Some(64));
        limits.max_compute_invocations_per_workgroup = 128;
        // 48 x 48 (144 threads) does not fit; 32 x 32 (64) does, with 8 elements per thread.
        assert_eq!(smaller_tile(64, 16, 16, &limits), Some(32));
        // With BK 32, 32 x 32 would need 16 elements per thread: over a limit of 8.
        assert_eq!(smaller_tile(64, 32, 8, &limits), None);
    }
}
