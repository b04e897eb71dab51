//! `wgnn check`: the kernels against the CPU reference on one adapter (`crate::check` holds the
//! cases), printed as a table as they run, or as one JSON object.

use super::device::Device;
use crate::check::{self, Options, Report, Row};
use crate::error::{Error, Result};
use crate::runtime::{AdapterSummary, GpuContext};

/// The flags of `wgnn check`.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// Smaller cases: the presets' layer shapes at batch 2, fewer odd shapes
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

fn sci(x: f32) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.1e}")
    }
}

fn print_row(r: &Row) {
    println!(
        "{:<50} {:<11} {:<44} {:>8} {:>8} {:>11} {:>4} {:>9.2}",
        r.kernel,
        r.family,
        r.shape,
        sci(r.max_abs_err),
        sci(r.max_rel_err),
        format!("{:.0e}, {:.0e}", r.atol, r.rtol),
        if r.pass { "ok" } else { "FAIL" },
        r.ms
    );
    if !r.pass {
        println!("    {}", r.note);
    }
}

/// The lines before the table: the adapter, the families and the tolerance rule, the columns.
fn print_header(ad: &AdapterSummary, families: &[&str], quick: bool) {
    let driver = if ad.driver.is_empty() {
        "not reported"
    } else {
        &ad.driver
    };
    println!(
        "wgnn check on {} ({}, {}), driver: {driver}",
        ad.name, ad.backend, ad.device_type
    );
    println!(
        "Kernel families: {}; {}; each value must have |gpu - ref| <= atol + rtol·|ref|",
        families.join(" and "),
        if quick {
            "quick (the presets' layer shapes at batch 2)"
        } else {
            "the presets' layer shapes at their own batch sizes"
        }
    );
    println!(
        "{:<50} {:<11} {:<44} {:>8} {:>8} {:>11} {:>4} {:>9}",
        "kernel", "family", "shape", "max abs", "max rel", "atol, rtol", "", "ms"
    );
}

/// The whole check as one JSON object.
fn print_json(ctx: &GpuContext, families: &[&str], quick: bool, report: &Report) -> Result<()> {
    let ad = &ctx.adapter;
    let v = serde_json::json!({
        "adapter": ad.name,
        "backend": ad.backend,
        "device_type": ad.device_type.to_string(),
        "driver": ad.driver,
        "kernel_families": families,
        "quick": quick,
        "passed": report.passed(),
        "rows": report.rows,
        "entry_points": report.entry_points,
        "entry_points_not_exercised": report.not_exercised,
        "kernel_constants": ctx.constants_in_use()?,
    });
    let text = serde_json::to_string_pretty(&v).map_err(|e| Error::msg(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// The lines after the table: how many passed, the entry points covered, the constants used.
fn print_summary(ctx: &GpuContext, report: &Report) -> Result<()> {
    let n = report.rows.len();
    let covered = report.entry_points - report.not_exercised.len();
    let missed = if report.not_exercised.is_empty() {
        String::new()
    } else {
        format!(" (not: {})", report.not_exercised.join(", "))
    };
    println!(
        "{} of {n} comparisons passed; {covered} of {} kernel entry points exercised{missed}",
        n - report.failures(),
        report.entry_points,
    );
    println!(
        "The kernels ran with the override constants {} (from {})",
        ctx.constants_in_use()?,
        ctx.constants_from
    );
    if !report.passed() {
        println!(
            "{} comparison{} failed on {}: the GPU gives results the CPU reference does not",
            report.failures(),
            if report.failures() == 1 { "" } else { "s" },
            ctx.adapter.name
        );
    }
    Ok(())
}

/// Ok(true) when every comparison passed.
pub fn run(a: &CheckArgs, device: &Device) -> Result<bool> {
    let mut ctx = device.open()?;
    let opts = Options::new(a.quick, device.options.family);
    let families: Vec<&str> = opts
        .families
        .iter()
        .map(|&v| check::family_name(v))
        .collect();
    if !a.json {
        print_header(&ctx.adapter, &families, a.quick);
    }
    let mut print = |r: &Row| {
        if !a.json {
            print_row(r)
        }
    };
    let report: Report = check::run(&mut ctx, &opts, &mut print)?;
    if a.json {
        print_json(&ctx, &families, a.quick, &report)?;
    } else {
        print_summary(&ctx, &report)?;
    }
    Ok(report.passed())
}
