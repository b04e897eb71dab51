//! Run-time CPU feature checks for the CPU backend's hot loops. The crate is built for baseline
//! x86-64 (SSE2) so one binary runs anywhere; loops that only vectorise well with AVX2 (the GEMM
//! micro-kernel, the pooling selects) are compiled a second time for it and chosen here.

/// Whether this processor has AVX2 and FMA (the standard library caches the answer).
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
