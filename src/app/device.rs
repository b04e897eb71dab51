//! The GPU a command runs on, as the user chose it: `--adapter` and `--kernels` (global flags),
//! else `WGNN_ADAPTER`, `WGNN_KERNELS` and `WGNN_KERNEL_CONSTANTS`, then this adapter's entry of
//! the kernel tuning cache; and the CPU backend's instruction set, `WGNN_CPU_ISA` (this
//! processor's widest by default). The library takes the result as values ([`DeviceOptions`],
//! [`Isa`]); only this file reads the environment for it.

use std::path::PathBuf;

use super::choice::choice;
use crate::error::{Error, Result};
use crate::graph::Residency;
use crate::runtime::tuning_cache::{TuningCache, TuningKey, FILE_NAME};
use crate::runtime::{AdapterChoice, DeviceOptions, GpuContext, KernelConfig, KernelFamily};
use crate::util::simd::Isa;

/// The global device flags.
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct DeviceArgs {
    /// GPU adapter to use, by index, name fragment or backend (vulkan, gl, ...; see `wgnn
    /// devices`) [default: WGNN_ADAPTER, else the fastest]
    #[arg(long, global = true)]
    pub adapter: Option<String>,
    /// Kernel family for convolutions and GEMMs on a GPU: blocked (register-blocked), tiled
    /// (64x64 tiles in workgroup memory) or auto (the tuning cache's choice for the adapter, else
    /// blocked) [default: WGNN_KERNELS, else auto]
    #[arg(long, global = true, value_name = "FAMILY", value_parser = choice::<KernelFamily>())]
    pub kernels: Option<KernelFamily>,
    /// Stream the data to the GPU in chunks even when it fits there whole (a set larger than
    /// one GPU buffer, or than a quarter of a software adapter's memory, always streams)
    #[arg(long, global = true)]
    pub stream: bool,
}

/// Where a command's GPU work goes: the options the library opens the device with, and the
/// flags as typed, for commands a run prints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub options: DeviceOptions,
    pub flags: DeviceArgs,
    /// `WGNN_KERNEL_CONSTANTS` set the constants: the tuning cache's are not applied.
    constants_forced: bool,
    /// The widest instruction set the CPU backend's kernels use (`WGNN_CPU_ISA`).
    pub cpu_isa: Isa,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl DeviceArgs {
    /// The flags over the environment. A bad `WGNN_KERNELS` or `WGNN_KERNEL_CONSTANTS` is an
    /// error naming the variable.
    pub fn resolve(&self) -> Result<Device> {
        let adapter = match self.adapter.clone().or_else(|| env("WGNN_ADAPTER")) {
            Some(a) => AdapterChoice::parse(&a),
            None => AdapterChoice::Auto,
        };
        let (family, family_from) = match (self.kernels, env("WGNN_KERNELS")) {
            (Some(f), _) => (f, "--kernels"),
            (None, Some(v)) => match KernelFamily::parse(&v) {
                Some(f) => (f, "WGNN_KERNELS"),
                None => {
                    return Err(Error::Gpu(format!(
                        "WGNN_KERNELS `{}`: expected blocked, tiled or auto",
                        v.trim()
                    )))
                }
            },
            (None, None) => (KernelFamily::Auto, ""),
        };
        let constants = std::env::var("WGNN_KERNEL_CONSTANTS").ok();
        let config = match &constants {
            Some(v) => KernelConfig::parse(v)
                .map_err(|e| Error::Msg(format!("WGNN_KERNEL_CONSTANTS: {e}")))?,
            None => KernelConfig::default(),
        };
        let mut options = DeviceOptions::with_adapter(adapter);
        (options.family, options.family_from) = (family, family_from.to_string());
        options.config = config;
        if constants.is_some() {
            options.constants_from = "WGNN_KERNEL_CONSTANTS".into();
        }
        let cpu_isa = match env("WGNN_CPU_ISA") {
            Some(v) => Isa::parse(&v).map_err(|e| Error::msg(format!("WGNN_CPU_ISA: {e}")))?,
            None => Isa::detected(),
        };
        Ok(Device {
            options,
            flags: self.clone(),
            constants_forced: constants.is_some(),
            cpu_isa,
        })
    }
}

impl Device {
    /// The device of `WGNN_ADAPTER`, `WGNN_KERNELS` and `WGNN_KERNEL_CONSTANTS`, as a command
    /// without device flags sees it (tests and benchmarks open their adapter this way).
    pub fn from_env() -> Result<Self> {
        DeviceArgs::default().resolve()
    }

    /// The global flags as shell words (" --adapter 1 --kernels tiled"), for printed commands.
    /// The same family continues a run exactly: another one sums in another order.
    pub fn flag_words(&self) -> String {
        let mut words = String::new();
        if let Some(a) = &self.flags.adapter {
            words += &format!(" --adapter {}", super::shell_word(a));
        }
        if let Some(f) = self.flags.kernels {
            words += &format!(" --kernels {f}");
        }
        if self.flags.stream {
            words += " --stream";
        }
        words
    }

    /// How the GPU graphs hold data sets.
    pub fn residency(&self) -> Residency {
        match self.flags.stream {
            true => Residency::Stream,
            false => Residency::Auto,
        }
    }

    /// The context, with this adapter's entry of the kernel tuning cache applied.
    pub fn open(&self) -> Result<GpuContext> {
        let mut ctx = GpuContext::open(&self.options)?;
        self.apply_cache(&mut ctx);
        Ok(ctx)
    }

    /// The context without the tuning cache (what tuning measures against).
    pub fn open_untuned(&self) -> Result<GpuContext> {
        GpuContext::open(&self.options)
    }

    /// Loads this adapter's entry of the tuning cache into `ctx`: the constants unless
    /// `WGNN_KERNEL_CONSTANTS` set them, the family unless the user forced one. A bad cache is a
    /// warning, never an error.
    pub fn apply_cache(&self, ctx: &mut GpuContext) {
        let Some(path) = cache_path() else { return };
        let cache = match TuningCache::read(&path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("wgnn: warning: ignoring the kernel tuning cache: {e}; using the default kernel constants");
                return;
            }
        };
        let key = TuningKey::of(&ctx.adapter);
        let Some(entry) = cache.find(&key) else {
            if let Some(old) = cache.stale(&key) {
                eprintln!(
                    "wgnn: the kernel tuning cache entry for {} (tuned {}) was made with other shaders; using the defaults until `wgnn bench --tune-kernels` runs again",
                    ctx.adapter.name, old.tuned_at
                );
            }
            return;
        };
        let from = format!(
            "the tuning cache, tuned {} on {} at batch {}",
            entry.tuned_at, entry.model, entry.batch_size
        );
        if !self.constants_forced {
            match entry.config() {
                Ok(c) => {
                    ctx.config = c;
                    ctx.constants_from = from.clone();
                    eprintln!("wgnn: kernel constants from {from} ({})", path.display());
                }
                Err(e) => eprintln!(
                    "wgnn: warning: ignoring the kernel tuning cache {}: {e}; using the default kernel constants",
                    path.display()
                ),
            }
        }
        if ctx.family == KernelFamily::Auto {
            if let Some(f) = entry.family() {
                ctx.family = f;
                ctx.family_tuned = true;
            }
        }
    }
}

/// The tuning cache's path ($WGNN_CACHE_DIR, else $XDG_CACHE_HOME/wgnn, else ~/.cache/wgnn), or
/// None where there is no home folder to put it in.
pub fn cache_path() -> Option<PathBuf> {
    Some(cache_dir()?.join(FILE_NAME))
}

/// wgnn's cache folder: $WGNN_CACHE_DIR, else $XDG_CACHE_HOME/wgnn, else ~/.cache/wgnn.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| env(name).map(PathBuf::from);
    var("WGNN_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("wgnn")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("wgnn")))
}
