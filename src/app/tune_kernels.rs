//! `wgnn bench --tune-kernels`: times the conv/GEMM kernel family on whole steps, then each
//! kernel's variants (the WGSL override constants: workgroup sizes, and the tile side and
//! reduction step of the tiled GEMM core, tuned as pairs) at the model's real shapes on the
//! adapter, one table at a time from the defaults, and stores the fastest in the tuning cache
//! (`runtime::tuning_cache`), which every later command on that adapter compiles its kernels with.
//!
//! A variant is validated before it is timed: one SGD step at learning rate 1 (so the parameters
//! move by the whole gradient), then one step of the model's optimizer, must give the parameters
//! and statistics the shaders' defaults give, within the kernel tolerance of `wgnn check`; else it
//! is rejected and said so.

use std::collections::BTreeMap;
use std::time::Instant;

use super::backend::gpu_training_graph;
use super::bench::BenchArgs;
use super::device::{cache_path, Device};
use crate::check::{compare, ATOL, RTOL};
use crate::error::{Error, Result};
use crate::graph::{Backend, HostData, Plan};
use crate::ops::optim::Optimizer;
use crate::runtime::tuning_cache::{now_utc, TuningCache, TuningEntry, TuningKey};
use crate::runtime::{tile_threads, GpuContext, KernelConfig, KernelFamily};

/// Workgroup sizes tried for every 1-D workgroup constant (WG, WG_BLOCK, WG_ROW).
const WORKGROUPS: &[u32] = &[32, 64, 128, 256];
/// Output tile sides of the tiled GEMM core (a TILE x TILE tile takes (TILE / 4)^2 threads).
const TILES: &[u32] = &[32, 64, 128];
/// Reduction steps of the tiled GEMM core.
const STEPS: &[u32] = &[8, 16, 32];

/// The values tried for `constant`, leaving out workgroups over the adapter's `limit` of
/// invocations (the kernel cache would lower them to the default, timing it twice).
/// `tests/shaders_portable.rs` translates every kernel with each of them.
pub fn candidates(constant: &str, limit: u32) -> Vec<u32> {
    match constant {
        "TILE" => TILES
            .iter()
            .copied()
            .filter(|&t| tile_threads(t) <= limit)
            .collect(),
        "BK" => STEPS.to_vec(),
        _ => WORKGROUPS.iter().copied().filter(|&v| v <= limit).collect(),
    }
}
/// Timed repeats of each measurement; the median is kept (lavapipe shares the CPU with
/// everything else, so single timings are noisy).
const REPEATS: usize = 5;
/// A variant replaces the default only when its median is this much faster (noise guard).
const MIN_GAIN: f64 = 0.03;

/// What a variant must reproduce (or, for the defaults, the reference itself).
struct Trial {
    /// Parameters then statistics after one SGD step at lr 1.
    values: Vec<f32>,
}

/// Everything the search needs to build graphs at the model's shapes.
struct Setup<'a> {
    a: &'a BenchArgs,
    batch: usize,
    host: HostData,
}

impl Setup<'_> {
    fn plan(&self) -> Result<Plan> {
        Plan::new(self.a.model.input, &self.a.model.layers, self.batch)
    }

    fn order(&self) -> Vec<u32> {
        (0..self.batch.min(self.host.len()) as u32).collect()
    }

    /// The values every variant must reproduce: the parameters and statistics after one SGD step
    /// at lr 1 from the seed-0 parameters (the gradient kernels, magnified), then after one step
    /// of the model's own optimizer at its own learning rate (its update kernel: Adam's or
    /// RMSprop's slots are not SGD's).
    fn validate(&self, ctx: &GpuContext) -> Result<Trial> {
        let d = &self.a.model.defaults;
        let mut values = Vec::new();
        for (opt, lr) in [(Optimizer::sgd(), 1.0), (d.optimizer.optimizer(), d.lr)] {
            let mut g = gpu_training_graph(ctx, self.plan()?, (opt, None), 0)?;
            g.load(0, self.host.clone())?;
            g.train_at(0, &self.order(), lr)?;
            let (params, stats) = g.params()?;
            values.extend(params.into_iter().chain(stats).flatten());
        }
        Ok(Trial { values })
    }

    /// The model's own training graph, warmed up: ready to time.
    fn timed_graph<'c>(&self, ctx: &'c GpuContext) -> Result<crate::graph::GpuGraph<'c>> {
        let opt = self.a.model.defaults.optimizer.optimizer();
        let mut g = gpu_training_graph(ctx, self.plan()?, (opt, None), 0)?;
        g.load(0, self.host.clone())?;
        // First launches compile pipelines in some drivers and touch memory first.
        g.profile_step(0)?;
        Ok(g)
    }

    /// Median seconds of one whole training step.
    fn step_time(&self, ctx: &GpuContext) -> Result<f64> {
        let mut g = self.timed_graph(ctx)?;
        let order = self.order();
        let lr = self.a.model.defaults.lr;
        g.train_at(0, &order, lr)?;
        let times = (0..REPEATS)
            .map(|_| {
                let t0 = Instant::now();
                g.train_at(0, &order, lr)
                    .map(|_| t0.elapsed().as_secs_f64())
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(median(times))
    }

    /// Median seconds of each kernel (`shader::entry`, all its launches in a step summed), over
    /// `REPEATS` profiled steps.
    fn kernel_times(&self, ctx: &GpuContext) -> Result<BTreeMap<String, f64>> {
        let mut g = self.timed_graph(ctx)?;
        let mut each: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for _ in 0..REPEATS {
            let mut step: BTreeMap<String, f64> = BTreeMap::new();
            for (name, t) in g.profile_step(0)? {
                *step.entry(name).or_default() += t;
            }
            for (name, t) in step {
                each.entry(name).or_default().push(t);
            }
        }
        Ok(each.into_iter().map(|(n, ts)| (n, median(ts))).collect())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// None when `got` agrees with `want` within the kernel tolerance, else why not.
fn disagreement(got: &Trial, want: &Trial) -> Option<String> {
    let row = compare("", "", "", &got.values, &want.values, ATOL, RTOL, 0.0);
    (!row.pass).then(|| {
        format!(
            "after one step {} (max |error| {:.1e}, tolerance {ATOL:.0e} + {RTOL:.0e}·|value|)",
            row.note, row.max_abs_err
        )
    })
}

/// A variant's outcome, as the table prints it.
enum Outcome {
    Time(f64),
    Rejected(String),
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Self::Time(t) => format!("{:.3} ms", t * 1e3),
            Self::Rejected(_) => "rejected".into(),
        }
    }

    fn time(&self) -> Option<f64> {
        match self {
            Self::Time(t) => Some(*t),
            Self::Rejected(_) => None,
        }
    }
}

/// The fastest accepted candidate, keeping `default` unless another is `MIN_GAIN` faster.
fn pick<'v>(default: &'v [u32], outcomes: &'v [(Vec<u32>, Outcome)]) -> Option<&'v [u32]> {
    let base = outcomes
        .iter()
        .find(|(v, _)| v == default)
        .and_then(|(_, o)| o.time());
    let best = outcomes
        .iter()
        .filter_map(|(v, o)| Some((v, o.time()?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(match base {
        Some(b) if best.1 > b * (1.0 - MIN_GAIN) => default,
        _ => best.0,
    })
}

/// Times the two kernel families on whole steps; returns the chosen one (None when the user
/// forced one) and the reference values under it.
fn tune_family(s: &Setup, ctx: &mut GpuContext) -> Result<(Option<KernelFamily>, Trial)> {
    if ctx.family != KernelFamily::Auto {
        println!(
            "Kernel family: {} (forced by {}; not tuned)",
            ctx.family, ctx.family_from
        );
        return Ok((None, s.validate(ctx)?));
    }
    let mut results: Vec<(KernelFamily, Trial, Outcome)> = Vec::new();
    for f in [KernelFamily::Tiled, KernelFamily::Blocked] {
        ctx.family = f;
        let trial = s.validate(ctx)?;
        let outcome = match results
            .first()
            .and_then(|(_, want, _)| disagreement(&trial, want))
        {
            Some(why) => Outcome::Rejected(why),
            None => Outcome::Time(s.step_time(ctx)?),
        };
        results.push((f, trial, outcome));
    }
    let best = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.2.time()?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let cells: Vec<String> = results
        .iter()
        .map(|(f, _, o)| format!("{f} {}", o.cell()))
        .collect();
    let (family, trial, _) = results.swap_remove(best);
    println!(
        "Kernel family (whole training step, median of {REPEATS}): {}; chosen: {family}",
        cells.join(", ")
    );
    for (f, _, o) in &results {
        if let Outcome::Rejected(why) = o {
            println!("  {f} rejected: {why}");
        }
    }
    ctx.family = family;
    Ok((Some(family), trial))
}

/// What one table of the search tunes: one constant, or the tiled core's TILE and BK together
/// (they trade against each other: a smaller tile stages more of each step per thread), with the
/// kernels that declare them and each kernel's defaults.
struct Axis {
    names: Vec<String>,
    kernels: Vec<(String, Vec<u32>)>,
}

impl Axis {
    /// `TILE x BK`, or the constant's name.
    fn title(&self) -> String {
        self.names.join(" x ")
    }

    /// Every combination of the names' candidates.
    fn candidates(&self, limit: u32) -> Vec<Vec<u32>> {
        self.names.iter().fold(vec![vec![]], |combos, name| {
            combos
                .iter()
                .flat_map(|c| {
                    candidates(name, limit).into_iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v);
                        c
                    })
                })
                .collect()
        })
    }
}

/// `64x16`, or `256`.
fn label(values: &[u32]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The axes of the search over the kernels the step ran (`used`): each constant they declare,
/// with TILE and BK joined into one.
fn axes(ctx: &GpuContext, used: &BTreeMap<String, f64>) -> Result<Vec<Axis>> {
    let mut by_constant: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for (kernel, constants) in ctx.compiled_kernels()? {
        if !used.contains_key(&kernel) {
            continue;
        }
        for (name, v) in constants.iter() {
            by_constant
                .entry(name.to_string())
                .or_default()
                .push((kernel.clone(), v as u32));
        }
    }
    let mut axes = Vec::new();
    if let (Some(tiles), Some(steps)) = (by_constant.remove("TILE"), by_constant.remove("BK")) {
        let kernels = tiles
            .into_iter()
            .filter_map(|(k, t)| {
                let bk = steps.iter().find(|(s, _)| *s == k)?.1;
                Some((k, vec![t, bk]))
            })
            .collect();
        axes.push(Axis {
            names: vec!["TILE".into(), "BK".into()],
            kernels,
        });
    }
    for (name, kernels) in by_constant {
        axes.push(Axis {
            names: vec![name],
            kernels: kernels.into_iter().map(|(k, v)| (k, vec![v])).collect(),
        });
    }
    Ok(axes)
}

fn split(kernel: &str) -> (&str, &str) {
    kernel.split_once("::").unwrap_or((kernel, ""))
}

/// Times every candidate of every axis; returns the chosen `shader::entry:NAME=value`s.
fn tune_constants(s: &Setup, ctx: &mut GpuContext, reference: &Trial) -> Result<Vec<String>> {
    ctx.config = KernelConfig::default();
    let base = s.kernel_times(ctx)?;
    let limit = ctx
        .limits
        .max_compute_invocations_per_workgroup
        .min(ctx.limits.max_compute_workgroup_size_x);
    let mut chosen = Vec::new();
    for axis in axes(ctx, &base)? {
        let candidates = axis.candidates(limit);
        let kernels = &axis.kernels;
        println!(
            "\n{} ({} kernels; median of {REPEATS} profiled steps each):",
            axis.title(),
            kernels.len()
        );
        let mut table: Vec<Vec<(Vec<u32>, Outcome)>> = kernels.iter().map(|_| Vec::new()).collect();
        for values in &candidates {
            let mut config = KernelConfig::default();
            for (k, _) in kernels {
                let (shader, entry) = split(k);
                for (name, v) in axis.names.iter().zip(values) {
                    config.set_for(shader, entry, name, f64::from(*v));
                }
            }
            ctx.config = config;
            let outcome = match s.validate(ctx).map(|t| disagreement(&t, reference)) {
                Err(e) => Err(format!("it does not run: {e}")),
                Ok(Some(why)) => Err(why),
                Ok(None) => Ok(s.kernel_times(ctx)?),
            };
            if let Err(why) = &outcome {
                println!("  {} = {} rejected: {why}", axis.title(), label(values));
            }
            for (row, (k, _)) in table.iter_mut().zip(kernels) {
                row.push((
                    values.clone(),
                    match &outcome {
                        Ok(times) => Outcome::Time(times.get(k).copied().unwrap_or(f64::NAN)),
                        Err(why) => Outcome::Rejected(why.clone()),
                    },
                ));
            }
        }
        let width = kernels
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let head: String = candidates
            .iter()
            .map(|v| format!("{:>11}", label(v)))
            .collect();
        println!("  {:<width$}{head}  chosen", "kernel");
        for ((k, default), row) in kernels.iter().zip(&table) {
            let cells: String = row
                .iter()
                .map(|(_, o)| format!("{:>11}", o.cell()))
                .collect();
            let pick = pick(default, row).unwrap_or(default);
            let note = if pick == default.as_slice() {
                " (default)"
            } else {
                ""
            };
            println!("  {k:<width$}{cells}  {}{note}", label(pick));
            for (name, v) in axis.names.iter().zip(pick) {
                chosen.push(format!("{k}:{name}={v}"));
            }
        }
    }
    ctx.config = KernelConfig::default();
    Ok(chosen)
}

/// `wgnn bench --tune-kernels`.
pub fn run(a: &BenchArgs, device: &Device) -> Result<()> {
    let batch = a.batch_size.unwrap_or(a.model.defaults.batch_size);
    if batch == 0 {
        return Err(Error::msg("--batch-size must be at least 1"));
    }
    if a.backend == super::BackendKind::Cpu {
        return Err(Error::msg(
            "--tune-kernels tunes the GPU kernels, so it cannot run with --backend cpu",
        ));
    }
    let path = cache_path().ok_or_else(|| {
        Error::msg(
            "no folder for the kernel tuning cache: set WGNN_CACHE_DIR, XDG_CACHE_HOME or HOME",
        )
    })?;
    let data = a.data.load()?.splits;
    let s = Setup {
        a,
        batch,
        host: data.train.host(batch),
    };
    let mut ctx = device.open_untuned()?;
    if ctx.config != KernelConfig::default() {
        println!("WGNN_KERNEL_CONSTANTS is ignored while tuning: every variant is measured against the shaders' defaults.");
    }
    ctx.config = KernelConfig::default();
    let timer = if ctx.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        "GPU timestamps per kernel"
    } else {
        "the wall clock around each kernel (this adapter has no timestamp queries)"
    };
    println!(
        "Tuning the kernels of {} at batch {batch} on {}, timed by {timer}; each variant is first checked against the defaults after one training step.",
        a.model.name, ctx.adapter
    );
    let (family, reference) = tune_family(&s, &mut ctx)?;
    let constants = tune_constants(&s, &mut ctx, &reference)?;
    let mut cache = TuningCache::read(&path).unwrap_or_else(|e| {
        eprintln!("wgnn: warning: {e}; writing a new kernel tuning cache over it");
        TuningCache::default()
    });
    cache.put(TuningEntry {
        key: TuningKey::of(&ctx.adapter),
        wgnn_version: env!("CARGO_PKG_VERSION").into(),
        tuned_at: now_utc(),
        model: a.model.name.clone(),
        batch_size: batch,
        family: family.map(|f| f.to_string()),
        constants,
    });
    cache.write(&path)?;
    println!(
        "\nWrote the tuning for {} to {}; later commands on this adapter use it unless WGNN_KERNEL_CONSTANTS or --kernels says otherwise.",
        ctx.adapter.name,
        path.display()
    );
    Ok(())
}
