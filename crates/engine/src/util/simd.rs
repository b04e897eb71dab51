//! The instruction sets the CPU backend's hot loops are written for. The crate is built for the
//! baseline of its target (x86-64 with SSE2, or aarch64, which always has NEON), so one binary
//! runs anywhere; loops that need more (AVX2 and FMA, AVX-512) are compiled a second time for it
//! and chosen at run time. A graph uses the widest set its processor has, or a narrower one it is
//! given (the command line reads `WGNN_CPU_ISA`), so every path can be measured and tested on
//! one machine.

use std::fmt;

/// One instruction set the CPU kernels have a path for, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX-512F (and AVX2 and FMA, which every such processor has).
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// aarch64's Advanced SIMD, with fused multiply-add.
    Neon,
    /// Plain Rust, vectorised by the compiler for the target's baseline.
    Portable,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable];

    /// The widest set this processor runs.
    pub fn detected() -> Self {
        Self::ALL
            .into_iter()
            .find(|i| i.supported())
            .unwrap_or(Isa::Portable)
    }

    /// Whether this processor runs the set's kernels.
    pub fn supported(self) -> bool {
        match self {
            Isa::Avx512 => has_avx512() && has_avx2_fma(),
            Isa::Avx2 => has_avx2_fma(),
            Isa::Neon => cfg!(target_arch = "aarch64"),
            Isa::Portable => true,
        }
    }

    /// Every set this processor runs, widest first (the tests run each).
    pub fn available() -> Vec<Self> {
        Self::ALL.into_iter().filter(|i| i.supported()).collect()
    }

    /// Whether the AVX2+FMA loops may run (AVX-512 includes them).
    pub fn avx2(self) -> bool {
        matches!(self, Isa::Avx512 | Isa::Avx2) && has_avx2_fma()
    }

    /// Whether the AVX-512 loops may run.
    pub fn avx512(self) -> bool {
        self == Isa::Avx512 && self.supported()
    }

    /// The name `WGNN_CPU_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::Portable => "portable",
        }
    }

    /// The set named `s` (`avx512`, `avx2`, `neon`, `portable`), if this processor runs it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let names = || Self::ALL.map(Isa::name).join(", ");
        let isa = Self::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "no CPU instruction set is called `{s}` (one of {})",
                    names()
                )
            })?;
        match isa.supported() {
            true => Ok(isa),
            false => Err(format!(
                "this processor does not run {isa}; it runs {}",
                Self::available()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl Default for Isa {
    /// The widest set this processor runs.
    fn default() -> Self {
        Isa::detected()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2+FMA",
            Isa::Neon => "NEON",
            Isa::Portable => "portable",
        })
    }
}

/// Whether this processor has AVX2 and FMA (the standard library caches the answer).
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
